"""Deltas between two values of a session's classification, and applying one: pure functions over Structs.

A delta (:class:`~services.gateway.messages.Update`) carries the session-level fields whole, the car rows
that differ (compared by their msgspec encoding) or are new, and the numbers of the cars that left.
Applying it to the value it was computed from gives back, field for field, the newer value.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping

import msgspec

from schemas.results import Classification, ClassifiedCar
from services.gateway.messages import Update

_encode = msgspec.json.Encoder().encode


def head_of(value: Classification) -> Classification:
    """The session-level fields of ``value``: the value without its rows."""
    return msgspec.structs.replace(value, cars=[])


def in_position_order(cars: list[ClassifiedCar]) -> bool:
    """Whether ``cars`` is what applying a delta rebuilds: positions strictly increasing, numbers unique."""
    positions = [car.position for car in cars]
    return all(a < b for a, b in itertools.pairwise(positions)) and len({car.number for car in cars}) == len(cars)


def encoded_rows(value: Classification) -> dict[str, bytes]:
    """Each row of ``value`` by car number, encoded: what the next delta compares against."""
    return {car.number: _encode(car) for car in value.cars}


def delta(
    previous: Classification, before: Mapping[str, bytes], current: Classification
) -> tuple[Update | None, dict[str, bytes]]:
    """The delta that turns ``previous`` (whose rows encode to ``before``) into ``current``, and the encoded
    rows of ``current`` for the next one: each row is encoded once. The delta is None when ``current``
    cannot be sent as one (its rows are not in strict position order or repeat a number: send a snapshot)."""
    after = encoded_rows(current)
    if not in_position_order(current.cars):
        return None, after
    changed = [car for car in current.cars if before.get(car.number) != after[car.number]]
    removed = [number for number in before if number not in after]
    update = Update(
        seq=current.last_seq, base_seq=previous.last_seq, head=head_of(current), cars=changed, removed=removed
    )
    return update, after


def diff(previous: Classification, current: Classification) -> Update | None:
    """:func:`delta` of two values."""
    return delta(previous, encoded_rows(previous), current)[0]


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
