"""The classification history ``chequered export`` writes: what changed, event by event; and the stints and stops a
classification at every event reuses (built once, equal to building them anew)."""

from __future__ import annotations

import csv
import io

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.events import (
    CarRetired,
    DriverChanged,
    Event,
    Flag,
    FlagChanged,
    PenaltyIssued,
    PenaltyKind,
    PitIn,
    PitOut,
    SessionFinished,
    SessionStarted,
)
from services.classification.fold import fold_log, fold_until
from services.ops.history import CHANGES_CSV_COLUMNS, FIELDS, CarLine, Delta, changes, history, to_csv, to_jsonl
from tests.factory import SessionWriter

CLASSES = ("Pro", "Am")


@st.composite
def races(draw: st.DrawFn) -> list[Event]:
    """1-6 cars lapping with their own times; some pit (and change driver), retire, get a penalty; a flag or two;
    the chequered flag, or not."""
    w = SessionWriter()
    cars = draw(st.integers(1, 6))
    events = [w.opened(time_ms=draw(st.integers(200_000, 700_000)))]
    events += [w.entry(str(n), CLASSES[n % 2]) for n in range(1, cars + 1)]
    events.append(w.event(SessionStarted(), 0))
    timed = []
    for n in range(1, cars + 1):
        at = 0
        laps = draw(st.lists(st.integers(90_000, 110_000), max_size=7))
        pit = draw(st.integers(0, len(laps)))
        for lap, lap_time in enumerate(laps, start=1):
            at += lap_time
            timed.append(w.lap(str(n), lap, at, lap_time_ms=lap_time))
            if lap == pit:
                timed.append(w.event(PitIn(number=str(n)), at + 1))
                timed.append(w.event(DriverChanged(number=str(n), driver=f"Driver {n}b"), at + 2))
                timed.append(w.event(PitOut(number=str(n)), at + 30_000))
        if draw(st.booleans()) and laps:
            timed.append(w.event(CarRetired(number=str(n)), at + 5))
    if draw(st.booleans()):
        timed.append(w.event(FlagChanged(flag=Flag.SAFETY_CAR), draw(st.integers(1, 500_000))))
    if draw(st.booleans()):
        penalty = PenaltyIssued(number="1", decision="D1", kind=PenaltyKind.TIME, time_ms=draw(st.integers(1, 60_000)))
        timed.append(w.event(penalty, draw(st.integers(1, 800_000))))
    if draw(st.booleans()):
        timed.append(w.event(SessionFinished(), draw(st.integers(200_000, 800_000))))
    return events + sorted(timed, key=lambda e: (e.at, e.id))


def lines_after(pairs: list[tuple[int, Event]], seq: int) -> dict[str, CarLine]:
    """Every car's exported fields after event ``seq``, from a fold of the log up to it."""
    state = next(iter(fold_until(pairs, seq=seq).sessions.values()))
    return {
        car.number: CarLine(
            car.position, car.class_position, car.number, car.class_name, car.laps, car.gap, car.status.value,
            car.state.value,
        )
        for car in state.classification().cars
    }  # fmt: skip


@settings(max_examples=100, deadline=None)
@given(races())
def test_the_changes_add_up_to_the_classification_after_every_event(events: list[Event]) -> None:
    pairs = list(enumerate(events, start=1))
    key = events[0].session.key
    built: dict[str, CarLine] = {}
    steps = list(changes(pairs, key))
    for step in steps:
        for change in step.cars:
            before = built.get(change.line.number)
            assert change.fields, "a car is listed only when something changed"
            if before is not None:
                assert change.fields == tuple(f for f in FIELDS if getattr(before, f) != getattr(change.line, f))
            built[change.line.number] = change.line
        assert built == lines_after(pairs, step.seq)
    silent = {seq for seq, _ in pairs} - {step.seq for step in steps}
    for seq in silent:  # an event with no step changed nothing
        if seq < 2:
            continue
        assert lines_after(pairs, seq) == lines_after(pairs, seq - 1)


def test_a_change_line_names_only_the_fields_that_changed() -> None:
    w = SessionWriter()
    events = [w.opened(), w.entry("1"), w.entry("2"), w.event(SessionStarted(), 0)]
    events += [w.lap("1", 1, 100_000), w.lap("2", 1, 100_500), w.lap("2", 2, 199_000), w.lap("1", 2, 201_000)]
    lines = [
        msgspec.json.decode(line, type=Delta) for line in to_jsonl(changes(enumerate(events, start=1), w.session.key))
    ]
    assert lines[0].cars["1"].laps == 0 and lines[0].cars["1"].state == "not_started"  # new: every field
    overtake = lines[-2]  # car 2 completes lap 2 first: it leads
    assert set(overtake.cars) == {"1", "2"}
    assert msgspec.json.encode(overtake.cars["2"]) == b'{"position":1,"class_position":1,"laps":2,"gap":null}'
    # passed between two lines: level at the line until it crosses again (gaps at the line), not "+1 lap"
    assert msgspec.json.encode(overtake.cars["1"]) == b'{"position":2,"class_position":2,"gap":{}}'


def test_csv_of_the_changes_has_a_row_per_car_that_changed() -> None:
    w = SessionWriter()
    events = [w.opened(), w.entry("1"), w.event(SessionStarted(), 0), w.lap("1", 1, 100_000)]
    rows = list(csv.DictReader(io.StringIO("".join(to_csv(changes(enumerate(events, start=1), w.session.key))))))
    assert tuple(rows[0]) == CHANGES_CSV_COLUMNS
    assert [(r["seq"], r["number"], r["changed"]) for r in rows] == [("2", "1", "new"), ("4", "1", "laps state")]


def test_the_changes_are_a_small_part_of_the_full_export() -> None:
    w = SessionWriter()
    events = [w.opened(), *[w.entry(str(n)) for n in range(1, 21)], w.event(SessionStarted(), 0)]
    events += [w.lap(str(n), lap, lap * 100_000 + n * 300) for lap in range(1, 21) for n in range(1, 21)]
    pairs = list(enumerate(events, start=1))
    full = sum(len(chunk) for chunk in to_jsonl(history(pairs, w.session.key)))
    changed = sum(len(chunk) for chunk in to_jsonl(changes(pairs, w.session.key)))
    assert changed * 5 < full


@settings(max_examples=100, deadline=None)
@given(races(), st.data())
def test_stints_and_stops_built_once_equal_building_them_anew(events: list[Event], data: st.DataObject) -> None:
    """A car's stints and pit stops, asked for after every event (as an export asks), equal those of a fresh fold
    of the same events asked once, for any number of laps counted."""
    pairs = list(enumerate(events, start=1))
    asked = fold_log([])
    for seq, event in pairs:
        asked.apply(seq, event)
        for number, car in next(iter(asked.sessions.values())).cars.items():
            upto = data.draw(st.integers(0, len(car.crossings)))
            fresh = next(iter(fold_log(pairs[:seq]).sessions.values())).cars[number]
            assert car.stints(upto) == fresh.stints(upto)
            assert car.pit_stops() == fresh.pit_stops()
