"""Deltas between two values of a session's classification, and applying one: pure functions over Structs.

A delta (:class:`~services.gateway.messages.Update`) carries the session-level fields whole, the car rows
that differ (compared by their msgspec encoding) or are new, and the numbers of the cars that left.
Applying it to the value it was computed from gives back, field for field, the newer value.
"""

from __future__ import annotations

import itertools

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


def diff(previous: Classification, current: Classification) -> Update | None:
    """The delta that turns ``previous`` into ``current``; None when ``current`` cannot be sent as one
    (its rows are not in strict position order or repeat a number: send it as a snapshot)."""
    if not in_position_order(current.cars):
        return None
    before = {car.number: _encode(car) for car in previous.cars}
    changed = [car for car in current.cars if before.get(car.number) != _encode(car)]
    numbers = {car.number for car in current.cars}
    removed = [number for number in before if number not in numbers]
    return Update(
        seq=current.last_seq, base_seq=previous.last_seq, head=head_of(current), cars=changed, removed=removed
    )


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
