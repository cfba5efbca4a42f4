"""The pure delta computation and application: every delta applied in order rebuilds each value exactly."""

from __future__ import annotations

import itertools
import random

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.results import Classification, ClassifiedCar, encode_classification
from services.classification.fold import ClassificationProjection
from services.gateway.delta import apply, diff, head_of
from services.gateway.messages import Update
from tests.factory import SessionWriter
from tests.gateway.races import broadcast_race

decode_update = msgspec.json.Decoder(Update).decode


def values_of_a_race() -> list[Classification]:
    """Each value of a broadcast race's classification, one per event, as the projector would write them."""
    w = SessionWriter()
    projection = ClassificationProjection()
    values = []
    for seq, event in enumerate(broadcast_race(w), 1):
        projection.apply(seq, event)
        values.append(projection.sessions[w.session.key].classification())
    return values


VALUES = values_of_a_race()


def test_the_head_carries_the_session_fields_and_no_rows() -> None:
    for previous, current in itertools.pairwise(VALUES):
        update = diff(previous, current)
        assert update is not None and update.head.cars == []
        assert msgspec.structs.replace(update.head, cars=current.cars) == current


def test_applying_every_delta_to_the_first_value_rebuilds_each_value_byte_for_byte() -> None:
    held = VALUES[0]
    sizes = []
    for previous, current in itertools.pairwise(VALUES):
        update = diff(previous, current)
        assert update is not None and update.base_seq == previous.last_seq and update.seq == current.last_seq
        wire = msgspec.json.encode(update)
        sizes.append((len(wire), len(encode_classification(current))))
        held = apply(held, decode_update(wire))  # as a client gets it: through JSON
        assert encode_classification(held) == encode_classification(current)
    running = [delta for delta, whole in sizes[-100:]]
    assert sum(running) < sum(whole for _, whole in sizes[-100:]) / 3, "a lap changes a few rows, not the field"


def test_an_unchanged_field_sends_no_rows() -> None:
    value = VALUES[-1]
    later = msgspec.structs.replace(value, last_seq=value.last_seq + 1)
    update = diff(value, later)
    assert update is not None and update.cars == [] and update.removed == [] and update.head == head_of(later)


def test_cars_leaving_joining_and_changing_places() -> None:
    rng = random.Random(3)
    value = VALUES[-1]
    held = value
    for step in range(1, 40):
        cars = list(value.cars)
        rng.shuffle(cars)
        cars = cars[: rng.randint(0, len(cars))]
        renumbered = [msgspec.structs.replace(car, position=i) for i, car in enumerate(cars, 1)]
        current = msgspec.structs.replace(value, last_seq=value.last_seq + step, cars=renumbered)
        update = diff(held, current)
        assert update is not None
        assert set(update.removed) == {c.number for c in held.cars} - {c.number for c in renumbered}
        held = apply(held, decode_update(msgspec.json.encode(update)))
        assert encode_classification(held) == encode_classification(current)


def test_a_delta_applies_only_to_the_value_it_was_computed_from() -> None:
    update = diff(VALUES[-2], VALUES[-1])
    assert update is not None
    with pytest.raises(ValueError, match="does not apply"):
        apply(VALUES[-3], update)


def test_rows_out_of_position_order_cannot_be_a_delta() -> None:
    value = VALUES[-1]
    swapped = msgspec.structs.replace(value, last_seq=value.last_seq + 1, cars=value.cars[::-1])
    assert diff(value, swapped) is None
    twice = msgspec.structs.replace(value, last_seq=value.last_seq + 1, cars=[value.cars[0], value.cars[0]])
    assert diff(value, twice) is None


NAMES = st.one_of(st.none(), st.text(max_size=12), st.sampled_from(['"cars":[', '"cars":[{}]', "]", "},{", "\\"]))


@st.composite
def variants(draw: st.DrawFn, value: Classification, seq: int) -> Classification:
    """``value`` with its cars in any order, some gone, positions that may skip numbers, any names of drivers and
    session (some spelled like the rows' key)."""
    cars: list[ClassifiedCar] = draw(st.permutations(value.cars))
    cars = cars[: draw(st.integers(0, len(cars)))]
    steps = draw(st.lists(st.integers(1, 3), min_size=len(cars), max_size=len(cars)))
    named = [
        msgspec.structs.replace(car, position=position, driver=draw(NAMES))
        for car, position in zip(cars, itertools.accumulate(steps), strict=True)
    ]
    name = draw(st.one_of(st.text(max_size=12), st.just('"cars":[{"number":"1"}]')))
    return msgspec.structs.replace(value, last_seq=seq, cars=named, name=name)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_any_value_deltas_to_any_later_one_and_applies_back_byte_for_byte(data: st.DataObject) -> None:
    value = data.draw(st.sampled_from(VALUES[len(VALUES) // 2 :]))
    before = data.draw(variants(value, value.last_seq))
    after = data.draw(variants(value, value.last_seq + 1))
    update = diff(before, after)
    assert update is not None, "rows in strict position order always go as a delta"
    assert {car.number for car in update.cars} <= {car.number for car in after.cars}
    held = apply(before, decode_update(msgspec.json.encode(update)))
    assert encode_classification(held) == encode_classification(after)
