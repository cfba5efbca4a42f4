"""Properties of the classification fold over generated races (hypothesis)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.events import Event, SessionStarted
from schemas.results import encode_classification
from services.classification.fold import fold_log
from tests.factory import SessionWriter, classify, drawn_laps

CLASSES = ("Pro", "Pro-Am", "Am")


@st.composite
def races(draw: st.DrawFn) -> list[Event]:
    """A session of 1-12 cars, each with its own lap times, merged in timing-clock order."""
    w = SessionWriter()
    cars = draw(st.integers(1, 12))
    events = [w.opened()]
    events += [w.entry(str(n), CLASSES[draw(st.integers(0, 2))]) for n in range(1, cars + 1)]
    events.append(w.event(SessionStarted(), 0))
    return events + drawn_laps(draw, w, cars, st.lists(st.integers(90_000, 95_000), max_size=6))


def encoded(events: list[Event]) -> bytes:
    return encode_classification(classify(events))


@settings(max_examples=150, deadline=None)
@given(races())
def test_positions_are_a_permutation_and_class_positions_follow_overall_order(events: list[Event]) -> None:
    result = classify(events)
    entries = {e.body.number for e in events if e.body.__class__.__name__ == "EntryRegistered"}  # type: ignore[union-attr]
    assert sorted(c.number for c in result.cars) == sorted(entries)
    assert [c.position for c in result.cars] == list(range(1, len(entries) + 1))
    for cls in CLASSES:
        in_class = [c for c in result.cars if c.class_name == cls]
        assert [c.class_position for c in in_class] == list(range(1, len(in_class) + 1))
    laps = [c.laps for c in result.cars]
    assert laps == sorted(laps, reverse=True)


@settings(max_examples=100, deadline=None)
@given(races())
def test_folding_the_same_log_twice_gives_identical_bytes(events: list[Event]) -> None:
    assert encoded(events) == encoded(list(events))


@settings(max_examples=100, deadline=None)
@given(races(), st.data())
def test_duplicated_events_change_nothing(events: list[Event], data: st.DataObject) -> None:
    """Each duplicate is delivered again later in the stream (a producer retry, a replayed log)."""
    dupes = data.draw(st.lists(st.sampled_from(events), max_size=10))
    plain = classify(events)
    noisy_log = list(events)
    for dupe in dupes:
        noisy_log.insert(data.draw(st.integers(noisy_log.index(dupe) + 1, len(noisy_log))), dupe)
    noisy = fold_log(enumerate(noisy_log, start=1)).sessions[events[0].session.key].classification()
    assert noisy.cars == plain.cars


@settings(max_examples=100, deadline=None)
@given(races(), st.randoms(use_true_random=False))
def test_stream_order_of_different_cars_does_not_matter(events: list[Event], rnd) -> None:  # type: ignore[no-untyped-def]
    """Laps of different cars may arrive interleaved in any order; each car's own laps stay in order."""
    head = [e for e in events if e.body.__class__.__name__ != "LapCompleted"]
    laps = [e for e in events if e.body.__class__.__name__ == "LapCompleted"]
    queues: dict[str, list[Event]] = {}
    for lap in laps:
        queues.setdefault(lap.body.number, []).append(lap)  # type: ignore[union-attr]
    shuffled: list[Event] = []
    while queues:
        number = rnd.choice(sorted(queues))
        shuffled.append(queues[number].pop(0))
        if not queues[number]:
            del queues[number]
    a = classify(events)
    b = fold_log(enumerate(head + shuffled, start=1)).sessions[events[0].session.key].classification()
    assert a.cars == b.cars
