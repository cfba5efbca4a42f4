"""The classification fold: timing events in, a live classification out.

Pure and deterministic: no clock, no I/O, no randomness, and every ordering
has a total tie-break, so the same log always gives the same bytes. The state
is mutable for speed (one event is O(1)); ``classification()`` sorts only when
a read model is wanted.

Rules of order (documented in the README):
- the stream order is the order of application; the *timing-clock* times in
  the events decide the running order, so two cars' laps arriving in either
  order give the same classification;
- an event already folded (same ``producer:id``) changes nothing;
- an event the fold cannot apply (a car never registered, a lap that does not
  move forward) raises :class:`FoldError` before touching the state, so the
  shell can dead-letter it and go on with the state intact.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import msgspec

from schemas.events import (
    CarRetired,
    DriverChanged,
    EntryRegistered,
    Event,
    Flag,
    FlagChanged,
    LapCompleted,
    LineCrossing,
    PitIn,
    PitOut,
    SessionFinished,
    SessionOpened,
    SessionRef,
    SessionStarted,
    decode_event,
)
from schemas.subjects import session_key_of
from schemas.results import CarState, Classification, ClassifiedCar, Gap, SessionPhase


class FoldError(ValueError):
    """An event that cannot be applied; the state is unchanged."""


class CarRecord:
    __slots__ = (
        "best_lap",
        "best_lap_ms",
        "car",
        "class_name",
        "driver",
        "finished",
        "in_pit",
        "last_crossing",
        "last_lap_ms",
        "laps",
        "manufacturer",
        "number",
        "order",
        "out_lap",
        "pit_stops",
        "retired",
        "team",
    )

    def __init__(self, entry: EntryRegistered, order: int) -> None:
        self.order = order
        self.number = entry.number
        self.laps = 0
        self.last_crossing: int | None = None
        self.last_lap_ms: int | None = None
        self.best_lap_ms: int | None = None
        self.best_lap: int | None = None
        self.pit_stops = 0
        self.in_pit = False
        self.out_lap = False
        self.retired = False
        self.finished = False
        self.driver: str | None = entry.crew[0].name
        self.register(entry)

    def register(self, entry: EntryRegistered) -> None:
        """(Re-)registration updates the entry's details, never its timing."""
        self.class_name = entry.class_name
        self.team = entry.team
        self.car = entry.car
        self.manufacturer = entry.manufacturer

    @property
    def state(self) -> CarState:
        if self.finished:
            return CarState.FINISHED
        if self.retired:
            return CarState.RETIRED
        if self.in_pit:
            return CarState.IN_PIT
        if self.out_lap:
            return CarState.OUT_LAP
        if self.laps == 0:
            return CarState.NOT_STARTED
        return CarState.RUNNING

    def running_order_key(self) -> tuple[int, int, int]:
        """More laps first; on equal laps, earlier crossing first; then entry order."""
        crossing = self.last_crossing if self.last_crossing is not None else 0
        return (-self.laps, crossing, self.order)


def _gap(car: CarRecord, ahead: CarRecord | None) -> Gap | None:
    if ahead is None or car.laps == 0 or car.last_crossing is None or ahead.last_crossing is None:
        return None
    if car.laps == ahead.laps:
        return Gap(ms=car.last_crossing - ahead.last_crossing)
    return Gap(laps=ahead.laps - car.laps)


