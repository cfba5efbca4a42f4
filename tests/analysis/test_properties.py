"""Properties of the analysis over generated races (hypothesis): the live analyst always ends where one pass over
the whole log ends, whatever the delivery order and whenever it is asked; positions are the order of crossing."""

from __future__ import annotations

import random

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.events import Event, Flag, FlagChanged, LapCompleted, LapDeleted, PitOut, SessionStarted
from services.analysis.analyst import SessionAnalyst, analyse
from services.classification.fold import SessionFold, fold_log
from tests.factory import SessionWriter, session_fold

CLASSES = ("Pro", "Am")


@st.composite
def races(draw: st.DrawFn) -> tuple[SessionWriter, list[Event]]:
    """1-8 cars, their laps (some in-laps with a pit exit during the next lap), yellow flags, and deleted laps
    decided after the race, in timing-clock order."""
    w = SessionWriter()
    cars = draw(st.integers(1, 8))
    events = [w.opened(), *[w.entry(str(n), CLASSES[draw(st.integers(0, 1))]) for n in range(1, cars + 1)]]
    events.append(w.event(SessionStarted(), 0))
    timed: list[Event] = []
    for n in range(1, cars + 1):
        at = 0
        times = draw(st.lists(st.integers(90_000, 99_000), max_size=7))
        for lap, lap_ms in enumerate(times, start=1):
            at += lap_ms
            in_pit = lap < len(times) and draw(st.booleans()) and draw(st.booleans())
            timed.append(w.lap(str(n), lap, at, lap_time_ms=lap_ms, in_pit=in_pit))
            if in_pit:
                timed.append(w.event(PitOut(number=str(n)), at + 20_000))
    for start in draw(st.lists(st.integers(1, 600_000), max_size=3, unique=True)):
        timed.append(w.event(FlagChanged(flag=Flag.FULL_COURSE_YELLOW), start))
        timed.append(w.event(FlagChanged(flag=Flag.GREEN), start + draw(st.integers(1_000, 200_000))))
    timed.sort(key=lambda e: (e.at, e.id))
    laps = sorted({(e.body.number, e.body.lap) for e in timed if isinstance(e.body, LapCompleted)})
    for i, (number, lap) in enumerate(draw(st.lists(st.sampled_from(laps), max_size=2, unique=True)) if laps else []):
        timed.append(w.event(LapDeleted(number=number, decision=f"D{i}", lap=lap), 800_000 + i))
    return w, events + timed


def delivered(events: list[Event], rnd: random.Random) -> list[Event]:
    """The same events, the cars' interleaved at random (a feed per car, say), each car's in order but for a pit
    exit now and then delivered after the lap it happened in."""
    head, rest = events[: events.index(next(e for e in events if isinstance(e.body, SessionStarted))) + 1], []
    queues: dict[str, list[Event]] = {}
    for event in events[len(head) :]:
        queue = queues.setdefault(getattr(event.body, "number", ""), [])
        late = queue and isinstance(queue[-1].body, PitOut) and isinstance(event.body, LapCompleted)
        queue.insert(len(queue) - 1 if late and rnd.random() < 0.5 else len(queue), event)
    while queues:
        key = rnd.choice(sorted(queues))
        rest.append(queues[key].pop(0))
        if not queues[key]:
            del queues[key]
    return head + rest


@settings(max_examples=120, deadline=None)
@given(races(), st.randoms(use_true_random=False), st.data())
def test_the_live_analyst_ends_where_one_pass_over_the_log_ends(race, rnd, data) -> None:  # type: ignore[no-untyped-def]
    w, events = race
    log = delivered(events, rnd)
    analyst = SessionAnalyst(SessionFold(w.session))
    for seq, event in enumerate(log, start=1):
        assert analyst.apply(seq, event) is None
        if data.draw(st.booleans()):
            analyst.take()
    analyst.take()
    whole = analyse(fold_log(enumerate(log, start=1)).sessions[w.session.key])
    assert msgspec.json.encode(analyst.analysis()) == msgspec.json.encode(whole)


@settings(max_examples=120, deadline=None)
@given(races())
def test_positions_are_the_order_each_lap_was_completed_and_gaps_are_to_the_first(race) -> None:  # type: ignore[no-untyped-def]
    _, events = race
    analysis = analyse(session_fold(events))
    by_lap: dict[int, list[tuple[int, str, int, int | None]]] = {}
    for car in analysis.cars:
        for line in car.laps:
            by_lap.setdefault(line.lap, []).append((line.at, car.number, line.position, line.gap_ms))
    for crossings in by_lap.values():
        crossings.sort()
        first = crossings[0][0]
        assert [position for _, _, position, _ in crossings] == list(range(1, len(crossings) + 1))
        assert [gap for _, _, _, gap in crossings] == [at - first for at, *_ in crossings]
