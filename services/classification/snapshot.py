"""Snapshots of the classification fold: a restart or rebuild need not start from sequence 0.

A snapshot is the whole folded state of one session as plain msgspec Structs
(MessagePack on the wire). Restoring it and folding the rest of the log gives
exactly what folding the whole log gives (a property test checks it). The
format is versioned; a snapshot of another version is ignored, never guessed
at, and the fold starts from the log instead.
"""

from __future__ import annotations

import msgspec
from msgspec import Struct

from schemas.events import (
    EntryRegistered,
    Flag,
    LapDeleted,
    PenaltyIssued,
    ResultsStatus,
    ScoreboardCar,
    SessionOpened,
    SessionRef,
)
from schemas.results import DisagreementKind, RaceControlMessage
from services.classification.car import CarRecord
from services.classification.fold import SessionFold

SNAPSHOT_VERSION = 2
"""2: the race-control messages are part of the state (a version-1 snapshot has none: the fold starts from the log)."""


class CarSnapshot(Struct, array_like=True):
    entry: EntryRegistered
    order: int
    lap_numbers: list[int]
    crossings: list[int]
    laps_ms: list[int]
    sectors: list[tuple[int, ...]]
    lap_drivers: list[str | None]
    deleted: list[int]
    served: list[str]
    stops: list[list[int | None]]
    stint_bounds: list[list[int | str | None]]
    in_pit: bool
    out_lap: bool
    retired: bool
    driver: str | None
    no_best: list[int] = []
    neutralised: list[int] = []
    reported: list[int] = []
    board: ScoreboardCar | None = None
    disagreements: list[tuple[DisagreementKind, int | None, int | None]] = []


class SessionSnapshot(Struct):
    v: int
    session: SessionRef
    opened: SessionOpened | None
    last_seq: int
    as_of: int
    flag: Flag
    flag_periods: list[list[Flag | int | None]]
    started_at: int | None
    chequered_at: int | None
    results: ResultsStatus | None
    cars: list[CarSnapshot]
    decisions: list[PenaltyIssued | LapDeleted]
    seen: list[str]
    slowest_lap_ms: int = 0
    messages: list[RaceControlMessage] = []


def take(state: SessionFold) -> SessionSnapshot:
    return SessionSnapshot(
        v=SNAPSHOT_VERSION,
        session=state.session,
        opened=state.opened,
        last_seq=state.last_seq,
        as_of=state.as_of,
        flag=state.flag,
        flag_periods=[list(p) for p in state.flag_periods],
        started_at=state.started_at,
        chequered_at=state.chequered_at,
        results=state.results,
        cars=[_car(car) for car in state.cars.values()],
        decisions=list(state.decisions.values()),
        seen=sorted(state.seen),
        slowest_lap_ms=state.slowest_lap_ms,
        messages=state.messages,
    )


def _car(car: CarRecord) -> CarSnapshot:
    return CarSnapshot(
        entry=car.entry,
        order=car.order,
        lap_numbers=car.lap_numbers,
        crossings=car.crossings,
        laps_ms=car.laps_ms,
        sectors=car.sectors,
        lap_drivers=car.lap_drivers,
        deleted=sorted(car.deleted),
        served=sorted(car.served),
        stops=car.stops,
        stint_bounds=car.stint_bounds,
        in_pit=car.in_pit,
        out_lap=car.out_lap,
        retired=car.retired,
        driver=car.driver,
        no_best=sorted(car.no_best),
        neutralised=sorted(car.neutralised),
        reported=sorted(car.reported),
        board=car.board,
        disagreements=car.disagreements,
    )


def restore(snapshot: SessionSnapshot) -> SessionFold:
    state = SessionFold(snapshot.session)
    state.opened = snapshot.opened
    state.last_seq = snapshot.last_seq
    state.as_of = snapshot.as_of
    state.flag = snapshot.flag
    state.flag_periods = [list(p) for p in snapshot.flag_periods]
    state.started_at = snapshot.started_at
    state.chequered_at = snapshot.chequered_at
    state.results = snapshot.results
    state.decisions = {d.decision: d for d in snapshot.decisions}
    state.seen = set(snapshot.seen)
    state.slowest_lap_ms = snapshot.slowest_lap_ms
    state.messages = list(snapshot.messages)
    for saved in snapshot.cars:
        car = CarRecord(saved.entry, saved.order)
        car.lap_numbers = list(saved.lap_numbers)
        car.crossings = list(saved.crossings)
        car.laps_ms = list(saved.laps_ms)
        car.sectors = [tuple(s) for s in saved.sectors]
        car.lap_drivers = list(saved.lap_drivers)
        car.deleted = set(saved.deleted)
        car.no_best = set(saved.no_best)
        car.neutralised = set(saved.neutralised)
        car.reported = set(saved.reported)
        car.board = saved.board
        car.disagreements = list(saved.disagreements)
        car.served = set(saved.served)
        car.stops = [list(s) for s in saved.stops]
        car.stint_bounds = [list(b) for b in saved.stint_bounds]
        car.in_pit, car.out_lap, car.retired, car.driver = saved.in_pit, saved.out_lap, saved.retired, saved.driver
        state.cars[car.number] = car
    return state


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(SessionSnapshot)


def encode(state: SessionFold) -> bytes:
    return _encoder.encode(take(state))


def decode(data: bytes) -> SessionFold | None:
    """The state in a stored snapshot, or None when it is of another format version (fold from the log)."""
    try:
        snapshot = _decoder.decode(data)
    except msgspec.MsgspecError:
        return None
    return restore(snapshot) if snapshot.v == SNAPSHOT_VERSION else None
