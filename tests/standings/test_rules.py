"""Every points rule on hand-made sessions: each test fails if its rule is taken out."""

from __future__ import annotations

import msgspec
import pytest

from schemas.events import LineCrossing, SessionKind, SessionRef
from schemas.results import Classification
from schemas.standings import (
    AdjustmentKind,
    AwardKind,
    PointsAdjustment,
    RoundState,
    ScoreState,
    TableKind,
)
from services.standings import fold as fold_module
from services.standings.config import decode_config
from services.standings.fold import ChampionshipFold, Pairs, classifications_at
from services.standings.live import Season
from services.standings.rounds import score_round
from services.standings.rulebook import Rulebook
from services.standings.tables import standings
from tests.standings.season import (
    BASE_CONFIG,
    CHAMPIONSHIP,
    LAP,
    ROUNDS,
    Car,
    Session,
    book,
    cars,
    classification,
    crews,
    order,
    points,
    row,
    run,
    table,
)

PRO_AND_AM = [*cars("1", "2"), *cars("7", "8", class_name="Am")]


def rounds(text: str) -> str:
    """Rounds r1.. with the given TOML after each ``[[rounds]]`` header (split on ``---``)."""
    return "\n".join(f'[[rounds]]\nevent = "r{i}"\n{body}\n' for i, body in enumerate(text.split("---"), start=1))


# -- scales ------------------------------------------------------------------------


def test_scale_applies_to_class_positions() -> None:
    b = book()
    race = classification(Session("r1", PRO_AND_AM, ["7", "1", "8", "2"]).events())
    result = standings(b, [score_round(b, "r1", {"race": race}, crews(PRO_AND_AM))])
    assert points(result) == {"Driver 1": 10, "Driver 2": 6}  # overall P2 and P4, class P1 and P2
    assert points(result, class_name="Am") == {"Driver 7": 10, "Driver 8": 6}
    assert table(result, class_name="Am").label == "Drivers — Gentlemen"
    [score] = row(result, "Driver 1").rounds
    [ref] = score.results
    assert (ref.session, ref.position, ref.class_position, ref.status.value) == ("race", 2, 1, "classified")


def test_scale_per_session_kind() -> None:
    b = book('[[points]]\nkind = "qualifying"\nscale = "half"\n')
    qualifying = Session("r1", cars("1", "2"), ["2", "1"], name="qualifying", kind=SessionKind.QUALIFYING)
    result = run(b, qualifying, Session("r1", cars("1", "2"), ["1", "2"]))
    assert points(result) == {"Driver 1": 10 + 3, "Driver 2": 6 + 5}
    sessions = {(a.session, a.kind) for a in row(result, "Driver 2").rounds[0].awards}
    assert sessions == {("qualifying", AwardKind.POSITION), ("race", AwardKind.POSITION)}


def test_scale_per_class() -> None:
    text = BASE_CONFIG.replace('scale = "main"\n', 'scale = "main"\nclass_scales = { Am = "big" }\n') + ROUNDS
    b = Rulebook(decode_config(text))
    result = run(b, Session("r1", PRO_AND_AM, ["7", "1", "8", "2"]))
    assert points(result) == {"Driver 1": 10, "Driver 2": 6}
    assert points(result, class_name="Am") == {"Driver 7": 20, "Driver 8": 12}


def test_a_round_with_its_own_scale() -> None:
    b = book(rounds=rounds('---[[rounds.points]]\nkind = "race"\nscale = "big"\n'))
    result = run(b, Session("r1", cars("1", "2"), ["1", "2"]), Session("r2", cars("1", "2"), ["1", "2"]))
    assert [s.points for s in row(result, "Driver 1").rounds] == [10, 20]


def test_a_multiplier_doubles_scale_points_not_bonuses() -> None:
    b = book("[bonus]\npole = 1\n", rounds=rounds("---multiplier = 2"))
    grid = cars("1", "2")
    qualifying = Session("r2", grid, ["1", "2"], name="qualifying", kind=SessionKind.QUALIFYING)
    result = run(b, Session("r1", grid, ["1", "2"]), qualifying, Session("r2", grid, ["1", "2"]))
    assert [s.points for s in row(result, "Driver 1").rounds] == [10, 2 * 10 + 1]
    assert [s.points for s in row(result, "Driver 2").rounds] == [6, 2 * 6]


