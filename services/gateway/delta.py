"""Deltas between two values of a session's classification, and applying one: pure functions over Structs.

A delta (:class:`~services.gateway.messages.Update`) carries the session-level fields whole, the car rows
that differ or are new, and the numbers of the cars that left. Applying it to the value it was computed from
gives back, field for field, the newer value.

A delta is made from the value as stored, without decoding it whole (the gateway takes every value of every
session, and decoding a 40-car value costs several times the rest): the rows are read as they were written
(:class:`msgspec.Raw`), each compared with the row at the same place in the value before, and only the rows
that differ are decoded, with the session-level fields (the value with its rows cut out). A row with the same
bytes at the same place is the same car unchanged (its number and position are in those bytes), so this finds
exactly the rows that changed; the others' numbers, positions and last crossings are those held from before.
"""

from __future__ import annotations

import itertools
from typing import NamedTuple

import msgspec

from schemas.results import Classification, ClassifiedCar, decode_classification, encode_classification
from services.gateway.messages import Update

_CARS = b'"cars":['
_row = msgspec.json.Decoder(ClassifiedCar).decode


class Stored(msgspec.Struct):
    """What is read of a stored value before anything is decoded: its sequence and its rows as written."""

    last_seq: int
    cars: list[msgspec.Raw]


read_stored = msgspec.json.Decoder(Stored).decode


class Rows(NamedTuple):
    """The rows of the last value, by place, as a delta needs them: as written, and each car's number, position
    and last crossing."""

    raw: list[msgspec.Raw]
    numbers: list[str]
    positions: list[int]
    crossings: list[int | None]

    @property
    def latest_crossing(self) -> int | None:
        """The latest crossing of any car (:func:`~services.classification.timefmt.latest_crossing`)."""
        return max((at for at in self.crossings if at is not None), default=None)


def rows_of(value: Classification, stored: Stored) -> Rows:
    """The rows of ``value``, decoded whole, whose stored form is ``stored``."""
    cars = value.cars
    return Rows(stored.cars, [c.number for c in cars], [c.position for c in cars], [c.last_crossing for c in cars])


def head_of(value: Classification) -> Classification:
    """The session-level fields of ``value``: the value without its rows."""
    return msgspec.structs.replace(value, cars=[])


def _in_position_order(positions: list[int], numbers: list[str]) -> bool:
    """Whether rows are what applying a delta rebuilds: positions strictly increasing, numbers unique."""
    return all(a < b for a, b in itertools.pairwise(positions)) and len(set(numbers)) == len(numbers)


def _stored_head(value: bytes, rows: list[msgspec.Raw]) -> Classification | None:
    """The value's session-level fields: the value with its rows cut out, decoded; None when its rows are not
    where a value written by msgspec has them (one after the other after ``"cars":[``, a comma between)."""
    start = value.find(_CARS)  # the first: no string holds an unescaped quote, no field before the rows is "cars"
    if start < 0:
        return None
    start += len(_CARS)
    end = start + sum(map(len, rows)) + max(0, len(rows) - 1)
    if value[end : end + 1] != b"]" or (rows and value[start : start + 1] != b"{"):
        return None
    try:
        head = decode_classification(value[:start] + value[end:])
    except msgspec.MsgspecError:
        return None
    return head if not head.cars else None


def delta(previous_seq: int, before: Rows, value: bytes, stored: Stored) -> tuple[Update, Rows] | None:
    """The delta that turns the value of ``previous_seq`` (whose rows are ``before``) into ``value`` (read as
    ``stored``), and the rows of ``value`` for the next one. None when ``value`` cannot be sent as one: its rows
    are not in strict position order or repeat a number, or are not where a value written by msgspec has them
    (decode it whole and send a snapshot). Raises ``msgspec.MsgspecError`` for a row that is no row."""
    head = _stored_head(value, stored.cars)
    if head is None:
        return None
    numbers, positions, crossings = [], [], []
    changed: list[ClassifiedCar] = []
    held = len(before.raw)
    for place, raw in enumerate(stored.cars):
        if place < held and raw == before.raw[place]:
            numbers.append(before.numbers[place])
            positions.append(before.positions[place])
            crossings.append(before.crossings[place])
            continue
        car = _row(raw)
        changed.append(car)
        numbers.append(car.number)
        positions.append(car.position)
        crossings.append(car.last_crossing)
    if not _in_position_order(positions, numbers):
        return None
    now = set(numbers)
    removed = [number for number in before.numbers if number not in now]
    update = Update(seq=stored.last_seq, base_seq=previous_seq, head=head, cars=changed, removed=removed)
    return update, Rows(stored.cars, numbers, positions, crossings)


def diff(previous: Classification, current: Classification) -> Update | None:
    """:func:`delta` of two values, as the projector writes them."""
    before, after = encode_classification(previous), encode_classification(current)
    found = delta(previous.last_seq, rows_of(previous, read_stored(before)), after, read_stored(after))
    return None if found is None else found[0]


def apply(held: Classification, update: Update) -> Classification:
    """``held`` (the value of ``update.base_seq``) with ``update`` applied: the value of ``update.seq``."""
    if held.last_seq != update.base_seq:
        raise ValueError(f"an update from seq {update.base_seq} does not apply to the value of seq {held.last_seq}")
    rows = {car.number: car for car in held.cars}
    for number in update.removed:
        rows.pop(number, None)
    for car in update.cars:
        rows[car.number] = car
    cars = sorted(rows.values(), key=lambda car: car.position)
    return msgspec.structs.replace(update.head, cars=cars)
