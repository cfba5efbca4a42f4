"""Rules from seventy years of championships, each on a hand-made season: every test fails if its rule is taken out.

The historic-style season at the end is shaped like the Formula One seasons of the 1950s (8-6-4-3-2 and a point
for the fastest lap, shared when several drivers set the same time; shared drives splitting the points; the best
results counting, not rounds), with the dates of 1954.
"""

from __future__ import annotations

from fractions import Fraction

import pytest

from schemas.events import (
    AdjustmentKind,
    Event,
    PenaltyIssued,
    PenaltyKind,
    PointsAdjusted,
    SessionRef,
    decode_event,
    encode_event,
)
from schemas.standings import AwardKind, ScoreState, TableKind
from services.standings.config import ConfigError, decode_config
from services.standings.fold import ChampionshipFold
from services.standings.rulebook import Rulebook
from tests.standings.season import BASE_CONFIG, CHAMPIONSHIP, Car, Session, book, cars, order, points, row, run


def rounds(*bodies: str) -> str:
    return "\n".join(f'[[rounds]]\nevent = "r{i}"\n{body}\n' for i, body in enumerate(bodies, start=1))


# -- the fastest-lap bonus -----------------------------------------------------------------


def test_the_fastest_lap_bonus_only_in_the_named_races_of_a_round() -> None:
    b = book('[bonus]\nfastest_lap = 1\nfastest_lap_sessions = ["feature"]\n', rounds=rounds(""))
    grid = cars("1", "2")
    sprint = Session("r1", grid, ["1", "2"], name="sprint", fastest="2")
    feature = Session("r1", grid, ["1", "2"], name="feature", fastest="2")
    result = run(b, sprint, feature)
    assert points(result)["Driver 2"] == 6 + 6 + 1  # the sprint's fastest lap scores nothing
    [award] = [a for a in row(result, "Driver 2").rounds[0].awards if a.kind is AwardKind.FASTEST_LAP]
    assert award.session == "feature"


def test_the_fastest_lap_bonus_is_withheld_in_a_shortened_race() -> None:
    extra = "[[shortened]]\nbelow_pct = 75\nfactor = 0.5\n[bonus]\nfastest_lap = 1\nfastest_lap_shortened = false\n"
    grid = cars("1", "2")
    short = Session("r1", grid, ["1", "2"], length_laps=20, fastest="2")  # 10 of 20 laps: half points, no bonus
    full = Session("r2", grid, ["1", "2"], length_laps=10, fastest="2")
    result = run(book(extra), short, full)
    assert [s.points for s in row(result, "Driver 2").rounds] == [3, 6 + 1]
    kept = run(book(extra.replace("fastest_lap_shortened = false\n", "")), short, full)
    assert [s.points for s in row(kept, "Driver 2").rounds] == [3 + 1, 6 + 1]


def test_a_fastest_lap_credited_to_the_driver_who_set_it() -> None:
    crewed = [Car("1", crew=("Ann", "Bob")), Car("2", crew=("Cy",))]
    race = Session("r1", crewed, ["1", "2"], swap={"1": 1}, fastest="1")  # Bob drives from lap 2, the fastest
    to_car = run(book("[bonus]\nfastest_lap = 1\n"), race)
    assert points(to_car) == {"Ann": 11, "Bob": 11, "Cy": 6}
    to_driver = run(book('[bonus]\nfastest_lap = 1\nfastest_lap_to = "driver"\n'), race)
    assert points(to_driver) == {"Bob": 11, "Ann": 10, "Cy": 6}
    assert points(to_driver, TableKind.TEAMS) == {"Team 1 #1": 10, "Team 2 #2": 6}  # the driver's alone
    [award] = [a for a in row(to_driver, "Bob").rounds[0].awards if a.kind is AwardKind.FASTEST_LAP]
    assert award.detail == "Bob"


def test_a_fastest_lap_set_by_several_is_shared_exactly() -> None:
    grid = cars(*(str(n) for n in range(1, 9)))
    finish = [c.number for c in grid]
    seven = tuple(finish[1:])  # seven drivers set the same time, as at Silverstone in 1954
    b = book("[bonus]\nfastest_lap = 1\n", rounds=rounds(*[""] * 7))
    result = run(b, *(Session(f"r{i}", grid, finish, fastest=seven) for i in range(1, 8)))
    driver = row(result, "Driver 8")
    assert [s.points for s in driver.rounds] == [0.14] * 7  # 1/7 of a point each time, shown to two decimals
    assert driver.points == 7 * Fraction(1, 7) == 1  # and added up exactly
    assert driver.rounds[0].awards[-1].detail == "Driver 8, shared by 7"
    assert points(result)["Driver 1"] == 7 * 10