def test_intermediate_points_on_the_classification_as_it_stood() -> None:
    b = book(
        rounds=rounds(
            '[[rounds.points]]\nkind = "race"\nscale = "main"\nlength_ms = 1_000_000\n'
            'intermediate = [{ at_ms = 300_000, scale = "half", label = "3 laps" }]'
        )
    )
    grid = cars("1", "2", "3")
    race = Session("r1", grid, ["2", "1", "3"], retire={"2": 5})  # 2 leads, then retires: 1 wins
    result = run(b, race)
    assert points(result) == {"Driver 1": 10 + 3, "Driver 3": 6 + 2, "Driver 2": 5}
    award = row(result, "Driver 2").rounds[0].awards[0]
    assert (award.kind, award.detail) == (AwardKind.INTERMEDIATE, "3 laps: class P1 (half)")
    events = race.events()
    early = [(seq, e) for seq, e in enumerate(events, start=1) if e.at - events[0].at < 300_000]
    assert classifications_at(early, events[0].session, [300_000]) == {}  # not reached yet: nothing to score


def test_an_instant_a_shortened_race_never_ran_to_is_looked_for_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """A race ended under red after 8 laps, results declared at 15 minutes, its 15-minute point unreached: the
    point scores nothing, and once the log has passed it no later settle folds the race again to look for it."""
    b = book(
        rounds=rounds(
            '[[rounds.points]]\nkind = "race"\nscale = "main"\nlength_ms = 1_000_000\n'
            'intermediate = [{ at_ms = 900_000, scale = "half", label = "15 minutes" }]'
        )
    )
    race = Session("r1", cars("1", "2"), ["1", "2"], laps=8, red=True, length_ms=1_000_000)
    looked: list[list[int]] = []
    real = fold_module.classifications_at

    def looking(events: Pairs, session: SessionRef, at_ms: list[int]) -> dict[int, Classification]:
        looked.append(list(at_ms))
        return real(events, session, at_ms)

    monkeypatch.setattr(fold_module, "classifications_at", looking)
    championship = ChampionshipFold(CHAMPIONSHIP, b)
    for seq, event in enumerate(race.events(after=[LineCrossing(number="1", line="SF")] * 3), start=1):
        championship.apply(seq, event)
        championship.settle()
    assert looked == [[900_000]]
    result = championship.standings()
    assert result is not None
    assert all(a.kind is not AwardKind.INTERMEDIATE for r in row(result, "Driver 1").rounds for a in r.awards)


# -- bonus points ------------------------------------------------------------------


def test_pole_position_per_class() -> None:
    qualifying = Session("r1", PRO_AND_AM, ["2", "1", "8", "7"], name="qualifying", kind=SessionKind.QUALIFYING)
    race = Session("r1", PRO_AND_AM, ["1", "2", "7", "8"])
    result = run(book("[bonus]\npole = 1\n"), qualifying, race)
    assert points(result) == {"Driver 1": 10, "Driver 2": 6 + 1}
    assert points(result, class_name="Am") == {"Driver 7": 10, "Driver 8": 6 + 1}
    assert [a.kind for a in row(result, "Driver 2").rounds[0].awards] == [AwardKind.POLE, AwardKind.POSITION]
    elsewhere = run(book('[bonus]\npole = 1\npole_sessions = ["q2"]\n'), qualifying, race)
    assert points(elsewhere) == {"Driver 1": 10, "Driver 2": 6}


def test_fastest_lap_only_in_the_top_n() -> None:
    b = book("[bonus]\nfastest_lap = 1\nfastest_lap_top = 2\n")
    grid = cars("1", "2", "3")
    result = run(
        b,
        Session("r1", grid, ["1", "2", "3"], fastest="2"),
        Session("r2", grid, ["1", "2", "3"], fastest="3"),  # P3: outside the top 2, nobody takes the point
    )
    assert [s.points for s in row(result, "Driver 2").rounds] == [6 + 1, 6]
    assert [s.points for s in row(result, "Driver 3").rounds] == [4, 4]


