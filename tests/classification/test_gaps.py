"""Gaps and intervals at the line (issue 20): a car is "+N laps" only when it is N laps down.

The rule, checked here against the raw crossings of each log rather than the fold's own state: when a car
last crossed the line, how many laps had the car ahead completed? More than the car: it is that many laps down
(or, while it still runs, the car ahead is more than a lap ahead now: it stopped on the circuit). Otherwise
the gap is a time, the difference of their race times at the lap count both have completed. The gap taken
before the car behind crosses used to read "+1 lap" for every car on the lead lap, once a lap.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.events import CarRetired, Event, LapCompleted, SessionFinished, SessionLength, SessionRef, SessionStarted
from schemas.results import CarState, Classification, ClassifiedCar, Gap, SessionPhase
from services.classification.fold import ClassificationProjection
from services.feeds.alkamel.options import AlKamelOptions
from services.feeds.alkamel.parser import parse_analysis
from services.simulator.endurance import RaceSpec, simulate
from tests.factory import SessionWriter, drawn_laps, started_grid
from tests.recordings import recording


def replay(events: Iterable[Event]) -> Iterable[tuple[Event, Classification, dict[str, list[int]]]]:
    """Each lap event of the log, the classification once it is folded, and every car's crossings by then."""
    projection = ClassificationProjection()
    crossings: dict[str, list[int]] = {}
    for seq, event in enumerate(events, start=1):
        assert projection.apply(seq, event) is None
        if isinstance(event.body, LapCompleted):
            crossings.setdefault(event.body.number, []).append(event.at)
            yield event, projection.sessions[event.session.key].classification(), crossings


def pairs(classification: Classification) -> Iterable[tuple[ClassifiedCar, ClassifiedCar, Gap | None]]:
    """(car, the car it is measured against, the gap shown): to the leader and to the car ahead, overall and in
    each class."""
    leaders: dict[str, ClassifiedCar] = {}
    ahead_in: dict[str, ClassifiedCar] = {}
    previous = None
    for car in classification.cars:
        if previous is not None:
            yield car, classification.cars[0], car.gap
            yield car, previous, car.interval
        if car.class_name in leaders:
            yield car, leaders[car.class_name], car.class_gap
            yield car, ahead_in[car.class_name], car.class_interval
        leaders.setdefault(car.class_name, car)
        ahead_in[car.class_name] = car
        previous = car


def check_at_the_line(classification: Classification, crossings: dict[str, list[int]]) -> None:
    """Every gap in laps is backed by the crossings, and every car lapped at the line shows it in laps; a car
    that will not cross again (it took the flag or retired, or the race is over) is as many laps down as it
    has fewer laps."""
    finished = classification.phase is SessionPhase.FINISHED
    for car, ahead, gap in pairs(classification):
        if car.laps == 0 or ahead.laps < car.laps:
            continue
        assert gap is not None
        if finished or car.took_flag or car.state is CarState.RETIRED:
            assert gap.laps == ahead.laps - car.laps, (car.number, ahead.number, gap)
            continue
        mine = crossings[car.number]
        ahead_then = bisect_right(crossings[ahead.number][: ahead.laps], mine[car.laps - 1])
        if gap.laps:
            assert ahead_then >= car.laps + gap.laps or ahead.laps >= car.laps + gap.laps + 1, (
                f"#{car.number} shown +{gap.laps} lap(s) behind #{ahead.number}, which had {ahead_then} laps "
                f"when #{car.number} completed its {car.laps}th"
            )
        else:
            assert ahead_then <= car.laps, f"#{car.number} was lapped by #{ahead.number} at the line: {gap}"
            if car.status is ahead.status:  # a group of the result below (NC, DNF) may follow a car it beat
                assert gap.ms >= 0, f"#{car.number} shown ahead of #{ahead.number}, which it follows: {gap}"


