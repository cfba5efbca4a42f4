"""Hand-made Al Kamel charts, one per rule of an official classification, folded under each rules preset.

The charts are written here (``tests/feeds/charts.py``), never taken from a
real file: each shows one rule (retired, not classified or classified under
each preset; a deleted fastest lap; a sub-class; a safety-car start).
"""

from __future__ import annotations

import pytest

from schemas.events import CarRetired, ClassificationRules, Flag, LapCompleted, RetirementSource, SessionRef
from schemas.results import CarState, Classification, ResultStatus, SessionPhase
from services.classification.presets import PRESETS, preset_rules
from services.feeds.alkamel.options import AlKamelOptions
from services.feeds.alkamel.parser import parse_analysis
from tests.factory import session_fold
from tests.feeds.charts import Car, chart
from tests.feeds.typed import of

SESSION = SessionRef(championship="wec", event="charts", session="race")
CHARTS = AlKamelOptions(producer="charts")
LAP = 100_000

RETIREMENTS = (
    Car("1", [LAP] * 10),  # the winner: 10 laps, the flag at 1,000 s
    Car("2", [LAP + 500] * 10),
    Car("3", [LAP] * 5 + [520_000], class_name="LMGT3"),  # repaired for 8 minutes: the flag with 6 laps (60 %)
    Car("4", [LAP + 900] * 8, took_flag=False),  # stopped after 8 laps (80 %)
    Car("5", [LAP + 2_000] * 3, class_name="LMGT3", took_flag=False),  # stopped after 3 laps
)
C, NC, DNF = ResultStatus.CLASSIFIED, ResultStatus.NOT_CLASSIFIED, ResultStatus.DID_NOT_FINISH
EXPECTED = {
    # WEC: the flag and 70 %: #3 took the flag with 60 % (NC), #4 and #5 did not take it (retired)
    "wec": [("1", C), ("2", C), ("4", DNF), ("3", NC), ("5", DNF)],
    # IMSA: every starter placed by laps, running or not
    "imsa": [("1", C), ("2", C), ("4", C), ("3", C), ("5", C)],
    # SRO: 75 %, flag or not: #4 (80 %) is classified though it retired
    "sro": [("1", C), ("2", C), ("4", C), ("3", NC), ("5", DNF)],
    # 24h Nürburgring / NLS: the flag and 50 %: #3 (60 %, flag) classified, #4 (no flag) retired
    "nls": [("1", C), ("2", C), ("3", C), ("4", DNF), ("5", DNF)],
    # club: 70 %, flag or not
    "club": [("1", C), ("2", C), ("4", C), ("3", NC), ("5", DNF)],
}


def classify(data: bytes, rules: ClassificationRules | None = None) -> Classification:
    events = parse_analysis(data, SESSION, AlKamelOptions(producer="charts", rules=rules))
    return session_fold(events).classification()


def test_every_preset_has_its_expected_result() -> None:
    assert set(EXPECTED) == set(PRESETS)


@pytest.mark.parametrize("preset", sorted(EXPECTED))
def test_retired_not_classified_or_classified_under_each_preset(preset: str) -> None:
    result = classify(chart(*RETIREMENTS), preset_rules(preset))
    assert [(car.number, car.status) for car in result.cars] == EXPECTED[preset]
    assert result.rules is not None and result.rules.preset == preset
    assert result.phase is SessionPhase.FINISHED
    states = {car.number: car.state for car in result.cars}
    assert states == {
        "1": CarState.FINISHED,
        "2": CarState.FINISHED,
        "3": CarState.FINISHED,
        "4": CarState.RETIRED,
        "5": CarState.RETIRED,
    }


def test_cars_without_the_flag_are_retired_at_their_last_crossing_by_the_chart() -> None:
    events = parse_analysis(chart(*RETIREMENTS), SESSION, CHARTS)
    retired = {e.body.number: e for e in of(events, CarRetired)}
    assert sorted(retired) == ["4", "5"]
    last_laps = {e.body.number: e.at for e in of(events, LapCompleted)}
    assert all(e.at == last_laps[number] and e.body.source is RetirementSource.CHART for number, e in retired.items())


def test_a_chart_with_no_chequered_flag_retires_nobody() -> None:
    """A race ended under red, or a live file: no ``FF`` row at all says nothing about who stopped."""
    unfinished = [Car(car.number, car.laps, took_flag=False) for car in RETIREMENTS]
    assert of(parse_analysis(chart(*unfinished), SESSION, CHARTS), CarRetired) == []


def test_an_import_defaults_to_the_wec_preset() -> None:
    result = classify(chart(*RETIREMENTS))
    assert result.rules == preset_rules("wec")
    assert [(car.number, car.status) for car in result.cars] == EXPECTED["wec"]


