"""The classification fold, by hand-made scenarios."""

from __future__ import annotations

import msgspec
import pytest

from schemas.events import CarRetired, DriverChanged, Flag, FlagChanged, PitIn, PitOut, SessionFinished, SessionStarted
from schemas.results import CarState, Gap, SessionPhase, encode_classification
from services.classification.errors import FoldError
from services.classification.fold import ClassificationProjection, SessionFold, fold_log
from tests.factory import SessionWriter, session_fold


@pytest.fixture
def w() -> SessionWriter:
    return SessionWriter()


def grid(w: SessionWriter) -> list:  # type: ignore[type-arg]
    return [
        w.opened(),
        w.entry("1", "Pro"),
        w.entry("2", "Pro"),
        w.entry("3", "Am"),
        w.entry("4", "Am"),
        w.event(SessionStarted(), 0),
    ]


def test_more_laps_first_then_earlier_crossing(w: SessionWriter) -> None:
    events = [
        *grid(w),
        w.lap("2", 1, 100_000),
        w.lap("1", 1, 100_500),
        w.lap("3", 1, 103_000),
        w.lap("2", 2, 200_000),
        w.lap("4", 1, 104_000),
    ]
    cars = session_fold(events).classification().cars
    assert [c.number for c in cars] == ["2", "1", "3", "4"]
    assert [c.position for c in cars] == [1, 2, 3, 4]
    assert [c.class_position for c in cars] == [1, 2, 1, 2]
    leader, second, third, fourth = cars
    assert leader.gap is None and leader.interval is None
    # the leader crossed for its second lap after #1 crossed for its first: 0.5 s at the line, not a lap
    assert second.gap == Gap(ms=500) and second.interval == Gap(ms=500)
    assert third.gap == Gap(ms=3_000) and third.interval == Gap(ms=2_500)
    assert fourth.class_gap == Gap(ms=1_000) and fourth.class_interval == Gap(ms=1_000)
    assert third.class_gap is None


def test_a_car_is_a_lap_down_only_when_the_leader_had_more_laps_as_it_crossed(w: SessionWriter) -> None:
    """#2 crosses the line after #1 had already completed one lap more: +1 lap; #3 has not crossed since #1 went
    two laps ahead (stopped on the circuit): +1 lap while it runs, and its laps down count once it retires."""
    events = [
        *grid(w),
        w.lap("1", 1, 50_000, lap_time_ms=50_000),
        w.lap("3", 1, 60_000, lap_time_ms=60_000),
        w.lap("1", 2, 100_000, lap_time_ms=50_000),
        w.lap("2", 1, 100_500, lap_time_ms=100_500),
        w.lap("1", 3, 150_000, lap_time_ms=50_000),
    ]
    cars = {c.number: c for c in session_fold(events).classification().cars}
    assert cars["2"].gap == Gap(laps=1)
    assert cars["3"].gap == Gap(laps=1)
    retired = session_fold([*events, w.event(CarRetired(number="3"), 151_000)]).classification().cars
    assert next(c for c in retired if c.number == "3").gap == Gap(laps=2)


def test_gap_on_the_same_lap_is_the_difference_of_crossing_times(w: SessionWriter) -> None:
    events = [*grid(w), w.lap("1", 1, 100_000), w.lap("2", 1, 100_250), w.lap("3", 1, 101_000)]
    cars = session_fold(events).classification().cars
    assert cars[1].gap == Gap(ms=250)
    assert cars[2].gap == Gap(ms=1_000) and cars[2].interval == Gap(ms=750)


def test_laps_arriving_in_any_order_give_the_same_classification(w: SessionWriter) -> None:
    laps = [w.lap("1", 1, 100_000), w.lap("2", 1, 100_250), w.lap("3", 1, 101_000), w.lap("1", 2, 200_000)]
    base = grid(w)
    forward = session_fold([*base, *laps]).classification().cars
    backward = session_fold([*base, *reversed(laps[:3]), laps[3]]).classification().cars
    assert forward == backward


def test_best_and_last_lap(w: SessionWriter) -> None:
    events = [
        *grid(w),
        w.lap("1", 1, 101_000, lap_time_ms=101_000),
        w.lap("1", 2, 200_500, lap_time_ms=99_500),
        w.lap("1", 3, 300_700, lap_time_ms=100_200),
    ]
    car = session_fold(events).classification().cars[0]
    assert (car.last_lap_ms, car.best_lap_ms, car.best_lap, car.laps) == (100_200, 99_500, 2, 3)


def test_pit_stop_counted_once_whether_from_in_lap_or_pit_in(w: SessionWriter) -> None:
    events = [
        *grid(w),
        w.lap("1", 1, 100_000, in_pit=True),
        w.event(PitIn(number="1"), 100_100),
        w.event(DriverChanged(number="1", driver="B. Second"), 120_000),
        w.event(PitOut(number="1"), 160_000),
    ]
    state = session_fold(events)
    car = state.classification().cars[0]
    assert car.pit_stops == 1 and car.state is CarState.OUT_LAP and car.driver == "B. Second"
    state.apply(100, w.lap("1", 2, 260_000))
    assert state.classification().cars[0].state is CarState.RUNNING
    state.apply(101, w.event(PitIn(number="1"), 300_000))
    car = state.classification().cars[0]
    assert car.pit_stops == 2 and car.state is CarState.IN_PIT