@st.composite
def close_races(draw: st.DrawFn) -> list[Event]:
    """2-10 cars, 1-6 laps each of 90-95 s from a common start: nobody is ever a whole lap behind."""
    w = SessionWriter()
    cars = draw(st.integers(2, 10))
    laps = draw(st.integers(1, 6))
    lap_times = st.lists(st.integers(90_000, 95_000), min_size=laps, max_size=laps)
    return started_grid(w, cars) + drawn_laps(draw, w, cars, lap_times)


@settings(max_examples=100, deadline=None)
@given(close_races())
def test_no_gap_reads_in_laps_when_nobody_is_lapped(events: list[Event]) -> None:
    for _, classification, _ in replay(events):
        for _, _, gap in pairs(classification):
            assert gap is None or not gap.laps, gap


@st.composite
def races(draw: st.DrawFn) -> list[Event]:
    """2-8 cars of very different pace (laps of 40-200 s), 0-8 laps each, some retiring, a chequered flag
    sometimes: cars are lapped, some many times, some stop on the circuit."""
    w = SessionWriter()
    cars = draw(st.integers(2, 8))
    events = started_grid(w, cars)
    timed = []
    for n in range(1, cars + 1):
        at = 0
        for lap, lap_ms in enumerate(draw(st.lists(st.integers(40_000, 200_000), max_size=8)), start=1):
            at += lap_ms
            timed.append(w.lap(str(n), lap, at, lap_time_ms=lap_ms))
        if draw(st.booleans()):
            timed.append(w.event(CarRetired(number=str(n)), at + 1))
    if draw(st.booleans()):
        timed.append(w.event(SessionFinished(), draw(st.integers(100_000, 1_000_000))))
    return events + sorted(timed, key=lambda e: (e.at, e.id))


@settings(max_examples=150, deadline=None)
@given(races())
def test_gaps_in_laps_are_the_laps_down_at_the_line(events: list[Event]) -> None:
    for _, classification, crossings in replay(events):
        check_at_the_line(classification, crossings)


def test_a_car_passed_between_two_lines_is_level_until_it_crosses_again() -> None:
    """#2 passes #1 on lap 2 and crosses first: at the last line both crossed, #1 was 0.5 s ahead; until #1 crosses
    again it reads level with #2, neither "+1 lap" (the old reading) nor ahead of the car it follows."""
    w = SessionWriter()
    events = [w.opened(), w.entry("1"), w.entry("2"), w.event(SessionStarted(), 0)]
    events += [w.lap("1", 1, 100_000), w.lap("2", 1, 100_500), w.lap("2", 2, 199_000)]
    *_, (_, passed, _) = replay(events)
    assert [c.number for c in passed.cars] == ["2", "1"] and passed.cars[1].gap == Gap(ms=0)
    *_, (_, crossed, _) = replay([*events, w.lap("1", 2, 201_000)])
    assert crossed.cars[1].gap == Gap(ms=2_000)


def test_a_simulated_race_replayed_lap_by_lap() -> None:
    """Twenty cars in three classes for 40 minutes, pit stops, a safety car and retirements: after every lap."""
    events = simulate(RaceSpec(seed=3, cars=20, duration_ms=40 * 60_000))
    shown_laps = 0
    for _, classification, crossings in replay(events):
        check_at_the_line(classification, crossings)
        shown_laps += sum(1 for _, _, gap in pairs(classification) if gap is not None and gap.laps)
    assert shown_laps > 0, "the slower classes are lapped"


@pytest.mark.slow
def test_the_real_6_hours_of_fuji_replayed_lap_by_lap() -> None:
    """The official lap chart of the 2024 6 Hours of Fuji (every lap of 36 cars), classified after every lap."""
    chart = recording("alkamel", "wec-2024-fuji-6h.csv")
    session = SessionRef("wec", "fuji", "race")
    events = parse_analysis(
        chart,
        session,
        AlKamelOptions(name="6 Hours", time_zone="Asia/Tokyo", length=SessionLength(time_ms=6 * 3_600_000)),
    )
    for _, classification, crossings in replay(events):
        check_at_the_line(classification, crossings)
