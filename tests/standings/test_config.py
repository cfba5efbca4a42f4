"""Championship configs: the shipped examples decode, and every error names the file, the field and the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas.events import SessionKind
from schemas.standings import SharedDrive, TableKind, TeamStandings
from services.standings.config import CONFIGS, ConfigError, decode_config, load_config, load_rulebook
from tests.standings.season import BASE_CONFIG, ROUNDS


def test_gt_endurance_config() -> None:
    config = load_config(CONFIGS / "gt-endurance.toml")
    assert [c.name for c in config.classes] == ["Pro", "Pro-Am", "Am"]
    assert {c.name: c.label for c in config.classes}["Am"] == "Gentlemen"
    assert config.scales["three-hours"] == [25, 18, 15, 12, 10, 8, 6, 4, 2, 1]
    assert config.scales["intermediate"] == [12, 9, 7, 6, 5, 4, 3, 2, 1]
    assert config.scales["thousand-km"] == [33, 24, 19, 15, 12, 9, 6, 4, 2, 1]
    assert config.bonus.pole == 1 and config.shared_drive is SharedDrive.FULL
    book = load_rulebook(CONFIGS / "gt-endurance.toml")
    assert list(book.rounds) == ["monza", "silverstone", "paul-ricard", "spa-24h", "nurburgring"]
    spa = book.round("spa-24h").rule_for("race", SessionKind.RACE)
    assert spa is not None and [(i.at_ms, i.label, i.scale.name) for i in spa.intermediates] == [
        (21_600_000, "6 h", "intermediate"),
        (43_200_000, "12 h", "intermediate"),
    ]
    assert spa.scale.name == "three-hours"
    finale = book.round("nurburgring").rule_for("race", SessionKind.RACE)
    assert finale is not None and finale.scale.name == "thousand-km"
    monza = book.round("monza").rule_for("race", SessionKind.RACE)
    assert monza is not None and monza.scale.name == "three-hours"
    assert book.label((TableKind.DRIVERS, "Am")) == "Drivers — Gentlemen"


def test_wec_config() -> None:
    config = load_config(CONFIGS / "wec.toml")
    assert config.scales["six-hours"] == [25, 18, 15, 12, 10, 8, 6, 4, 2, 1]
    assert config.scales["eight-hours"] == [38, 27, 23, 18, 15, 12, 9, 6, 3, 2]
    assert config.scales["le-mans"] == [50, 36, 30, 24, 20, 16, 12, 8, 4, 2]
    assert config.bonus.pole == 1 and config.eligibility.min_drive_ms == 3_600_000
    assert config.standings.teams is TeamStandings.ENTRY and config.standings.manufacturer_cars == 2
    book = load_rulebook(CONFIGS / "wec.toml")
    le_mans = book.round("le-mans")
    rule = le_mans.rule_for("race", SessionKind.RACE)
    assert rule is not None and rule.scale.name == "le-mans" and le_mans.min_drive_ms == 14_400_000
    assert book.round("imola").min_drive_ms == 3_600_000


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        decode_config(text, "series.toml")
    assert str(caught.value).startswith("series.toml: ")
    return caught.value.problems


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nowhere\.toml: \$: cannot read the file"):
        load_config(tmp_path / "nowhere.toml")


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("championship = \n")
    with pytest.raises(ConfigError, match=r"broken\.toml: \$: not valid TOML"):
        load_config(path)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ('[[rounds]]\nevent = "x"\nmultiplier = "double"\n', "$.rounds[6].multiplier: Expected `float`, got `str`"),
        ("colour = 1\n", "$: Object contains unknown field `colour`"),
        ('[[rounds]]\nevent = "bad slug"\n', "$.rounds[6].event: Expected `str` matching regex"),
        ("[bonus]\npole = -1\n", "$.bonus.pole: Expected `float` >= 0.0"),
    ],
)
def test_type_errors_name_the_field(extra: str, expected: str) -> None:
    text = BASE_CONFIG + ROUNDS + extra if extra.startswith("[[rounds]]") else _insert(extra)
    assert problems(text) == [problems(text)[0]] and problems(text)[0].startswith(expected)


def test_an_empty_scale_is_named() -> None:
    text = BASE_CONFIG.replace("half = [5, 3, 2, 1]", "half = []") + ROUNDS
    assert problems(text) == ["$.scales.half: empty: a scale needs the points of position 1 at least"]
    negative = BASE_CONFIG.replace("half = [5, 3, 2, 1]", "half = [5, -3]") + ROUNDS
    assert problems(negative) == ["$.scales.half[1]: -3.0 is negative"]


def _insert(toml: str) -> str:
    """Top-level keys go before the first table, tables after the base config's."""
    return BASE_CONFIG + toml + ROUNDS if toml.startswith("[") else toml + BASE_CONFIG + ROUNDS


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("[drops]\nbest = 7\n", "$.drops.best: 7 is more than the 6 rounds"),
        (
            "[[drops.parts]]\nrounds = 3\nbest = 2\n[[drops.parts]]\nrounds = 2\nbest = 2\n",
            "$.drops.parts: the parts hold 5 rounds, the championship has 6",
        ),
        (
            "[[drops.parts]]\nrounds = 3\nbest = 4\n[[drops.parts]]\nrounds = 3\nbest = 2\n",
            "$.drops.parts[0].best: 4 is more than the part's 3 rounds",
        ),
        ('[[points]]\nkind = "race"\nscale = "nope"\n', "$.points[1].scale: no scale named 'nope'"),
        ('[[points]]\nkind = "race"\nscale = "half"\n', "$.points[1]: never applies: $.points[0] already scores"),
        (
            '[[points]]\nkind = "qualifying"\nscale = "main"\nclass_scales = { LMP1 = "main" }\n',
            "$.points[1].class_scales.LMP1: not a class of the championship",
        ),
        ("[bonus]\npole = 0.125\n", "$.bonus.pole: 0.125 has more than two decimals"),
        ("[bonus]\nbeyond_points = 1\n", "$.bonus.beyond_position: needed with beyond_points"),
        ('ties = ["countback", "countback"]\n', "$.ties[1]: 'countback' is listed twice"),
        ('[standings]\ndrivers = false\nteams = "none"\n', "$.standings: no table kept"),
        (
            '[[adjustments]]\ndecision = "D1"\nkind = "exclusion"\ntable = "drivers"\ncompetitor = "X"\n',
            "$.adjustments[0].round: an exclusion needs the round",
        ),
    ],
)
def test_semantic_errors_name_the_field(extra: str, expected: str) -> None:
    found = problems(_insert(extra))
    assert any(p.startswith(expected) for p in found), found