def test_retired_car_keeps_its_laps(w: SessionWriter) -> None:
    events = [*grid(w), w.lap("3", 1, 100_000), w.event(CarRetired(number="3", reason="gearbox"), 150_000)]
    car = next(c for c in session_fold(events).classification().cars if c.number == "3")
    assert car.state is CarState.RETIRED and car.laps == 1


def test_chequered_flag_finishes_each_car_at_its_next_crossing(w: SessionWriter) -> None:
    events = [
        *grid(w),
        w.lap("1", 1, 100_000),
        w.lap("2", 1, 101_000),
        w.lap("3", 1, 105_000),
        w.lap("1", 2, 200_000),
        w.event(SessionFinished(), 200_000),
        w.lap("1", 3, 300_000),  # after its flag: does not count
        w.lap("2", 2, 201_000),
    ]
    state = session_fold(events)
    result = state.classification()
    one, two, three = result.cars[:3]
    assert (one.number, one.laps, one.state) == ("1", 2, CarState.FINISHED)
    assert (two.number, two.laps, two.state) == ("2", 2, CarState.FINISHED)
    assert three.state is CarState.RUNNING
    assert result.phase is SessionPhase.FINISHING and result.flag is Flag.CHEQUERED
    state.apply(100, w.lap("3", 2, 206_000))  # car 4 never started: it does not hold the finish up
    assert state.classification().phase is SessionPhase.FINISHED


def test_flag_event_before_the_leaders_lap_at_the_same_instant(w: SessionWriter) -> None:
    events = [*grid(w)[:3], w.event(SessionStarted(), 0), w.lap("1", 1, 100_000), w.event(SessionFinished(), 200_000)]
    events += [w.lap("1", 2, 200_000), w.lap("2", 1, 210_000)]
    result = session_fold(events).classification()
    assert [c.state for c in result.cars] == [CarState.FINISHED, CarState.FINISHED]
    assert result.phase is SessionPhase.FINISHED


def test_local_yellow_does_not_change_the_session_flag(w: SessionWriter) -> None:
    events = [
        *grid(w),
        w.event(FlagChanged(flag=Flag.YELLOW, sector=2), 10),
        w.event(FlagChanged(flag=Flag.SAFETY_CAR), 20),
    ]
    assert session_fold(events).classification().flag is Flag.SAFETY_CAR


def test_duplicate_and_replayed_events_change_nothing(w: SessionWriter) -> None:
    events = [*grid(w), w.lap("1", 1, 100_000), w.lap("2", 1, 100_500)]
    state = session_fold(events)
    before = encode_classification(state.classification())
    assert state.apply(len(events) + 1, events[-1]) is False  # same producer:id, new sequence
    assert state.apply(3, events[2]) is False  # a sequence already folded
    after = state.classification()
    assert after.cars == msgspec.json.decode(before, type=type(after)).cars


def test_refused_event_leaves_the_state_untouched(w: SessionWriter) -> None:
    events = [*grid(w), w.lap("1", 1, 100_000)]
    projection = fold_log(enumerate(events, start=1))
    before = encode_classification(projection.sessions[w.session.key].classification())
    refused = projection.apply(50, w.lap("99", 1, 100_000))
    assert refused is not None and "car #99 is not registered" in refused.reason
    refused = projection.apply(51, w.lap("1", 1, 190_000))
    assert refused is not None and "does not follow" in refused.reason
    assert encode_classification(projection.sessions[w.session.key].classification()) == before


def test_events_before_the_session_is_opened_are_refused() -> None:
    w = SessionWriter()
    projection = ClassificationProjection()
    refused = projection.apply(1, w.entry("1"))
    assert refused is not None and "never opened" in refused.reason
    assert w.session.key not in projection.sessions


def test_undecodable_message_is_refused_with_the_reason() -> None:
    projection = ClassificationProjection()
    key, refused = projection.apply_raw(1, "chequered.events.a.b.c", b'{"id": 1}')
    assert key is None and refused is not None and "undecodable" in refused.reason


def test_event_on_the_wrong_subject_is_refused(w: SessionWriter) -> None:
    from schemas.events import encode_event

    projection = ClassificationProjection()
    _, refused = projection.apply_raw(1, "chequered.events.x.y.z", encode_event(w.opened()))
    assert refused is not None and "stored on subject" in refused.reason


def test_fold_error_is_raised_by_the_session_fold(w: SessionWriter) -> None:
    state = SessionFold(w.session)
    with pytest.raises(FoldError):
        state.apply(1, w.entry("1"))