class SessionFold:
    """The folded state of one session."""

    def __init__(self, session: SessionRef) -> None:
        self.session = session
        self.opened: SessionOpened | None = None
        self.last_seq = 0
        self.as_of = 0
        self.flag = Flag.UNKNOWN
        self.phase = SessionPhase.SCHEDULED
        self.started_at: int | None = None
        self.chequered_at: int | None = None
        self.cars: dict[str, CarRecord] = {}
        self.seen: set[str] = set()

    # -- applying events -------------------------------------------------

    def apply(self, seq: int, event: Event) -> bool:
        """Fold one stored event; False when it changes nothing (already folded)."""
        if seq <= self.last_seq:
            return False
        msg_id = event.msg_id
        if msg_id in self.seen:
            self.last_seq = seq
            return False
        handler = _HANDLERS.get(type(event.body))
        if handler is None:
            raise FoldError(f"event type {type(event.body).__name__} has no classification rule")
        if self.opened is None and not isinstance(event.body, SessionOpened):
            raise FoldError(f"session {self.session.key} was never opened")
        handler(self, event)
        self.seen.add(msg_id)
        self.last_seq = seq
        if event.at > self.as_of:
            self.as_of = event.at
        return True

    def _car(self, number: str) -> CarRecord:
        car = self.cars.get(number)
        if car is None:
            raise FoldError(f"car #{number} is not registered in {self.session.key}")
        return car

    def _on_opened(self, event: Event) -> None:
        assert isinstance(event.body, SessionOpened)
        self.opened = event.body

    def _on_entry(self, event: Event) -> None:
        body = event.body
        assert isinstance(body, EntryRegistered)
        car = self.cars.get(body.number)
        if car is None:
            self.cars[body.number] = CarRecord(body, len(self.cars))
        else:
            car.register(body)

    def _on_started(self, event: Event) -> None:
        self.started_at = event.at
        self.phase = SessionPhase.RUNNING
        self.flag = Flag.GREEN

    def _on_lap(self, event: Event) -> None:
        lap = event.body
        assert isinstance(lap, LapCompleted)
        car = self._car(lap.number)
        if lap.lap <= car.laps:
            raise FoldError(f"lap {lap.lap} of car #{lap.number} does not follow lap {car.laps}")
        if car.finished:
            return  # laps after a car's chequered flag do not count
        car.laps = lap.lap
        car.last_crossing = event.at
        car.last_lap_ms = lap.lap_time_ms
        if car.best_lap_ms is None or lap.lap_time_ms < car.best_lap_ms:
            car.best_lap_ms = lap.lap_time_ms
            car.best_lap = lap.lap
        if lap.driver:
            car.driver = lap.driver
        car.out_lap = False
        if lap.in_pit and not car.in_pit:
            car.in_pit = True
            car.pit_stops += 1
        if self.chequered_at is not None and event.at >= self.chequered_at:
            car.finished = True
            self._maybe_finished()

    def _on_crossing(self, event: Event) -> None:
        assert isinstance(event.body, LineCrossing)
        self._car(event.body.number)

    def _on_pit_in(self, event: Event) -> None:
        assert isinstance(event.body, PitIn)
        car = self._car(event.body.number)
        if not car.in_pit:
            car.in_pit = True
            car.pit_stops += 1

    def _on_pit_out(self, event: Event) -> None:
        assert isinstance(event.body, PitOut)
        car = self._car(event.body.number)
        car.in_pit = False
        car.out_lap = True

    def _on_driver(self, event: Event) -> None:
        assert isinstance(event.body, DriverChanged)
        self._car(event.body.number).driver = event.body.driver

    def _on_flag(self, event: Event) -> None:
        assert isinstance(event.body, FlagChanged)
        if event.body.sector is None:
            self.flag = event.body.flag

    def _on_retired(self, event: Event) -> None:
        assert isinstance(event.body, CarRetired)
        car = self._car(event.body.number)
        car.retired = True
        car.in_pit = False
        car.out_lap = False
        self._maybe_finished()

    def _on_finished(self, event: Event) -> None:
        self.chequered_at = event.at
        self.flag = Flag.CHEQUERED
        self.phase = SessionPhase.FINISHING
        for car in self.cars.values():
            if car.last_crossing is not None and car.last_crossing >= event.at:
                car.finished = True
        self._maybe_finished()

    def _maybe_finished(self) -> None:
        if self.chequered_at is None:
            return
        if all(car.finished or car.retired or car.laps == 0 for car in self.cars.values()):
            self.phase = SessionPhase.FINISHED

    # -- the read model ----------------------------------------------------

    def running_order(self) -> list[CarRecord]:
        return sorted(self.cars.values(), key=CarRecord.running_order_key)

    def classification(self) -> Classification:
        opened = self.opened
        if opened is None:
            raise FoldError(f"session {self.session.key} was never opened")
        order = self.running_order()
        leader = order[0] if order else None
        class_leader: dict[str, CarRecord] = {}
        class_ahead: dict[str, CarRecord] = {}
        class_count: dict[str, int] = {}
        rows = []
        ahead: CarRecord | None = None
        for position, car in enumerate(order, start=1):
            cls = car.class_name
            class_count[cls] = class_count.get(cls, 0) + 1
            rows.append(
                ClassifiedCar(
                    position=position,
                    class_position=class_count[cls],
                    number=car.number,
                    class_name=cls,
                    team=car.team,
                    car=car.car,
                    manufacturer=car.manufacturer,
                    driver=car.driver,
                    laps=car.laps,
                    gap=_gap(car, leader) if car is not leader else None,
                    interval=_gap(car, ahead),
                    class_gap=_gap(car, class_leader.get(cls)),
                    class_interval=_gap(car, class_ahead.get(cls)),
                    last_lap_ms=car.last_lap_ms,
                    best_lap_ms=car.best_lap_ms,
                    best_lap=car.best_lap,
                    pit_stops=car.pit_stops,
                    state=car.state,
                    last_crossing=car.last_crossing,
                )
            )
            class_leader.setdefault(cls, car)
            class_ahead[cls] = car
            ahead = car
        return Classification(
            session=self.session,
            name=opened.name,
            kind=opened.kind,
            last_seq=self.last_seq,
            as_of=self.as_of,
            phase=self.phase,
            flag=self.flag,
            started_at=self.started_at,
            chequered_at=self.chequered_at,
            length_ms=opened.length.time_ms,
            length_laps=opened.length.laps,
            cars=rows,
        )


