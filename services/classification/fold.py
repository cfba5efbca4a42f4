"""The classification fold: timing events in, a live classification out.

Pure and deterministic: no clock, no I/O, no randomness, and every ordering
has a total tie-break, so the same log always gives the same bytes. The state
is mutable for speed (one event is O(1)); ``classification()`` sorts only when
a read model is wanted.

Rules of order (documented in the README):
- the stream order is the order of application; the *timing-clock* times in
  the events decide the running order, so two cars' laps arriving in either
  order give the same classification;
- an event already folded (same ``msg_id``) changes nothing;
- an event the fold cannot apply (a car never registered, a lap that does not
  move forward) raises :class:`FoldError` before touching the state, so the
  shell can dead-letter it and go on with the state intact.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import NamedTuple

from schemas.events import (
    CarRetired,
    DecisionWithdrawn,
    DriverChanged,
    EntryRegistered,
    Event,
    EventBody,
    Flag,
    FlagChanged,
    LapCompleted,
    LapCorrected,
    LapDeleted,
    LineCrossing,
    PenaltyIssued,
    PenaltyServed,
    PitIn,
    PitOut,
    ResultsDeclared,
    ScoreboardReported,
    SessionFinished,
    SessionKind,
    SessionOpened,
    SessionRef,
    SessionStarted,
)
from schemas.results import Classification
from schemas.subjects import NotAnEvent, stored_event
from services.classification import control_messages
from services.classification.car import CarRecord
from services.classification.errors import FoldError
from services.classification.live import LiveClassification
from services.classification.state import FlagPeriod, SessionState


class SessionFold(SessionState, dict=True):
    """The fold of one session: :meth:`apply` takes its events one at a time.

    :func:`services.classification.rules.classify` turns the state into a
    :class:`~schemas.results.Classification`, applying the session's rules and
    every decision in force; decisions are kept, not applied on arrival, so a
    penalty hours late or withdrawn later gives the same result as in order.
    :meth:`classification` and :meth:`encoded` give the same from the rows of
    the last one, updated for the cars touched since
    (:mod:`~services.classification.live`).
    """

    def __post_init__(self) -> None:
        super().__post_init__()
        # never part of a snapshot: after a restore the first classification is built whole
        self._live = LiveClassification()
        self._touched: set[str] | None = None
        """The cars events have changed since the last classification; None: anything may have changed."""
        self._finish_from = self._earliest_finish()
        """The first instant a lap may complete the race's distance (asked at every lap: a number, not the rules)."""

    # -- applying events -------------------------------------------------

    def apply(self, seq: int, event: Event) -> bool:
        """Fold one stored event; False when it changes nothing (already folded)."""
        if seq <= self.last_seq:
            return False
        msg_id = event.id_in_session  # the session is this one
        if msg_id in self.seen:
            self.last_seq = seq
            return False
        body = event.body
        if self.opened is None and not isinstance(body, SessionOpened):
            raise FoldError(f"session {self.session.key} was never opened")
        if self._touched is not None and type(body) not in CAR_EVENTS:
            self._touched = None
        announced = control_messages.message(self, seq, event) if type(body) in control_messages.ANNOUNCING else None
        chequered_at = self.chequered_at
        self._take(event.at, body)
        if announced is None and chequered_at is None and self.chequered_at is not None:
            announced = control_messages.chequered(seq, self.chequered_at)  # the leader completed the distance
        if announced is not None:
            self.messages.append(announced)
        self.seen.add(msg_id)
        self.last_seq = seq
        if event.at > self.as_of:
            self.as_of = event.at
        return True

    def _take(self, at: int, body: EventBody) -> None:
        """What one event does to the state (laps first: most events are laps)."""
        match body:
            case LapCompleted():
                self._lap(at, body)
            case LineCrossing():
                self._registered(body.number)  # a crossing of a known car changes nothing of it
            case PitIn():
                self._car(body.number).pit_in(at, from_lap_line=False)
            case PitOut():
                self._car(body.number).pit_out(at)
            case FlagChanged():
                if body.sector is None:
                    self._set_flag(body.flag, at)
            case DriverChanged():
                self._car(body.number).change_driver(body.driver)
            case LapCorrected():
                self._car(body.number).correct(body.lap, body.crossing, body.lap_time_ms, body.counts_for_best)
            case ScoreboardReported():
                cars = [self._car(row.number) for row in body.cars]  # every car known, or nothing changes
                for car, row in zip(cars, body.cars, strict=True):
                    car.reconcile(row, self.rules)
            case EntryRegistered():
                self._entry(body)
            case SessionOpened():
                self.opened = body
                self._finish_from = self._earliest_finish()
            case SessionStarted():
                self._started(at)
            case CarRetired():
                car = self._car(body.number)
                car.retired, car.in_pit, car.out_lap = True, False, False
            case SessionFinished():
                self.chequered_at = at  # race control's flag overrides one inferred from the distance
                if self.flag is not Flag.RED:  # a race ended under red keeps its red period open: it was not resumed
                    self._set_flag(Flag.CHEQUERED, at)
            case PenaltyIssued() | LapDeleted():
                self._decision(body)
            case PenaltyServed():
                decision = self.decisions.get(body.decision)
                if not isinstance(decision, PenaltyIssued) or decision.number != body.number:
                    raise FoldError(f"car #{body.number} has no penalty {body.decision} to serve")
                self._car(body.number).served.add(body.decision)
            case DecisionWithdrawn():
                self._withdrawn(body)
            case ResultsDeclared():
                self.results = body.status
            case _:
                raise FoldError(f"event type {type(body).__name__} has no classification rule")

    def _car(self, number: str) -> CarRecord:
        """A registered car, about to change: every event that changes one car asks for it here."""
        car = self._registered(number)
        if self._touched is not None:
            self._touched.add(number)
        return car

    def _registered(self, number: str) -> CarRecord:
        car = self.cars.get(number)
        if car is None:
            raise FoldError(f"car #{number} is not registered in {self.session.key}")
        return car

    def _entry(self, body: EntryRegistered) -> None:
        if self._touched is not None:
            self._touched.add(body.number)
        car = self.cars.get(body.number)
        if car is None:
            self.cars[body.number] = car = CarRecord.registered(body, len(self.cars))
            if self.started_at is not None:
                car.start_stint(self.started_at)
        else:
            car.register(body)

    def _started(self, at: int) -> None:
        if self.started_at is None:
            self.started_at = at
            self._finish_from = self._earliest_finish()
            for car in self.cars.values():
                car.start_stint(at)
        self._set_flag(Flag.GREEN, at)

    def _lap(self, at: int, lap: LapCompleted) -> None:
        car = self._car(lap.number)
        laps_before = car.last_lap_number
        if lap.lap <= laps_before:
            raise FoldError(f"lap {lap.lap} of car #{lap.number} does not follow lap {laps_before}")
        if car.crossings and at < car.crossings[-1]:
            raise FoldError(f"lap {lap.lap} of car #{lap.number} ends before its previous lap")
        start = at - lap.lap_time_ms
        if self.flag_periods and self.flag_periods[-1].start <= start:  # one flag all lap long: the usual case
            neutralised, red = self.flag in NEUTRALISED, self.flag in RED
        else:
            flags = self._flags_during(start, at)
            neutralised, red = not flags.isdisjoint(NEUTRALISED), not flags.isdisjoint(RED)
        if lap.lap_time_ms > self.slowest_lap_ms and not (lap.in_pit or car.in_pit or car.out_lap or red):
            self.slowest_lap_ms = lap.lap_time_ms
        car.add_lap(lap.lap, at, lap.lap_time_ms, tuple(lap.sectors_ms), lap.driver, lap.counts_for_best)
        if neutralised:
            car.neutralised.add(lap.lap)
        if lap.in_pit:
            car.pit_in(at, from_lap_line=True)
        if self.chequered_at is None and at >= self._finish_from and self._shows_chequered(car, laps_before, at):
            self.chequered_at = at

    def _earliest_finish(self) -> float:
        """:attr:`_finish_from`: the end of its time for a race run to a time; any instant for one run to a number of
        laps (its laps say); never for a session that is not a race, or not started."""
        opened = self.opened
        if opened is None or opened.kind is not SessionKind.RACE or self.started_at is None:
            return math.inf
        if opened.length.laps is not None:
            return -math.inf
        return math.inf if opened.length.time_ms is None else self.started_at + opened.length.time_ms

    def _shows_chequered(self, car: CarRecord, laps_before: int, at: int) -> bool:
        """Whether this crossing of a race (at or after :attr:`_finish_from`: a race, started, its time up if it is
        run to a time) is the leader's first once the distance is done (no explicit flag yet)."""
        assert self.opened is not None
        laps = self.opened.length.laps
        if laps is not None:
            return car.last_lap_number >= laps
        # the leader: no other car still in the race (not retired, not stopped on the circuit) had more laps
        return all(
            other is car or other.last_lap_number <= laps_before or other.retired or other.not_seen(at, self.rules)
            for other in self.cars.values()
        )

    def _flags_during(self, start: int, end: int) -> set[Flag]:
        """The whole-course flags shown at some moment between ``start`` and ``end``."""
        flags = set()
        for period in reversed(self.flag_periods):
            if period.end is not None and period.end <= start:
                break
            if period.start <= end:
                flags.add(period.flag)
        return flags

    def _set_flag(self, flag: Flag, at: int) -> None:
        if flag is self.flag:
            return
        periods = self.flag_periods
        if periods and periods[-1].start == at:
            periods.pop()  # shown at the same instant: the flag it replaces was never out
            if periods and periods[-1].flag is flag and periods[-1].end == at:
                periods[-1].end = None
                self.flag = flag
                return
        if periods and periods[-1].end is None:
            periods[-1].end = at
        periods.append(FlagPeriod(flag, at))
        self.flag = flag

    def _decision(self, body: PenaltyIssued | LapDeleted) -> None:
        car = self._car(body.number)
        if body.decision in self.decisions:
            raise FoldError(f"decision {body.decision} was already issued in {self.session.key}")
        self.decisions[body.decision] = body
        if isinstance(body, LapDeleted):
            car.deleted.add(body.lap)
            car.forget_bests()

    def _withdrawn(self, body: DecisionWithdrawn) -> None:
        decision = self.decisions.pop(body.decision, None)
        if decision is None:
            raise FoldError(f"no decision {body.decision} in force in {self.session.key}")
        if isinstance(decision, LapDeleted):
            car = self.cars[decision.number]
            car.deleted = {
                d.lap for d in self.decisions.values() if isinstance(d, LapDeleted) and d.number == car.number
            }
            car.forget_bests()

    # -- what it means ---------------------------------------------------

    def classification(self) -> Classification:
        """What :func:`~services.classification.rules.classify` gives, from the rows of the last one."""
        self._bring_up_to_date()
        return self._live.classification(self)

    def encoded(self) -> bytes:
        """:meth:`classification` as :func:`~schemas.results.encode_classification` encodes it, from rows kept
        encoded."""
        self._bring_up_to_date()
        return self._live.encoded(self)

    def _bring_up_to_date(self) -> None:
        try:
            self._live.update(self, self._touched)
        except Exception:
            self._touched = None  # rows half updated are never reused: the next value is built whole
            raise
        self._touched = set()