def test_a_point_for_each_car_classified_beyond_a_position() -> None:
    b = book("[bonus]\nbeyond_position = 4\nbeyond_points = 1\n")
    grid = cars("1", "2", "3", "4", "5", "6")
    result = run(b, Session("r1", grid, ["1", "2", "3", "4", "5", "6"], retire={"6": 2}))
    assert points(result) == {
        "Driver 1": 10,
        "Driver 2": 6,
        "Driver 3": 4,
        "Driver 4": 3,
        "Driver 5": 2 + 1,
        "Driver 6": 0,  # P6 but not classified
    }


# -- shortened races ---------------------------------------------------------------


def test_shortened_races_score_half_points_or_none() -> None:
    b = book("[[shortened]]\nbelow_pct = 75\nfactor = 0.5\n[[shortened]]\nbelow_pct = 25\nfactor = 0\n")
    grid = cars("1", "2")
    result = run(
        b,
        Session("r1", grid, ["1", "2"], length_laps=20),  # 10 of 20 laps
        Session("r2", grid, ["1", "2"], length_laps=50),  # 10 of 50 laps
        Session("r3", grid, ["1", "2"], length_laps=10),
        Session("r4", grid, ["1", "2"], length_ms=20 * LAP),  # half the time
    )
    assert [s.points for s in row(result, "Driver 1").rounds] == [5, 0, 10, 5]
    assert [s.points for s in row(result, "Driver 2").rounds] == [3, 0, 6, 3]
    assert (
        "shortened: 50 % of the scheduled laps covered, under 75 %: x0.5"
        in row(result, "Driver 1").rounds[0].awards[0].detail
    )


# -- eligibility and shared drives -------------------------------------------------

CREWED = [Car("1", crew=("Ann", "Bob")), *cars("2")]


def test_a_driver_short_of_the_minimum_drive_time_scores_nothing() -> None:
    b = book("[eligibility]\nmin_drive_ms = 200_000\n", rounds=rounds("---min_drive_ms = 0"))
    race = Session("r1", CREWED, ["1", "2"], swap={"1": 1})  # Ann drives one lap, Bob the rest
    result = run(b, race, Session("r2", CREWED, ["1", "2"], swap={"1": 1}))
    ann, bob = row(result, "Ann").rounds, row(result, "Bob").rounds
    assert [s.points for s in ann] == [0, 10]  # round 2 has no minimum
    assert [s.points for s in bob] == [10, 10]
    assert ann[0].ineligible == ["race: Ann drove 0:01:40, under the minimum 0:03:20"]
    live = run(b, Session("r1", CREWED, ["1", "2"], swap={"1": 1}, finished=False, declared=None))
    assert points(live)["Ann"] == 10  # judged only once the race is over


def test_a_car_must_be_classified() -> None:
    grid = cars("1", "2", "3")
    race = Session("r1", grid, ["1", "2", "3"], retire={"2": 3})
    result = run(book(), race)
    assert points(result) == {"Driver 1": 10, "Driver 3": 6, "Driver 2": 0}
    assert row(result, "Driver 2").rounds[0].ineligible == ["race: #2 did not finish"]
    anyway = run(book("[eligibility]\nmust_be_classified = false\n"), race)
    assert points(anyway)["Driver 2"] == 4


@pytest.mark.parametrize(("mode", "each"), [("split", 5), ("full", 10)])
def test_shared_drives(mode: str, each: float) -> None:
    assert points(run(book(), Session("r1", CREWED, ["1", "2"])))["Ann"] == 10  # full by default
    b = Rulebook(decode_config(f'shared_drive = "{mode}"\n' + BASE_CONFIG + ROUNDS))
    result = run(b, Session("r1", CREWED, ["1", "2"]))
    assert points(result) == {"Ann": each, "Bob": each, "Driver 2": 6}
    assert points(result, TableKind.TEAMS) == {"Team 1 #1": 10, "Team 2 #2": 6}