def test_a_lap_the_chart_does_not_count_is_never_the_fastest_lap() -> None:
    """#2's lap 5 (99.0 s) is faster than the lap the chart marks as its best (100.2 s): deleted for track limits.
    It counts for distance, never as a best: the race's fastest lap is #1's 100.0 s."""
    two = [LAP + 500] * 10
    two[4], two[6] = 99_000, 100_200
    cars = (Car("1", [LAP] * 10), Car("2", two, best=7))
    result = classify(chart(*cars))
    assert result.fastest_lap is not None and (result.fastest_lap.number, result.fastest_lap.ms) == ("1", LAP)
    second = result.cars[1]
    assert (second.number, second.laps, second.best_lap_ms, second.best_lap) == ("2", 10, 100_200, 7)
    assert [(ref.class_name, ref.number, ref.ms) for ref in result.class_fastest_laps] == [("HYPERCAR", "1", LAP)]
    live = classify(chart(*cars[:1], Car("2", two, best=None)))  # no marks (a live chart): nothing is deleted
    assert live.fastest_lap is not None and (live.fastest_lap.number, live.fastest_lap.ms) == ("2", 99_000)


def test_lap_one_is_never_a_best_under_wec() -> None:
    """Lap 1 runs from the start line: WEC charts never credit it as a best, whatever its time."""
    cars = (Car("1", [95_000] + [LAP] * 9, best=None), Car("2", [LAP + 200] * 10, best=None))
    wec = classify(chart(*cars), preset_rules("wec"))
    assert wec.fastest_lap is not None and (wec.fastest_lap.number, wec.fastest_lap.lap) == ("1", 2)
    club = classify(chart(*cars), preset_rules("club"))
    assert club.fastest_lap is not None and (club.fastest_lap.number, club.fastest_lap.lap) == ("1", 1)


def test_a_sub_class_has_its_own_positions_gaps_and_fastest_lap() -> None:
    """LMP2 with its Pro/Am group (``GROUP`` ``P/A``); ``H`` marks hybrid Hypercars, not a sub-class."""
    cars = (
        Car("7", [LAP] * 10, group="H"),
        Car("22", [110_000] * 10, class_name="LMP2"),
        Car("199", [110_500] * 9 + [109_000], class_name="LMP2", group="P/A"),
        Car("43", [110_600] * 10, class_name="LMP2"),
        Car("29", [111_000] * 5 + [108_000] + [111_000] * 4, class_name="LMP2", group="P/A"),
    )
    result = classify(chart(*cars))
    rows = [(c.number, c.class_position, c.sub_class, c.sub_class_position) for c in result.cars]
    assert rows == [
        ("7", 1, None, None),
        ("22", 1, None, None),
        ("199", 2, "Pro/Am", 1),
        ("43", 3, None, None),
        ("29", 4, "Pro/Am", 2),
    ]
    twenty_nine = result.cars[-1]
    assert twenty_nine.sub_class_gap is not None and twenty_nine.sub_class_gap.ms == 10 * 111_000 - 3_000 - 1_103_500
    assert twenty_nine.sub_class_interval == twenty_nine.sub_class_gap
    assert result.cars[2].sub_class_gap is None  # the sub-class leader
    assert [(r.class_name, r.sub_class, r.number, r.ms) for r in result.sub_class_fastest_laps] == [
        ("LMP2", "Pro/Am", "29", 108_000)
    ]
    lmp2 = next(r for r in result.class_fastest_laps if r.class_name == "LMP2")
    assert (lmp2.number, lmp2.sub_class) == ("29", "Pro/Am")


def test_a_race_started_behind_the_safety_car_has_its_first_period_under_it() -> None:
    cars = (
        Car("1", [150_000, 150_000] + [LAP] * 8, flags={1: "SF", 2: "SF"}),
        Car("2", [150_500, 150_000] + [LAP] * 8, flags={1: "SF", 2: "SF"}),
    )
    result = classify(chart(*cars))
    assert result.started_at is not None
    periods = [(p.flag, p.start - result.started_at) for p in result.flag_periods]
    assert periods[:2] == [(Flag.SAFETY_CAR, 0), (Flag.GREEN, 300_000 + LAP)]
    assert result.flag_periods[0].end == result.flag_periods[1].start
    under = {t.flag: t.ms for t in result.time_under_flags}
    assert under[Flag.SAFETY_CAR] == 400_000


def test_a_car_that_stops_after_the_flag_in_a_chart_is_retired_where_it_stopped() -> None:
    """#2 crossed at 990 s, 10 s before the leader's flag, and never again: no ``FF`` row, so it did not take the
    flag; under WEC rules it is retired (DNF) with the 9 laps it did, and the session is finished."""
    cars = (Car("1", [LAP] * 10), Car("2", [110_000] * 9, took_flag=False), Car("3", [LAP + 50] * 10))
    result = classify(chart(*cars))
    assert [(c.number, c.laps, c.status, c.state) for c in result.cars] == [
        ("1", 10, C, CarState.FINISHED),
        ("3", 10, C, CarState.FINISHED),
        ("2", 9, DNF, CarState.RETIRED),
    ]
    assert result.phase is SessionPhase.FINISHED
