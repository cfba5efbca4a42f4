"""Read models of the classification projector: what graphics and operations read."""

from __future__ import annotations

import enum

import msgspec
from msgspec import Struct

from schemas.events import Flag, SessionKind, SessionRef

RESULTS_VERSION = 1


class CarState(enum.StrEnum):
    """Where a car is now, as a timing tower shows it."""

    NOT_STARTED = "not_started"
    RUNNING = "running"
    IN_PIT = "in_pit"
    OUT_LAP = "out_lap"
    RETIRED = "retired"
    FINISHED = "finished"


class SessionPhase(enum.StrEnum):
    SCHEDULED = "scheduled"
    RUNNING = "running"
    FINISHING = "finishing"
    """The chequered flag is out; cars still on track finish at their next crossing."""
    FINISHED = "finished"


class Gap(Struct, frozen=True, omit_defaults=True):
    """Behind a car ahead: a time on the same lap, whole laps otherwise."""

    ms: int = 0
    laps: int = 0


class ClassifiedCar(Struct, frozen=True, kw_only=True):
    position: int
    class_position: int
    number: str
    class_name: str
    team: str
    car: str
    manufacturer: str
    driver: str | None
    laps: int
    gap: Gap | None
    interval: Gap | None
    class_gap: Gap | None
    class_interval: Gap | None
    last_lap_ms: int | None
    best_lap_ms: int | None
    best_lap: int | None
    pit_stops: int
    state: CarState
    last_crossing: int | None
    """Timing-clock instant of the last counted lap's crossing."""


class Classification(Struct, frozen=True, kw_only=True):
    """The live (and, once finished, final) classification of one session.

    ``last_seq`` is the stream sequence of the last event folded in: the
    projector's checkpoint lives inside the value it writes.
    """

    v: int = RESULTS_VERSION
    session: SessionRef
    name: str
    kind: SessionKind
    last_seq: int
    as_of: int
    """Timing-clock instant of the last event folded in."""
    phase: SessionPhase
    flag: Flag
    started_at: int | None
    chequered_at: int | None
    length_ms: int | None
    length_laps: int | None
    cars: list[ClassifiedCar]


_decoder = msgspec.json.Decoder(Classification)
_encoder = msgspec.json.Encoder()


def encode_classification(value: Classification) -> bytes:
    return _encoder.encode(value)


def decode_classification(data: bytes) -> Classification:
    return _decoder.decode(data)