def test_split_between_three_drivers_stays_exact() -> None:
    trio = [Car("1", crew=("Ann", "Bob", "Cy")), *cars("2")]
    b = Rulebook(decode_config('shared_drive = "split"\n' + BASE_CONFIG + ROUNDS))
    result = run(b, *(Session(f"r{i}", trio, ["1", "2"]) for i in (1, 2, 3)))
    assert points(result)["Ann"] == 10  # 3 x 10/3, summed exactly


# -- dropped scores ----------------------------------------------------------------


def test_only_the_best_n_rounds_count() -> None:
    grid = cars("1", "2", "3")
    result = run(
        book("[drops]\nbest = 2\n"),
        Session("r1", grid, ["1", "2", "3"]),
        Session("r2", grid, ["2", "3", "1"]),
        Session("r3", grid, ["1", "3", "2"]),
    )
    driver = row(result, "Driver 1")
    assert driver.points == 20
    assert [(s.points, s.state, s.why) for s in driver.rounds] == [
        (10, ScoreState.COUNTED, ""),
        (4, ScoreState.DROPPED, "not among the best 2"),
        (10, ScoreState.COUNTED, ""),
    ]


def test_best_n1_of_the_first_part_and_n2_of_the_rest() -> None:
    b = book("[[drops.parts]]\nrounds = 3\nbest = 1\n[[drops.parts]]\nrounds = 3\nbest = 1\n")
    grid = cars("1", "2", "3")
    finishes = [["1", "2", "3"], ["2", "1", "3"], ["2", "1", "3"], ["2", "3", "1"], ["2", "3", "1"], ["2", "3", "1"]]
    result = run(b, *(Session(f"r{i}", grid, order_) for i, order_ in enumerate(finishes, start=1)))
    driver = row(result, "Driver 1")
    assert driver.points == 10 + 4  # the best two overall would be 10 + 6
    counted, dropped = ScoreState.COUNTED, ScoreState.DROPPED
    assert [s.state for s in driver.rounds] == [counted, dropped, dropped, counted, dropped, dropped]
    assert driver.rounds[1].why == "not among the best 1 of rounds 1-3"
    assert driver.rounds[5].why == "not among the best 1 of rounds 4-6"


# -- teams and manufacturers -------------------------------------------------------

STABLE = [
    Car("1", team="Alpha", manufacturer="Ferrari"),
    Car("2", team="Alpha", manufacturer="Ferrari"),
    Car("3", team="Beta", manufacturer="Porsche"),
]


def test_team_standings_per_entry_or_best_car() -> None:
    race = Session("r1", STABLE, ["1", "3", "2"])
    per_entry = run(book(), race)
    assert points(per_entry, TableKind.TEAMS) == {"Alpha #1": 10, "Beta #3": 6, "Alpha #2": 4}
    best_car = run(book('[standings]\nteams = "best_car"\n'), race)
    assert points(best_car, TableKind.TEAMS) == {"Alpha": 10, "Beta": 6}


@pytest.mark.parametrize(("best", "ferrari"), [(1, 10), (2, 14)])
def test_manufacturers_score_their_best_cars(best: int, ferrari: float) -> None:
    result = run(book(f"[standings]\nmanufacturer_cars = {best}\n"), Session("r1", STABLE, ["1", "3", "2"]))
    assert points(result, TableKind.MANUFACTURERS) == {"Ferrari": ferrari, "Porsche": 6}


def test_overall_tables_score_overall_positions() -> None:
    result = run(book("[standings]\noverall = true\n"), Session("r1", PRO_AND_AM, ["7", "1", "8", "2"]))
    assert points(result, class_name=None) == {"Driver 7": 10, "Driver 1": 6, "Driver 8": 4, "Driver 2": 3}
    assert points(result) == {"Driver 1": 10, "Driver 2": 6}


# -- ties --------------------------------------------------------------------------

RIVALS = [Car("1", crew=("Zed",)), Car("2", crew=("Amy",)), *cars("3", "4")]


def test_ties_broken_by_count_back() -> None:
    result = run(
        book(),
        Session("r1", RIVALS, ["1", "2", "3", "4"]),
        Session("r2", RIVALS, ["3", "4", "2", "1"], retire={"1": 1}),
    )
    assert points(result)["Zed"] == points(result)["Amy"] == 10
    assert order(result)[:3] == ["Driver 3", "Zed", "Amy"]  # one win beats a second and a third
    assert row(result, "Amy").tie == "level on 10 points, behind Zed: count-back, P1 finishes 0 to 1"