def test_intermediate_points_must_fall_inside_the_race() -> None:
    rounds = ROUNDS + (
        '[[rounds]]\nevent = "long"\n[[rounds.points]]\nkind = "race"\nscale = "main"\nlength_ms = 86_400_000\n'
        'intermediate = [{ at_ms = 21_600_000, scale = "half" }, { at_ms = 90_000_000, scale = "half" }]\n'
    )
    found = problems(BASE_CONFIG + rounds)
    assert found == [
        "$.rounds[6].points[0].intermediate[1].at_ms: 90000000 ms is not inside the race length 86400000 ms "
        "(points at the finish are the rule's scale)"
    ]
    no_length = rounds.replace("length_ms = 86_400_000\n", "").replace("90_000_000", "43_200_000")
    assert problems(BASE_CONFIG + no_length) == [
        "$.rounds[6].points[0].length_ms: needed to check the intermediate points against the race length"
    ]


def test_every_semantic_problem_is_reported_at_once() -> None:
    found = problems(_insert("[drops]\nbest = 9\n[bonus]\npole = 0.001\n"))
    assert len(found) == 2


def test_durations_are_written_as_people_say_them() -> None:
    text = BASE_CONFIG.replace('scale = "main"\n', 'scale = "main"\nlength_ms = "24h"\n') + (
        '[eligibility]\nmin_drive_ms = "1h30min"\n[[rounds]]\nevent = "r1"\nmin_drive_ms = "90min"\n'
        '[[rounds.points]]\nkind = "race"\nscale = "main"\nlength_ms = "6h"\n'
        'intermediate = [{ at_ms = "3h", scale = "half" }]\n'
    )
    config = decode_config(text)
    assert config.eligibility.min_drive_ms == config.rounds[0].min_drive_ms == 5_400_000
    assert config.points[0].length_ms == 86_400_000
    assert config.rounds[0].points is not None and config.rounds[0].points[0].intermediate[0].at_ms == 10_800_000
    assert problems(BASE_CONFIG + ROUNDS + '[eligibility]\nmin_drive_ms = "an hour"\n') == [
        "$.eligibility.min_drive_ms: 'an hour' is not a duration: write 6h, 90min, 1h30min, 45s or milliseconds"
    ]


def test_a_key_in_the_wrong_table_says_where_it_belongs() -> None:
    [problem] = problems(BASE_CONFIG + ROUNDS + "[bonus]\nbest = 3\n")
    assert problem == "$.bonus.best: not a key of [bonus]; it belongs in [[drops.parts]] or [drops]"
    [problem] = problems(BASE_CONFIG + ROUNDS + "[drops]\npole = 1\n")
    assert problem == "$.drops.pole: not a key of [drops]; it belongs in [bonus] or [rounds.bonus]"
    [problem] = problems(BASE_CONFIG + ROUNDS + "nonsense = 1\n")
    assert problem.startswith("$.rounds[5].nonsense: not a key of [[rounds]]")  # TOML puts it in the last table


def test_a_wrong_choice_lists_what_is_allowed() -> None:
    [problem] = problems('shared_drive = "halves"\n' + BASE_CONFIG + ROUNDS)
    assert problem == "$.shared_drive: Invalid enum value 'halves' (allowed: full, split, none)"
    [problem] = problems(BASE_CONFIG.replace('kind = "race"', 'kind = "sprint"') + ROUNDS)
    assert problem == "$.points[0].kind: Invalid enum value 'sprint' (allowed: practice, qualifying, race)"


def test_a_championship_exclusion_is_one_entry_and_is_checked() -> None:
    exclusion = '[[exclusions]]\ndecision = "D1"\ncompetitor = "Driver 1"\nclass_name = "GT9"\n'
    assert problems(BASE_CONFIG + ROUNDS + exclusion) == [
        "$.exclusions[0].class_name: 'GT9' is not a class of the championship"
    ]
    shortened = "[[shortened]]\nbelow_pct = 50\n"
    assert problems(BASE_CONFIG + ROUNDS + shortened) == [
        "$.shortened[0]: set factor (0.5 for half points) or scale (the band's own scale)"
    ]
