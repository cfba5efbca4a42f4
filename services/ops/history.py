"""A session's classification history: every change of the order, with its sequence and time.

Pure: folds the session event by event and emits a :class:`Change` whenever a
car's position, laps or status changes. ``chequered export`` writes the
changes as JSON lines (one change a line) or CSV (one car a row).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator

import msgspec

from schemas.events import Event
from schemas.results import ClassifiedCar, Gap
from services.classification.fold import ClassificationProjection


class CarLine(msgspec.Struct, frozen=True, array_like=False):
    position: int
    class_position: int
    number: str
    class_name: str
    laps: int
    gap: Gap | None
    status: str
    state: str


class Change(msgspec.Struct, frozen=True):
    seq: int
    at: int
    cars: list[CarLine]


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


def history(
    events: Iterable[tuple[int, Event]], session_key: str, progress: Callable[[], None] | None = None
) -> Iterator[Change]:
    projection = ClassificationProjection()
    previous: list[tuple[int, str, int, str]] = []
    for seq, event in events:
        if progress is not None:
            progress()
        if event.session.key != session_key or projection.apply(seq, event) is not None:
            continue
        state = projection.sessions.get(session_key)
        if state is None or state.opened is None:
            continue
        cars = state.classification().cars
        order = [(c.position, c.number, c.laps, c.status.value) for c in cars]
        if order != previous:
            previous = order
            yield Change(seq, event.at, [_line(c) for c in cars])


def to_jsonl(changes: Iterable[Change]) -> Iterator[bytes]:
    encoder = msgspec.json.Encoder()
    for change in changes:
        yield encoder.encode(change) + b"\n"


CSV_COLUMNS = ("seq", "at", "position", "class_position", "number", "class", "laps", "gap_ms", "gap_laps", "status")


def to_csv(changes: Iterable[Change]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for change in changes:
        for car in change.cars:
            gap = car.gap or Gap()
            writer.writerow(
                (change.seq, change.at, car.position, car.class_position, car.number, car.class_name, car.laps,
                 gap.ms if car.gap else "", gap.laps if car.gap else "", car.status)
            )  # fmt: skip
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
