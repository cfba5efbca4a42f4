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

from collections.abc import Iterable
from typing import NamedTuple

from schemas.events import (
    CarRetired,
    ClassificationRules,
    DecisionWithdrawn,
    DriverChanged,
    EntryRegistered,
    Event,
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
    ResultsStatus,
    ScoreboardReported,
    SessionFinished,
    SessionKind,
    SessionOpened,
    SessionRef,
    SessionStarted,
)
from schemas.results import Classification
from schemas.subjects import NotAnEvent, stored_event
from services.classification.car import CarRecord
from services.classification.errors import FoldError
from services.classification.rules import classify


class SessionFold:
    """The folded state of one session: what happened, not yet what it means.

    :func:`services.classification.rules.classify` turns it into a
    :class:`~schemas.results.Classification`, applying the session's rules and
    every decision in force; decisions are kept, not applied on arrival, so a
    penalty hours late or withdrawn later gives the same result as in order.
    """

    def __init__(self, session: SessionRef) -> None:
        self.session = session
        self.opened: SessionOpened | None = None
        self.last_seq = 0
        self.as_of = 0
        self.flag = Flag.UNKNOWN
        self.flag_periods: list[list[Flag | int | None]] = []
        """[flag, start, end or None] of whole-course flag periods."""
        self.started_at: int | None = None
        self.chequered_at: int | None = None
        """Shown by ``session_finished``, or inferred when the leader completes the distance."""
        self.results: ResultsStatus | None = None
        self.slowest_lap_ms = 0
        """The slowest lap of the session that had no pit stop and no red flag in it: the default finish window."""
        self.cars: dict[str, CarRecord] = {}
        self.decisions: dict[str, PenaltyIssued | LapDeleted] = {}
        self.seen: set[str] = set()

    @property
    def rules(self) -> ClassificationRules:
        return self.opened.rules if self.opened is not None else ClassificationRules()

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
            self.cars[body.number] = car = CarRecord(body, len(self.cars))
            if self.started_at is not None:
                car.start_stint(self.started_at)
        else:
            car.register(body)

    def _on_started(self, event: Event) -> None:
        if self.started_at is None:
            self.started_at = event.at
            for car in self.cars.values():
                car.start_stint(event.at)
        self._set_flag(Flag.GREEN, event.at)

    def _on_lap(self, event: Event) -> None:
        lap = event.body
        assert isinstance(lap, LapCompleted)
        car = self._car(lap.number)
        if lap.lap <= car.last_lap_number:
            raise FoldError(f"lap {lap.lap} of car #{lap.number} does not follow lap {car.last_lap_number}")
        if car.crossings and event.at < car.crossings[-1]:
            raise FoldError(f"lap {lap.lap} of car #{lap.number} ends before its previous lap")
        laps_before = car.last_lap_number
        start = event.at - lap.lap_time_ms
        since = self.flag_periods[-1][1] if self.flag_periods else None
        if isinstance(since, int) and since <= start:  # one flag all lap long: the usual case
            neutralised, red = self.flag in NEUTRALISED, self.flag is Flag.RED
        else:
            flags = self._flags_during(start, event.at)
            neutralised, red = not flags.isdisjoint(NEUTRALISED), Flag.RED in flags
        if lap.lap_time_ms > self.slowest_lap_ms and not (lap.in_pit or car.in_pit or car.out_lap or red):
            self.slowest_lap_ms = lap.lap_time_ms
        car.add_lap(lap.lap, event.at, lap.lap_time_ms, tuple(lap.sectors_ms), lap.driver, lap.counts_for_best)
        if neutralised:
            car.neutralised.add(lap.lap)
        if lap.in_pit:
            car.pit_in(event.at, from_lap_line=True)
        if self.chequered_at is None and self._shows_chequered(car, laps_before, event.at):
            self.chequered_at = event.at

    def _on_corrected(self, event: Event) -> None:
        body = event.body
        assert isinstance(body, LapCorrected)
        self._car(body.number).correct(body.lap, body.crossing, body.lap_time_ms, body.counts_for_best)

    def _on_scoreboard(self, event: Event) -> None:
        body = event.body
        assert isinstance(body, ScoreboardReported)
        cars = [self._car(row.number) for row in body.cars]  # every car known, or nothing changes
        for car, row in zip(cars, body.cars, strict=True):
            car.reconcile(row, self.rules)

    def _shows_chequered(self, car: CarRecord, laps_before: int, at: int) -> bool:
        """Whether this crossing is the leader's first once the distance is done (no explicit flag yet)."""
        opened = self.opened
        assert opened is not None
        if opened.kind is not SessionKind.RACE or self.started_at is None:
            return False
        if opened.length.laps is not None:
            return car.last_lap_number >= opened.length.laps
        if opened.length.time_ms is None or at < self.started_at + opened.length.time_ms:
            return False
        # the leader: no other car still in the race (not retired, not stopped on the circuit) had more laps
        return all(
            other is car or other.last_lap_number <= laps_before or other.retired or other.not_seen(at, self.rules)
            for other in self.cars.values()
        )

    def _flags_during(self, start: int, end: int) -> set[Flag]:
        """The whole-course flags shown at some moment between ``start`` and ``end``."""
        flags = set()
        for flag, since, until in reversed(self.flag_periods):
            assert isinstance(flag, Flag) and isinstance(since, int) and not isinstance(until, Flag)
            if until is not None and until <= start:
                break
            if since <= end:
                flags.add(flag)
        return flags

    def _on_crossing(self, event: Event) -> None:
        assert isinstance(event.body, LineCrossing)
        self._car(event.body.number)

    def _on_pit_in(self, event: Event) -> None:
        assert isinstance(event.body, PitIn)
        self._car(event.body.number).pit_in(event.at, from_lap_line=False)

    def _on_pit_out(self, event: Event) -> None:
        assert isinstance(event.body, PitOut)
        self._car(event.body.number).pit_out(event.at)

    def _on_driver(self, event: Event) -> None:
        assert isinstance(event.body, DriverChanged)
        car = self._car(event.body.number)
        car.driver = event.body.driver
        if car.stint_bounds and car.stint_bounds[-1][3] is None and car.stint_bounds[-1][1] == len(car.crossings):
            car.stint_bounds[-1][2] = event.body.driver  # the stint has no lap yet: it is this driver's

    def _set_flag(self, flag: Flag, at: int) -> None:
        if flag is self.flag:
            return
        periods = self.flag_periods
        if periods and periods[-1][1] == at:
            periods.pop()  # shown at the same instant: the flag it replaces was never out
            if periods and periods[-1][0] is flag and periods[-1][2] == at:
                periods[-1][2] = None
                self.flag = flag
                return
        if periods and periods[-1][2] is None:
            periods[-1][2] = at
        periods.append([flag, at, None])
        self.flag = flag

    def _on_flag(self, event: Event) -> None:
        assert isinstance(event.body, FlagChanged)
        if event.body.sector is None:
            self._set_flag(event.body.flag, event.at)

    def _on_retired(self, event: Event) -> None:
        assert isinstance(event.body, CarRetired)
        car = self._car(event.body.number)
        car.retired = True
        car.in_pit = False
        car.out_lap = False

    def _on_finished(self, event: Event) -> None:
        self.chequered_at = event.at  # race control's flag overrides one inferred from the distance
        if self.flag is not Flag.RED:  # a race ended under red keeps its red period open: it was not resumed
            self._set_flag(Flag.CHEQUERED, event.at)

    def _on_penalty(self, event: Event) -> None:
        body = event.body
        assert isinstance(body, PenaltyIssued | LapDeleted)
        car = self._car(body.number)
        if body.decision in self.decisions:
            raise FoldError(f"decision {body.decision} was already issued in {self.session.key}")
        self.decisions[body.decision] = body
        if isinstance(body, LapDeleted):
            car.deleted.add(body.lap)
            car.forget_bests()

    def _on_served(self, event: Event) -> None:
        body = event.body
        assert isinstance(body, PenaltyServed)
        decision = self.decisions.get(body.decision)
        if not isinstance(decision, PenaltyIssued) or decision.number != body.number:
            raise FoldError(f"car #{body.number} has no penalty {body.decision} to serve")
        self._car(body.number).served.add(body.decision)

    def _on_withdrawn(self, event: Event) -> None:
        body = event.body
        assert isinstance(body, DecisionWithdrawn)
        decision = self.decisions.pop(body.decision, None)
        if decision is None:
            raise FoldError(f"no decision {body.decision} in force in {self.session.key}")
        if isinstance(decision, LapDeleted):
            car = self.cars[decision.number]
            car.deleted = {
                d.lap for d in self.decisions.values() if isinstance(d, LapDeleted) and d.number == car.number
            }
            car.forget_bests()

    def _on_declared(self, event: Event) -> None:
        assert isinstance(event.body, ResultsDeclared)
        self.results = event.body.status

    # -- what it means ---------------------------------------------------

    def red_cutoff(self) -> int | None:
        """When the race ended under a red flag and was not resumed: the moment it was suspended."""
        if self.flag is Flag.RED and (self.chequered_at is not None or self.results is not None):
            start = self.flag_periods[-1][1]
            assert isinstance(start, int)
            return start
        return None

    def classification(self) -> Classification:
        return classify(self)