# -- count-back ----------------------------------------------------------------------------


def test_count_back_over_the_main_races_only() -> None:
    rivals = [Car("1", crew=("Zed",)), Car("2", crew=("Amy",)), *cars("3", "4")]
    sprints = '[[points]]\nkind = "race"\nsessions = ["sprint"]\nscale = "half"\n'
    sessions = [
        Session("r1", rivals, ["1", "3", "4", "2"], name="sprint"),  # Zed wins the sprint (5), Amy 4th (1)
        Session("r1", rivals, ["2", "1", "3", "4"], name="feature"),  # Amy wins the feature (10), Zed 2nd (6)
    ]
    every_race = run(book(sprints), *sessions)
    assert points(every_race)["Zed"] == points(every_race)["Amy"] == 11
    assert order(every_race)[:2] == ["Zed", "Amy"]  # a win each; Zed has a second place
    assert row(every_race, "Zed").tie.endswith("count-back, P2 finishes 1 to 0")
    mains = run(book(sprints + '[countback]\nsessions = ["feature"]\n'), *sessions)
    assert order(mains)[:2] == ["Amy", "Zed"]
    assert row(mains, "Amy").tie.endswith("count-back, P1 finishes 1 to 0")


def test_count_back_on_overall_positions_in_a_class_table() -> None:
    grid = [Car("1", crew=("Zed",)), Car("2", crew=("Amy",)), Car("7", "Am"), Car("8", "Am")]
    sessions = [Session("r1", grid, ["1", "7", "2", "8"]), Session("r2", grid, ["7", "2", "8", "1"])]
    by_class = run(book(), *sessions)  # a class win and a class second each: level, then by name
    assert order(by_class) == ["Amy", "Zed"] and row(by_class, "Zed").tie.endswith("alphabetical order")
    overall = run(book('[countback]\npositions = "overall"\n'), *sessions)  # Zed won overall, Amy was 2nd
    assert order(overall) == ["Zed", "Amy"]
    assert row(overall, "Zed").tie.endswith("count-back, P1 finishes 1 to 0")


# -- dropped scores over results -----------------------------------------------------------


def test_best_n_results_counts_each_car_a_driver_drove() -> None:
    """A driver who took over a team-mate's car in the same race has two results in that round."""
    grid = [Car("1", crew=("Fangio",)), Car("2", crew=("Moss", "Fangio")), *cars("3", "4")]
    shared = Session("r1", grid, ["1", "2", "3", "4"], swap={"2": 1})  # Fangio wins, and takes over car 2
    later = [Session(f"r{i}", [Car("1", crew=("Fangio",)), *cars("3", "4")], ["3", "1", "4"]) for i in (2, 3)]
    by_result = book('[drops]\nbest = 3\nunit = "result"\n', rounds("", "", ""), top='shared_drive = "split"\n')
    fangio = row(run(by_result, shared, *later), "Fangio")
    assert [s.result_points for s in fangio.rounds] == [[10, 3], [6], [6]]
    assert fangio.points == 10 + 6 + 6  # the best three results: the shared second (3) is dropped
    assert fangio.rounds[0].state is ScoreState.PARTLY_DROPPED and fangio.rounds[0].dropped == [1]
    by_round = book("[drops]\nbest = 2\n", rounds("", "", ""), top='shared_drive = "split"\n')
    assert row(run(by_round, shared, *later), "Fangio").points == 13 + 6  # the round of both results, then a 6


# -- results that score nothing without passing their points down ---------------------------


def test_a_guest_entry_scores_nothing_and_passes_its_place_down_or_keeps_it() -> None:
    grid = [Car("1"), Car("99", guest=True), Car("2"), Car("3")]
    race = Session("r1", grid, ["99", "1", "2", "3"])
    passed = run(book(), race)
    assert points(passed) == {"Driver 1": 10, "Driver 2": 6, "Driver 3": 4}  # a guest is no competitor
    kept = run(book('[eligibility]\nvacant = ["guest"]\n'), race)
    assert points(kept) == {"Driver 1": 6, "Driver 2": 4, "Driver 3": 3}  # P1's points go to nobody
    award = row(kept, "Driver 1").rounds[0].awards[0]
    assert award.detail == "class P2 (main)" and award.points == 6


