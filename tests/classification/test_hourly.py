"""The classification at every full hour: exactly time travel to each hour, in one pass or not."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.events import Event, PenaltyIssued, PenaltyKind, SessionRef, SessionStarted
from services.classification.fold import fold_until
from services.classification.hourly import HOUR_MS, MAX_HOURS, hourly
from tests.factory import SessionWriter

LAP = 600_000  # ten-minute laps: six an hour


@st.composite
def long_races(draw: st.DrawFn) -> list[Event]:
    """2-5 cars over up to 4 hours in time order; some laps, and a penalty, delivered late."""
    w = SessionWriter()
    cars = draw(st.integers(2, 5))
    events = [w.opened(time_ms=4 * HOUR_MS), *[w.entry(str(n)) for n in range(1, cars + 1)]]
    events.append(w.event(SessionStarted(), 0))
    laps = []
    for n in range(1, cars + 1):
        at = 0
        for lap in range(1, draw(st.integers(0, 26)) + 1):
            lap_ms = LAP + draw(st.integers(-30_000, 30_000))
            at += lap_ms
            laps.append(w.lap(str(n), lap, at, lap_time_ms=lap_ms))
    events += sorted(laps, key=lambda e: (e.at, e.id))
    if draw(st.booleans()) and laps:  # a car's laps from one on delivered late (its own laps stay in order)
        late = draw(st.sampled_from(laps))
        moved = [e for e in laps if e.body.number == late.body.number and e.at >= late.at]  # type: ignore[union-attr]
        events = [e for e in events if e not in moved] + moved
    if draw(st.booleans()):
        penalty = PenaltyIssued(number="1", decision="D1", kind=PenaltyKind.TIME, time_ms=30_000)
        events.append(w.event(penalty, draw(st.integers(0, 4 * HOUR_MS))))  # issued then, delivered last
    return events


@settings(max_examples=60, deadline=None)
@given(long_races())
def test_each_hour_is_time_travel_to_that_hour(events: list[Event]) -> None:
    pairs = list(enumerate(events, start=1))
    session = events[0].session
    result = hourly(pairs, session)
    assert result is not None
    started = next(e.at for e in events if isinstance(e.body, SessionStarted))
    for number, hour in enumerate(result.hours, start=1):
        assert (hour.hour, hour.at) == (number, started + number * HOUR_MS)
        expected = fold_until(pairs, at=hour.at).sessions[session.key].classification()
        assert [(r.number, r.position, r.laps, r.gap, r.state) for r in hour.cars] == [
            (c.number, c.position, c.laps, c.gap, c.state) for c in expected.cars
        ]
        assert hour.last_seq == expected.last_seq


def test_the_hours_run_to_the_chequered_flag_or_the_last_event() -> None:
    w = SessionWriter()
    events = [w.opened(time_ms=2 * HOUR_MS), w.entry("1"), w.event(SessionStarted(), 0)]
    events += [w.lap("1", lap, lap * LAP, lap_time_ms=LAP) for lap in range(1, 16)]  # 2.5 hours of laps
    result = hourly(list(enumerate(events, start=1)), w.session)
    assert result is not None
    assert [(h.hour, h.cars[0].laps) for h in result.hours] == [(1, 6), (2, 12)]  # the flag fell at 2 h
    running = hourly(list(enumerate(events[:12], start=1)), w.session)  # 9 laps so far: 1 h 30 min
    assert running is not None and [h.hour for h in running.hours] == [1]


def test_an_instant_far_ahead_cannot_ask_for_more_than_48_hours() -> None:
    """A glitching clock (a lap stamped in the year 3000) in a running race: the hours stop at 48."""
    w = SessionWriter()
    events = [w.opened(time_ms=6 * HOUR_MS), w.entry("1"), w.event(SessionStarted(), 0), w.lap("1", 1, LAP)]
    events.append(w.lap("1", 2, 32_503_680_000_000 - events[0].at))
    result = hourly(list(enumerate(events, start=1)), w.session)
    assert result is not None and [h.hour for h in result.hours] == list(range(1, MAX_HOURS + 1))


def test_a_session_never_opened_has_no_hourly_classification() -> None:
    assert hourly([], SessionRef("a", "b", "c")) is None
    w = SessionWriter()
    result = hourly([(1, w.opened()), (2, w.entry("1"))], w.session)
    assert result is not None and result.hours == [] and result.started_at is None