NEUTRALISED = frozenset({Flag.SAFETY_CAR, Flag.FULL_COURSE_YELLOW})
"""Flags under which a lap may be excluded from bests (``ClassificationRules.neutralised_laps_count_for_best``)."""

_HANDLERS = {
    SessionOpened: SessionFold._on_opened,
    EntryRegistered: SessionFold._on_entry,
    SessionStarted: SessionFold._on_started,
    LapCompleted: SessionFold._on_lap,
    LapCorrected: SessionFold._on_corrected,
    ScoreboardReported: SessionFold._on_scoreboard,
    LineCrossing: SessionFold._on_crossing,
    PitIn: SessionFold._on_pit_in,
    PitOut: SessionFold._on_pit_out,
    DriverChanged: SessionFold._on_driver,
    FlagChanged: SessionFold._on_flag,
    CarRetired: SessionFold._on_retired,
    SessionFinished: SessionFold._on_finished,
    PenaltyIssued: SessionFold._on_penalty,
    LapDeleted: SessionFold._on_penalty,
    PenaltyServed: SessionFold._on_served,
    DecisionWithdrawn: SessionFold._on_withdrawn,
    ResultsDeclared: SessionFold._on_declared,
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
        if event.session.is_championship:
            return None  # points configuration and decisions: the standings' business, not a classification's
        key = event.session.key
        state = self.sessions.get(key)
        if state is None:
            state = self.sessions[key] = SessionFold(event.session)
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