def test_a_disqualified_car_keeps_its_place_on_the_road_when_the_rules_say_so() -> None:
    grid = cars("1", "2", "3", "4")
    race = Session("r1", grid, ["1", "2", "3", "4"])
    dsq = PenaltyIssued(number="2", decision="D1", kind=PenaltyKind.DISQUALIFICATION)
    events = race.events(after=[dsq])
    assert points(run(book(), events)) == {"Driver 1": 10, "Driver 3": 6, "Driver 4": 4, "Driver 2": 0}
    vacant = run(book('[eligibility]\nvacant = ["disqualified"]\n'), events)
    assert points(vacant) == {"Driver 1": 10, "Driver 3": 4, "Driver 4": 3, "Driver 2": 0}
    assert row(vacant, "Driver 3").rounds[0].awards[0].detail == "class P3 (main), P2 on the road"


def test_a_shared_drive_scores_nothing_in_some_eras_and_keeps_its_place() -> None:
    crewed = [Car("1", crew=("Ann", "Bob")), Car("2", crew=("Cy",)), Car("3", crew=("Dee",))]
    race = Session("r1", crewed, ["1", "2", "3"])
    result = run(book(top='shared_drive = "none"\n'), race)
    assert points(result) == {"Cy": 6, "Dee": 4, "Ann": 0, "Bob": 0}
    assert row(result, "Ann").rounds[0].ineligible == ["race: #1 shared by 2 drivers: a shared drive scores nothing"]
    assert points(result, TableKind.TEAMS)["Team 1 #1"] == 10  # the car still scores for its team


# -- a driver excluded from the championship ------------------------------------------------


def test_a_driver_excluded_from_the_championship_by_one_decision() -> None:
    grid = cars("1", "2", "3")
    sessions = [Session(f"r{i}", grid, ["1", "2", "3"]) for i in (1, 2)]
    listed = run(
        book('[[exclusions]]\ndecision = "WMSC-97"\ncompetitor = "Driver 1"\nreason = "dangerous driving"\n'),
        *sessions,
    )
    assert order(listed) == ["Driver 2", "Driver 3", "Driver 1"]
    assert points(listed) == {"Driver 2": 12, "Driver 3": 8, "Driver 1": 0}  # their places are not passed down
    excluded = row(listed, "Driver 1")
    assert excluded.excluded == "excluded from the championship by decision WMSC-97: dangerous driving"
    assert {s.state for s in excluded.rounds} == {ScoreState.EXCLUDED} and excluded.position == 3
    decision = PointsAdjusted(
        decision="WMSC-97",
        kind=AdjustmentKind.CHAMPIONSHIP_EXCLUSION,
        table=TableKind.DRIVERS,
        competitor="Driver 1",
        reason="dangerous driving",
    )
    fold = ChampionshipFold(CHAMPIONSHIP, book())
    for seq, event in enumerate([e for s in sessions for e in s.events()], start=1):
        fold.apply(seq, event)
    ruling = Event(id="x", session=SessionRef.championship_of(CHAMPIONSHIP), producer="ops", at=1, body=decision)
    assert fold.apply(99, ruling) is None  # the same decision as a points_adjusted event
    settled = fold.settle().standings
    assert settled is not None and settled.tables == listed.tables


# -- shortened races by bands --------------------------------------------------------------

BANDS = """
[scales]
main = [10, 6, 4, 3, 2, 1]
quarter = [3, 2, 1]
halfway = [6, 4, 2, 1]
three-quarters = [8, 5, 3, 2, 1]

[[shortened]]
below_laps = 2
factor = 0

[[shortened]]
below_pct = 25
scale = "quarter"
ended = ["red_flag"]

[[shortened]]
below_pct = 50
scale = "halfway"
ended = ["red_flag"]

[[shortened]]
below_pct = 75
scale = "three-quarters"
ended = ["red_flag"]
"""