CAR_EVENTS = frozenset(
    {
        LapCompleted,
        LineCrossing,
        PitIn,
        PitOut,
        DriverChanged,
        LapCorrected,
        ScoreboardReported,
        CarRetired,
        EntryRegistered,
        FlagChanged,
    }
)
"""Events that change only the cars they name (each through ``SessionFold._car``, or ``_entry``; a line crossing
none, nor a flag: what a flag changes of the rows, a red flag, is part of the live classification's epoch); any
other may change them all."""

NEUTRALISED = frozenset({Flag.SAFETY_CAR, Flag.FULL_COURSE_YELLOW})
"""Flags under which a lap may be excluded from bests (``ClassificationRules.neutralised_laps_count_for_best``)."""
RED = frozenset({Flag.RED})
"""The red flag, as a set: on Python 3.11 each ``Flag.RED`` is a lookup through ``EnumType.__getattr__`` (0.19 µs,
against 0.03 for a name), and a lap asks it."""


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
        if seq > self.last_seq:
            self.last_seq = seq
        session = event.session
        if session.is_championship:
            return None  # points configuration and decisions: the standings' business, not a classification's
        key = session.key
        state = self.sessions.get(key)
        if state is None:
            state = self.sessions[key] = SessionFold(session)
        try:
            state.apply(seq, event)
        except FoldError as error:
            refused = Refused(seq, str(error))
        except Exception as error:
            refused = Refused(seq, f"the fold failed on this event: {error!r}")
        else:
            return None
        if state.opened is None and not state.cars:
            del self.sessions[key]
        return refused

    def apply_raw(self, seq: int, subject: str, data: bytes) -> tuple[str | None, Refused | None]:
        """Decode and fold a message as stored; returns the session key it touched (None for none). A message that
        is no event of its subject is refused as every reader of the log leaves it out
        (:func:`~schemas.subjects.stored_event`)."""
        try:
            event = stored_event(subject, data)
        except NotAnEvent as error:
            return None, Refused(seq, str(error))
        return event.session.key, self.apply(seq, event)


