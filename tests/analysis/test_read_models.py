"""The analysis read models against a race worked out by hand (``tests.analysis.races``)."""

from __future__ import annotations

from schemas.analysis import (
    DriveVerdict,
    FastestLapChange,
    LapMark,
    PitStopLine,
    SectorBest,
    SessionAnalysis,
    StintLine,
)
from schemas.events import Event, Flag, LapCompleted, LapDeleted
from services.analysis.analyst import SessionAnalyst, analyse
from services.classification.fold import SessionFold
from tests.analysis.races import hand_race, qualifying_laps
from tests.factory import T0, SessionWriter, session_fold


def analysis_of(w: SessionWriter, events: list[Event]) -> SessionAnalysis:
    state = session_fold(events)
    return analyse(state)


def race() -> tuple[SessionWriter, SessionAnalysis]:
    w = SessionWriter()
    return w, analysis_of(w, hand_race(w))


def test_positions_and_gaps_lap_by_lap_are_the_order_of_crossing_each_lap() -> None:
    _, analysis = race()
    laps = {car.number: car.laps for car in analysis.cars}
    assert [line.position for line in laps["1"]] == [1, 2, 2, 3, 3, 2]
    assert [line.position for line in laps["2"]] == [2, 1, 1, 1, 1, 1]
    assert [line.position for line in laps["3"]] == [3, 3, 3, 2, 2, 3]
    assert [line.gap_ms for line in laps["1"]] == [0, 500, 500, 29_000, 27_000, 25_000]
    assert [line.gap_ms for line in laps["3"]] == [5_000, 10_000, 14_500, 19_000, 23_000, 26_500]
    assert [line.class_position for line in laps["1"]] == [1, 2, 2, 2, 2, 2]
    assert [line.class_gap_ms for line in laps["2"]] == [800, 0, 0, 0, 0, 0]
    assert {(line.class_position, line.class_gap_ms) for line in laps["3"]} == {(1, 0)}  # alone in Am
    assert all(line.laps_down == 0 for car in laps.values() for line in car)


def test_pit_laps_flags_and_drivers_of_each_lap() -> None:
    _, analysis = race()
    car1 = next(car for car in analysis.cars if car.number == "1")
    assert [line.in_lap for line in car1.laps] == [False, False, True, False, False, False]
    assert [line.out_lap for line in car1.laps] == [False, False, False, True, False, False]
    assert car1.laps[3].pit_ms == 39_000  # pit in at its in-lap's crossing, 301 s; out at 340 s
    assert [line.neutralised for line in car1.laps] == [False, False, True, True, False, False]
    flags = [Flag.GREEN, Flag.GREEN, Flag.FULL_COURSE_YELLOW, Flag.GREEN, Flag.GREEN, Flag.CHEQUERED]
    assert [line.flag for line in car1.laps] == flags  # its last lap ends after the leader took the flag
    assert [line.driver for line in car1.laps] == ["A. One"] * 3 + ["A. Two"] * 3
    car3 = next(car for car in analysis.cars if car.number == "3")
    assert [line.neutralised for line in car3.laps] == [False, False, True, True, False, False]  # 315 s < 320 s


def test_stints_with_their_pace_and_the_pit_summary() -> None:
    """Car 1's clean laps: 100.0 and 100.5 s in its first stint (lap 3 is its in-lap, under yellow), 99.0 and
    99.5 s in its second (lap 4 its out-lap)."""
    _, analysis = race()
    car1, car2, car3 = (next(c for c in analysis.cars if c.number == n) for n in ("1", "2", "3"))
    assert car1.stints == [
        StintLine(
            driver="A. One",
            from_lap=1,
            laps=3,
            start=T0,
            end=T0 + 301_000,
            time_ms=301_000,
            best_ms=100_000,
            average_ms=100_250,
        ),
        StintLine(
            driver="A. Two",
            from_lap=4,
            laps=3,
            start=T0 + 340_000,
            end=None,
            time_ms=288_500,
            best_ms=99_000,
            average_ms=99_250,
        ),
    ]
    assert len(car2.stints) == len(car3.stints) == 1
    assert car1.stops == [
        PitStopLine(
            lap=3, pit_in=T0 + 301_000, pit_out=T0 + 340_000, lane_ms=39_000, driver_in="A. One", driver_out="A. Two"
        )
    ]
    assert car1.pit_time_ms == 39_000
    assert car2.stops == car3.stops == []


