"""A session's classification history: what changed, event by event. Pure.

The session is folded event by event with the projector's fold; after each event its cars are compared with
what they were, field by field (:data:`FIELDS`).

- :func:`changes` (``chequered export``, the default): one :class:`Step` per event that changed something,
  holding only the cars that changed and which of their fields did. A 24-hour race is a few megabytes.
- :func:`history` (``export --full``): the whole order (every car) at each change of the order (a car's position,
  laps or status), as the command wrote before.

Each is written as JSON lines (:func:`to_jsonl`), CSV (:func:`to_csv`) or a text table (:func:`to_table`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator
from typing import NamedTuple

import msgspec

from schemas.events import Event
from schemas.results import ClassifiedCar, Gap
from services.classification.fold import ClassificationProjection
from services.classification.tabular import gap_cells
from services.classification.timefmt import format_clock, format_gap


class CarLine(msgspec.Struct, frozen=True):
    position: int
    class_position: int
    number: str
    class_name: str
    laps: int
    gap: Gap | None
    status: str
    state: str


FIELDS = tuple(name for name in CarLine.__struct_fields__ if name != "number")
"""The fields of a car whose changes are exported (the number is who the car is)."""


class Change(msgspec.Struct, frozen=True):
    """``--full``: every car, at a change of the order."""

    seq: int
    at: int
    cars: list[CarLine]


class CarDelta(msgspec.Struct, frozen=True):
    """A car's fields that changed, with their new values; the others are left out."""

    position: int | msgspec.UnsetType = msgspec.UNSET
    class_position: int | msgspec.UnsetType = msgspec.UNSET
    class_name: str | msgspec.UnsetType = msgspec.UNSET
    laps: int | msgspec.UnsetType = msgspec.UNSET
    gap: Gap | msgspec.UnsetType | None = msgspec.UNSET
    status: str | msgspec.UnsetType = msgspec.UNSET
    state: str | msgspec.UnsetType = msgspec.UNSET


class Delta(msgspec.Struct, frozen=True):
    """One JSON line of the default export: the event (stream sequence, instant) and the cars it changed."""

    seq: int
    at: int
    cars: dict[str, CarDelta]


class CarChange(NamedTuple):
    line: CarLine
    fields: tuple[str, ...]
    """Which of :data:`FIELDS` changed (all of them when the car first appears)."""

    @property
    def changed(self) -> str:
        """The changed fields as CSV and the table write them: ``new`` when the car first appears."""
        return "new" if self.fields is FIELDS else " ".join(self.fields)


class Step(NamedTuple):
    seq: int
    at: int
    cars: list[CarChange]


class _Folded(NamedTuple):
    seq: int
    at: int
    lines: list[CarLine]


def _line(car: ClassifiedCar) -> CarLine:
    return CarLine(
        car.position,
        car.class_position,
        car.number,
        car.class_name,
        car.laps,
        car.gap,
        car.status.value,
        car.state.value,
    )


def _folded(
    events: Iterable[tuple[int, Event]], session_key: str, progress: Callable[[], None] | None
) -> Iterator[_Folded]:
    """The session's cars after each event of it the fold applied."""
    projection = ClassificationProjection()
    for seq, event in events:
        if progress is not None:
            progress()
        if event.session.key != session_key or projection.apply(seq, event) is not None:
            continue
        state = projection.sessions.get(session_key)
        if state is None or state.opened is None:
            continue
        yield _Folded(seq, event.at, [_line(c) for c in state.classification().cars])


def changes(
    events: Iterable[tuple[int, Event]], session_key: str, progress: Callable[[], None] | None = None
) -> Iterator[Step]:
    """A step per event that changed a car's fields, with only the cars that changed."""
    before: dict[str, CarLine] = {}
    for folded in _folded(events, session_key, progress):
        changed = []
        for line in folded.lines:
            old = before.get(line.number)
            if old != line:
                fields = FIELDS if old is None else tuple(f for f in FIELDS if getattr(old, f) != getattr(line, f))
                changed.append(CarChange(line, fields))
                before[line.number] = line
        if changed:
            yield Step(folded.seq, folded.at, changed)


def history(
    events: Iterable[tuple[int, Event]], session_key: str, progress: Callable[[], None] | None = None
) -> Iterator[Change]:
    """``--full``: every car at each change of the order (position, number, laps or status)."""
    previous: list[tuple[int, str, int, str]] = []
    for folded in _folded(events, session_key, progress):
        order = [(c.position, c.number, c.laps, c.status) for c in folded.lines]
        if order != previous:
            previous = order
            yield Change(folded.seq, folded.at, folded.lines)


def _delta(step: Step) -> Delta:
    return Delta(
        step.seq,
        step.at,
        {c.line.number: CarDelta(**{f: getattr(c.line, f) for f in c.fields}) for c in step.cars},
    )


def to_jsonl(items: Iterable[Change] | Iterable[Step]) -> Iterator[bytes]:
    encoder = msgspec.json.Encoder()
    for item in items:
        yield encoder.encode(_delta(item) if isinstance(item, Step) else item) + b"\n"


CSV_COLUMNS = ("seq", "at", "position", "class_position", "number", "class", "laps", "gap_ms", "gap_laps", "status")
"""``--full`` CSV: a row per car per change."""
CHANGES_CSV_COLUMNS = (
    "seq",
    "at",
    "number",
    "changed",
    "position",
    "class_position",
    "class",
    "laps",
    "gap_ms",
    "gap_laps",
    "status",
    "state",
)
"""Default CSV: a row per car that changed, with all its fields and which of them changed."""


def to_csv(items: Iterable[Change] | Iterable[Step]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    header = False
    for item in items:
        if not header:
            writer.writerow(CHANGES_CSV_COLUMNS if isinstance(item, Step) else CSV_COLUMNS)
            header = True
        if isinstance(item, Step):
            for change in item.cars:
                car = change.line
                writer.writerow(
                    (item.seq, item.at, car.number, change.changed, car.position, car.class_position,
                     car.class_name, car.laps, *gap_cells(car.gap), car.status, car.state)
                )  # fmt: skip
        else:
            for car in item.cars:
                writer.writerow(
                    (item.seq, item.at, car.position, car.class_position, car.number, car.class_name, car.laps,
                     *gap_cells(car.gap), car.status)
                )  # fmt: skip
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()


TABLE_HEADER = (
    f"{'seq':>8} {'time':>9} {'car':>5} {'pos':>4} {'class':<10} {'laps':>5} {'gap':>10} {'status':<20} changed"
)


def to_table(items: Iterable[Change] | Iterable[Step], started_at: int | None) -> Iterator[str]:
    """A text table, a line per car (that changed; every car with ``--full``); the time is the session time
    after ``started_at``, the green flag."""
    yield TABLE_HEADER + "\n"
    for item in items:
        cars = item.cars if isinstance(item, Step) else [CarChange(car, ()) for car in item.cars]
        clock = format_clock(item.at - started_at) if started_at is not None and item.at >= started_at else ""
        yield "".join(_table_line(item.seq, clock, change) for change in cars)


def _table_line(seq: int, clock: str, change: CarChange) -> str:
    car = change.line
    return (
        f"{seq:>8} {clock:>9} {car.number:>5} {car.position:>4} {car.class_name:<10} {car.laps:>5} "
        f"{format_gap(car.gap):>10} {car.status + '/' + car.state:<20} {change.changed}\n"
    )