def fold_log(events: Iterable[tuple[int, Event]]) -> ClassificationProjection:
    """Fold ``(seq, event)`` pairs; events the fold refuses are skipped as the projector skips them."""
    projection = ClassificationProjection()
    for seq, event in events:
        projection.apply(seq, event)
    return projection


def fold_until(
    events: Iterable[tuple[int, Event]], *, seq: int | None = None, at: int | None = None
) -> ClassificationProjection:
    """Time travel: the fold of the events up to stream sequence ``seq`` and/or timing-clock instant ``at``.

    ``seq`` answers "what did the projection say after event N" (what the screens
    showed); ``at`` answers "what was the classification at this moment of the
    session", counting every event that happened by then, even one delivered
    later (the 6-hour classification of a 24-hour race). Both are the same fold.
    """
    return fold_log((s, event) for s, event in events if (seq is None or s <= seq) and (at is None or event.at <= at))


def classification_until(
    events: Iterable[tuple[int, Event]], session: SessionRef, *, seq: int | None = None, at: int | None = None
) -> Classification | None:
    """Time travel for one session: its classification by ``seq`` and/or ``at`` (see :func:`fold_until`); None when
    it was not open by then. ``chequered at``, the gateway's ``at`` endpoint and the standings' intermediate
    points all ask this."""
    own = (pair for pair in events if pair[1].session == session)
    state = fold_until(own, seq=seq, at=at).sessions.get(session.key)
    if state is None or state.opened is None:
        return None
    return state.classification()