@pytest.mark.parametrize(
    ("laps", "red", "winner"),
    [(1, True, 0), (1, False, 0), (3, True, 3), (7, True, 6), (11, True, 8), (16, True, 10), (8, False, 10)],
    ids=["one-lap", "one-lap-time-limit", "under-25", "under-50", "under-75", "full", "time-limit"],
)
def test_shortened_races_score_a_scale_per_band_chosen_by_how_they_ended(laps: int, red: bool, winner: int) -> None:
    text = BASE_CONFIG.replace("[scales]\nmain = [10, 6, 4, 3, 2, 1]\nhalf = [5, 3, 2, 1]\nbig = [20, 12, 8]\n", "")
    b = Rulebook(decode_config(text + BANDS + rounds("")))
    race = Session("r1", cars("1", "2"), ["1", "2"], laps=laps, length_laps=16, red=red)
    assert points(run(b, race))["Driver 1"] == winner


# -- guests, crews of six, dates before 1970 ------------------------------------------------


def test_a_crew_of_six_splits_exactly() -> None:
    six = tuple(f"D{n}" for n in range(1, 7))
    b = book(top='shared_drive = "split"\n')
    result = run(b, Session("r1", [Car("1", crew=six), *cars("2")], ["1", "2"]))
    assert points(result) == {**{name: 1.67 for name in six}, "Driver 2": 6}
    assert sum(Fraction(10, 6) for _ in six) == 10


FIFTY_FOUR = -487_900_800_000
"""1954-07-17T00:00:00Z, the British Grand Prix's day."""

HISTORIC = """
championship = "test-series"
name = "Historic Series"
shared_drive = "split"

[[classes]]
name = "F1"

[scales]
main = [8, 6, 4, 3, 2]

[[points]]
kind = "race"
scale = "main"

[bonus]
fastest_lap = 1

[drops]
best = 3
unit = "result"
"""


def test_a_historic_season_with_shared_drives_split_fastest_laps_and_the_best_results() -> None:
    b = Rulebook(decode_config(HISTORIC + rounds("", "", "", "")))
    fangio, moss = Car("1", "F1", crew=("Fangio",)), Car("2", "F1", crew=("Moss",))
    shared = Car("3", "F1", crew=("Gonzalez", "Hawthorn"))
    rest = [Car(str(n), "F1", crew=(f"Driver {n}",)) for n in range(4, 9)]
    grid = [fangio, moss, shared, *rest]
    day = 7 * 24 * 3_600_000
    sessions = [
        Session("r1", grid, ["3", "1", "2", "4", "5", "6", "7", "8"], fastest=("1", "2", "3"), start=FIFTY_FOUR),
        Session("r2", grid, ["1", "3", "2", "4", "5", "6", "7", "8"], fastest="1", start=FIFTY_FOUR + day),
        Session("r3", grid, ["1", "2", "3", "4", "5", "6", "7", "8"], fastest="2", start=FIFTY_FOUR + 2 * day),
        Session("r4", grid, ["2", "1", "3", "4", "5", "6", "7", "8"], fastest="2", start=FIFTY_FOUR + 3 * day),
    ]
    log = [e for s in sessions for e in s.events()]
    assert all(e.at < 0 and decode_event(encode_event(e)) == e for e in log)  # every instant before 1970, valid
    result = run(b, log)
    drivers = points(result, class_name="F1")
    # Gonzalez and Hawthorn share car 3: 8/2 + 1/3/2 in round 1, 6/2 + 0 in round 2, 4/2, 4/2
    assert row(result, "Gonzalez", class_name="F1").rounds[0].points == 4.17
    third = Fraction(8, 2) + Fraction(1, 6)
    assert drivers["Gonzalez"] == drivers["Hawthorn"] == float(round(third + Fraction(6, 2) + Fraction(4, 2), 2))
    # Fangio: 6 + 1/3 (shared fastest lap), 8 + 1, 8, 6: the best three results count
    fangio_row = row(result, "Fangio", class_name="F1")
    assert fangio_row.points == 23.33
    assert [s.state for s in fangio_row.rounds] == [ScoreState.COUNTED] * 3 + [ScoreState.DROPPED]
    assert order(result, class_name="F1")[:2] == ["Fangio", "Moss"]
    assert fangio_row.rounds[0].awards[-1].points == 0.33


def test_a_wrong_choice_lists_the_allowed_values() -> None:
    with pytest.raises(ConfigError, match=r"\$.drops.unit: Invalid enum value 'results' \(allowed: round, result\)"):
        decode_config(HISTORIC.replace('unit = "result"', 'unit = "results"') + rounds(""))