_HANDLERS = {
    SessionOpened: SessionFold._on_opened,
    EntryRegistered: SessionFold._on_entry,
    SessionStarted: SessionFold._on_started,
    LapCompleted: SessionFold._on_lap,
    LineCrossing: SessionFold._on_crossing,
    PitIn: SessionFold._on_pit_in,
    PitOut: SessionFold._on_pit_out,
    DriverChanged: SessionFold._on_driver,
    FlagChanged: SessionFold._on_flag,
    CarRetired: SessionFold._on_retired,
    SessionFinished: SessionFold._on_finished,
}


class Refused(NamedTuple):
    seq: int
    reason: str


class ClassificationProjection:
    """The fold over a whole stream: one :class:`SessionFold` per session.

    The live projector, rebuild, time travel and the offline commands all fold
    through this class, so they cannot disagree.
    """

    def __init__(self) -> None:
        self.sessions: dict[str, SessionFold] = {}
        self.last_seq = 0

    def apply(self, seq: int, event: Event) -> Refused | None:
        """Fold one stored event; a refusal leaves every session's state unchanged."""
        self.last_seq = max(self.last_seq, seq)
        key = event.session.key
        state = self.sessions.get(key)
        if state is None:
            state = self.sessions[key] = SessionFold(event.session)
        try:
            state.apply(seq, event)
        except FoldError as error:
            if state.opened is None and not state.cars:
                del self.sessions[key]
            return Refused(seq, str(error))
        return None

    def apply_raw(self, seq: int, subject: str, data: bytes) -> tuple[str | None, Refused | None]:
        """Decode and fold a message as stored; returns the session key it touched."""
        try:
            event = decode_event(data)
        except msgspec.MsgspecError as error:
            return None, Refused(seq, f"undecodable event: {error}")
        if session_key_of(subject) != event.session.key:
            return None, Refused(seq, f"event for {event.session.key} stored on subject {subject}")
        return event.session.key, self.apply(seq, event)


def fold_log(events: Iterable[tuple[int, Event]]) -> ClassificationProjection:
    """Fold ``(seq, event)`` pairs; events the fold refuses are skipped as the projector skips them."""
    projection = ClassificationProjection()
    for seq, event in events:
        projection.apply(seq, event)
    return projection
