"""Calendar files: the shipped examples, TOML and YAML alike, and errors that name the file, the field and the fix."""

from __future__ import annotations

import pytest

from schemas.events import PointsRole
from services.calendar.files import CalendarFileError, decode_calendar
from services.calendar.fold import CalendarFold
from services.standings.config import CONFIGS, load_config
from tests.calendar.seasons import GT_ENDURANCE, SPRINT, as_file, at, published, race_round

LAUSITZ = (
    'name = "Sprint"\n'
    + race_round(
        "lausitzring",
        "Lausitzring",
        "Lausitzring",
        "Europe/Berlin",
        "Race 1",
        "START",
        "2025-05-24T16:00:00",
        session="race-1",
        points=None,
    )
).encode()


def test_the_shipped_sprint_weekend() -> None:
    season = decode_calendar(SPRINT.read_bytes(), str(SPRINT), "sprint-2025").season
    lausitz = season.rounds[1]
    assert [(s.name, s.start) for s in lausitz.sessions] == [
        ("Free Practice 1", at("2025-05-23T13:30:00+02:00")),
        ("Free Practice 2", at("2025-05-23T17:00:00+02:00")),
        ("Qualifying 1", at("2025-05-24T09:35:00+02:00")),
        ("Race 1", at("2025-05-24T15:00:00+02:00")),
        ("Qualifying 2", at("2025-05-25T09:55:00+02:00")),
        ("Race 2", at("2025-05-25T15:10:00+02:00")),
    ]
    assert season.source == "sprint-2025.toml"


def test_the_shipped_gt_endurance_season_is_the_points_configurations() -> None:
    """Its rounds are the rounds the points configuration scores, in order; the Monza race is the simulator's."""
    season = decode_calendar(GT_ENDURANCE.read_bytes(), str(GT_ENDURANCE), "gtes-2026").season
    config = load_config(CONFIGS / "gt-endurance.toml")
    assert [r.event for r in season.rounds] == [r.event for r in config.rounds]
    assert all(r.name == c.name for r, c in zip(season.rounds, config.rounds, strict=True))
    monza_race = season.rounds[0].sessions[-1]
    assert (monza_race.session, monza_race.start) == ("race", at("2026-04-19T15:00:00+02:00"))
    assert monza_race.points is PointsRole.POINTS
    spa = season.rounds[3]
    assert spa.sessions[-1].end - spa.sessions[-1].start == 24 * 3_600_000


def test_yaml_says_the_same_as_toml() -> None:
    season = decode_calendar(SPRINT.read_bytes(), "sprint-2025.toml").season
    again = decode_calendar(as_file(season), "sprint-2025.yaml").season
    assert again.rounds == season.rounds and again.name == season.name


@pytest.mark.parametrize(
    ("start", "problem"),
    [
        (b"2025-05-24T15:00:00+00:00", "$.rounds[0].sessions[0].start: 2025-05-24T15:00:00+00:00 is 17:00 in"),
        (b"2025-05-24T17:00:00", "lausitzring.race-1: it ends before it starts"),
        (b'"tomorrow"', "$.rounds[0].sessions[0].start: Expected `datetime`, got `str` (write it unquoted"),
        (b"2025-03-30T02:30:00", "$.rounds[0].sessions[0].start: 2025-03-30T02:30 does not exist in Europe/Berlin"),
    ],
)
def test_errors_name_the_file_the_field_and_what_is_wrong(start: bytes, problem: str) -> None:
    with pytest.raises(CalendarFileError) as caught:
        decode_calendar(LAUSITZ.replace(b"START", start), "weekend.toml")
    assert str(caught.value).startswith(f"weekend.toml: {problem}")


def test_a_file_of_another_championship_is_refused() -> None:
    with pytest.raises(CalendarFileError, match=r"\$.championship: the file is the calendar of sprint-2025, not of"):
        decode_calendar(SPRINT.read_bytes(), SPRINT.name, "gtes-2026")


@pytest.mark.parametrize(
    ("data", "name", "problem"),
    [
        (b"\xff\xfe not text", "x.toml", "$: not valid TOML"),
        (b"rounds: [", "x.yaml", "$: not valid YAML"),
        (b"name = 'x'\nrounds = []\nsurprise = 1", "x.toml", "$: Object contains unknown field `surprise`"),
        (b"{}", "x.json", "$: give a .toml, .yaml, .yml, .ics file"),
    ],
)
def test_what_is_no_calendar_file(data: bytes, name: str, problem: str) -> None:
    with pytest.raises(CalendarFileError, match=problem.replace("$", r"\$").replace(".", r"\.")):
        decode_calendar(data, name)


def test_a_round_of_sessions_alone_gets_its_days_from_them() -> None:
    """A 24-hour race from Saturday to Sunday makes a round of two days; one ending at midnight ends the day before."""
    data = LAUSITZ.replace(b"START", b"2025-05-24T15:00:00").replace(b"2025-05-24T16:00:00", b"2025-05-26T00:00:00")
    fold = CalendarFold()
    fold.apply(published("c", decode_calendar(data, "x.toml").season))
    [round_] = fold.read_model("c").rounds
    assert (str(round_.first_day), str(round_.last_day)) == ("2025-05-24", "2025-05-25")