def test_drive_times_against_the_rules_minimum_and_maximum() -> None:
    """300 s to 600 s each: A. One drove 301 s (start to pit in), A. Two 288.5 s; B. Two and C. Two never drove."""
    _, analysis = race()
    assert (analysis.min_drive_ms, analysis.max_drive_ms) == (300_000, 600_000)
    times = {
        (car.number, t.driver): (t.ms, t.laps, t.stints, t.verdict) for car in analysis.cars for t in car.drive_times
    }
    assert times[("1", "A. One")] == (301_000, 3, 1, DriveVerdict.OK)
    assert times[("1", "A. Two")] == (288_500, 3, 1, DriveVerdict.SHORT)
    assert times[("2", "B. One")] == (603_500, 6, 1, DriveVerdict.OVER)
    assert times[("2", "B. Two")] == (0, 0, 0, DriveVerdict.SHORT)
    assert times[("3", "C. One")][3] is DriveVerdict.OVER


def test_fastest_lap_sequence_in_the_order_the_laps_were_set() -> None:
    _, analysis = race()
    assert analysis.fastest_laps == [
        FastestLapChange(
            at=T0 + 100_000, number="1", class_name="Pro", driver="A. One", lap=1, ms=100_000, overall=True
        ),
        FastestLapChange(
            at=T0 + 105_000, number="3", class_name="Am", driver="C. One", lap=1, ms=105_000, overall=False
        ),
        FastestLapChange(
            at=T0 + 200_000, number="2", class_name="Pro", driver="B. One", lap=2, ms=99_200, overall=True
        ),
        FastestLapChange(
            at=T0 + 529_000, number="1", class_name="Pro", driver="A. Two", lap=5, ms=99_000, overall=True
        ),
    ]


def test_best_sectors_per_car_overall_and_by_class() -> None:
    _, analysis = race()
    assert analysis.best_sectors == [
        SectorBest(sector=1, number="1", class_name="Pro", driver="A. Two", lap=5, ms=32_900),
        SectorBest(sector=2, number="1", class_name="Pro", driver="A. One", lap=2, ms=33_000),
        SectorBest(sector=3, number="1", class_name="Pro", driver="A. Two", lap=5, ms=32_900),
    ]
    assert analysis.class_best_sectors == analysis.best_sectors  # car 3 has no sector times
    car2 = next(c for c in analysis.cars if c.number == "2")
    assert [(t.ms, t.lap) for t in car2.best_sectors if t is not None] == [(33_000, 2), (33_100, 2), (33_100, 2)]


def test_a_deleted_lap_is_no_best_and_the_live_analyst_places_every_lap_anew() -> None:
    w = SessionWriter()
    events = hand_race(w)
    analyst = SessionAnalyst(SessionFold(w.session))
    for seq, event in enumerate(events, start=1):
        assert analyst.apply(seq, event) is None
    placed = analyst.take()
    assert placed is not None
    crossed = [(e.body.number, e.body.lap) for e in events if isinstance(e.body, LapCompleted)]
    assert sorted((number, line.lap) for number, line in placed) == sorted(crossed)  # every lap, placed once
    deleted = w.event(LapDeleted(number="1", decision="D7", lap=5, reason="track limits"), 700_000)
    assert analyst.apply(len(events) + 1, deleted) is None
    assert analyst.take() is None  # a lap already placed changed: placed anew
    after = analyst.analysis()
    assert after == analysis_of(w, [*events, deleted])
    assert [c.ms for c in after.fastest_laps] == [100_000, 105_000, 99_200]
    assert not next(c for c in after.cars if c.number == "1").laps[4].valid
    assert after.best_sectors[0].ms == 33_000  # car 2's; car 1's 32.9 was on the deleted lap


def test_qualifying_ranks_by_best_lap_so_far() -> None:
    w = SessionWriter()
    analysis = analysis_of(w, qualifying_laps(w))
    laps = {car.number: [(line.position, line.gap_ms) for line in car.laps] for car in analysis.cars}
    assert laps["1"] == [(1, 0), (1, 0)]
    assert laps["2"] == [(2, 1_000), (1, 0)]
    assert laps["3"] == [(3, None), (3, None), (1, 0)]  # no valid time until lap 3: behind every timed car
    assert [(c.number, c.ms) for c in analysis.fastest_laps] == [
        ("1", 100_000),
        ("1", 99_500),
        ("2", 99_000),
        ("3", 98_000),
    ]
    assert [car.number for car in analysis.cars] == ["3", "2", "1"]


def test_series_points_carry_the_lap_and_its_marks() -> None:
    w = SessionWriter()
    analyst = SessionAnalyst(SessionFold(w.session))
    for seq, event in enumerate(hand_race(w), start=1):
        analyst.apply(seq, event)
    analyst.take()
    series = analyst.series()
    assert len(series.points) == 18
    assert [(p.number, p.lap) for p in series.points[:3]] == [("1", 1), ("2", 1), ("3", 1)]
    out_lap = next(p for p in series.points if (p.number, p.lap) == ("1", 4))
    assert out_lap.marks == LapMark.OUT_LAP | LapMark.NEUTRALISED
    assert [head.number for head in series.cars] == ["2", "1", "3"]