@pytest.mark.parametrize(
    ("ties", "first"), [('["countback", "latest_result", "name"]', "Zed"), ('["countback", "name"]', "Amy")]
)
def test_ties_then_the_latest_result_then_the_name(ties: str, first: str) -> None:
    b = Rulebook(decode_config(f"ties = {ties}\n" + BASE_CONFIG + ROUNDS))
    result = run(b, Session("r1", RIVALS, ["2", "1", "3", "4"]), Session("r2", RIVALS, ["1", "2", "3", "4"]))
    assert points(result)["Zed"] == points(result)["Amy"] == 16  # a win and a second each
    assert order(result)[0] == first
    if first == "Zed":
        assert row(result, "Zed").tie.endswith("latest result, round 2: P1 to P2")


# -- decisions and live ------------------------------------------------------------


def test_a_deduction_comes_off_the_total_and_can_be_withdrawn() -> None:
    race = Session("r1", cars("1", "2"), ["1", "2"])
    fine = PointsAdjustment(
        decision="D7", kind=AdjustmentKind.DEDUCTION, table=TableKind.DRIVERS, competitor="Driver 1", points=5
    )
    result = run(book(), race, adjustments=[fine])
    assert order(result) == ["Driver 2", "Driver 1"] and points(result)["Driver 1"] == 5
    assert row(result, "Driver 1").deductions == [fine]
    assert points(result, TableKind.TEAMS)["Team 1 #1"] == 10  # only the drivers' table
    configured = book(
        '[[adjustments]]\ndecision = "D7"\nkind = "deduction"\ntable = "drivers"\ncompetitor = "Driver 1"\npoints = 5\n'
    )
    assert points(run(configured, race))["Driver 1"] == 5
    b = book()
    season = Season(b)
    season.put(score_round(b, "r1", {"race": classification(race.events())}, {}))
    season.adjust(fine)
    assert points(season.standings())["Driver 1"] == 5
    assert season.withdraw("D7") and not season.withdraw("D7")
    assert points(season.standings())["Driver 1"] == 10
    with pytest.raises(ValueError, match="decision D8: round: 'r9' is not a round of test-series"):
        season.adjust(msgspec.structs.replace(fine, decision="D8", round="r9"))


def test_an_excluded_result_scores_nothing_and_cannot_be_dropped() -> None:
    grid = cars("1", "2", "3", "4")
    sessions = [
        Session("r1", grid, ["1", "2", "3", "4"]),
        Session("r2", grid, ["1", "2", "3", "4"]),
        Session("r3", grid, ["2", "3", "4", "1"]),
    ]
    excluded = PointsAdjustment(
        decision="D9",
        kind=AdjustmentKind.EXCLUSION,
        table=TableKind.DRIVERS,
        competitor="Driver 1",
        round="r1",
        reason="technical infringement",
    )
    b = book("[drops]\nbest = 2\n")
    assert points(run(b, *sessions))["Driver 1"] == 20
    driver = row(run(b, *sessions, adjustments=[excluded]), "Driver 1")
    assert driver.points == 10  # not 10 + 3: the excluded round takes one of the two counted places
    assert [(s.state, s.why) for s in driver.rounds] == [
        (ScoreState.EXCLUDED, "excluded by decision D9: technical infringement"),
        (ScoreState.COUNTED, ""),
        (ScoreState.DROPPED, "not among the best 2"),
    ]


def test_a_running_race_scores_its_running_positions() -> None:
    result = run(book(), Session("r1", cars("1", "2"), ["2", "1"], finished=False, declared=None))
    assert points(result) == {"Driver 2": 10, "Driver 1": 6}
    assert result.live and result.rounds[0].state is RoundState.RUNNING
    assert row(result, "Driver 2").rounds[0].results[0].status.value == "running"
    final = run(book(), Session("r1", cars("1", "2"), ["2", "1"]))
    assert not final.live and final.rounds[0].state is RoundState.FINAL
