"""What ingest accepts: schema validity plus the sanity rules of timing.

Pure: the ingest service keeps one :class:`IngestLedger` (rebuilt from the
stream at start-up), asks :meth:`IngestLedger.check` before publishing and
calls :meth:`IngestLedger.admit` once the stream has acknowledged. The ledger
remembers every accepted ``msg_id`` of a session with its sequence and a digest
of its content, so a producer retrying an event hours later still gets
``duplicate`` with the original sequence, long after the server's
de-duplication window, and the same id with other content gets ``conflict``.

Plausible instants (every rule relative to the session, so a historic
championship's sessions are judged like today's):

- no event of a session is dated more than :data:`BEFORE_OPENING_MS` (48 h)
  before the session's ``session_opened``;
- a timing event (:data:`TRACK_BODIES`: the start, laps, line crossings, pit
  lane, driver changes, flags, the finish) is dated at most :data:`TRACK_GAP_MS`
  (48 h) after the latest of: the opening, the scheduled end (scheduled start
  plus a time-certain length), the session's latest timing event;
- any other event (entries, retirements, decisions, results) at most
  :data:`DECISION_WINDOW_MS` (400 days) after the opening: an appeal is decided
  months later;
- a car's lap ends no earlier than its previous lap (the fold refuses it too);
- and, for every event, the schema's bound: before the year 2100.

Consistent decisions (every producer's, not only ``chequered publish``'s, so the fold never has to refuse one):
a decision number is used once in a session (withdrawn ones included); a lap is deleted only once the car has
completed it; a withdrawal names a decision in force; a served penalty is a drive-through or stop-and-go of
that car still in force.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NamedTuple, cast

import msgspec

from schemas import events
from schemas.ingest import MAX_EVENT_BYTES, Accepted, RejectCode, Rejected
from schemas.subjects import INGEST_PREFIX, session_key_of
from services.calendar.fold import oversized
from services.calendar.local import CalendarError
from services.calendar.schedule import Schedule
from services.calendar.schedule import apply as apply_calendar
from services.standings.config import ConfigError, decode_config

HOUR_MS = 3_600_000
BEFORE_OPENING_MS = 48 * HOUR_MS
TRACK_GAP_MS = 48 * HOUR_MS
DECISION_WINDOW_MS = 400 * 24 * HOUR_MS
TRACK_BODIES = (
    events.SessionStarted,
    events.LineCrossing,
    events.LapCompleted,
    events.LapCorrected,
    events.PitIn,
    events.PitOut,
    events.DriverChanged,
    events.FlagChanged,
    events.SessionFinished,
    events.ScoreboardReported,
)
"""What happens on track: dated by the timing clock while the session runs."""

MSG_ID_HEADER = "Nats-Msg-Id"
BATCH_HEADER_BYTES = len(
    "Nats-Batch-Id: 0123456789abcdef01234567\r\nNats-Batch-Sequence: 1000\r\nNats-Batch-Commit: 1\r\n"
)
"""At most what the headers of an atomic batch add to an event stored in one (the stream keeps them)."""
REPLY_REASON_MAX = 300
"""Characters of a reason echoed to a producer: a batch's answer stays far below ``max_payload``."""
_INBOX = re.compile(r"^_INBOX\.[^.]")


def reply_problem(reply: str) -> Rejected | None:
    """None when ``reply`` is an inbox: ingest answers there only, so nobody can make it write elsewhere (into a
    session's log, a KV bucket) with its own rights."""
    if _INBOX.match(reply):
        return None
    return Rejected(
        RejectCode.REPLY_NOT_INBOX,
        clip(
            f"reply subject {reply!r} is not an inbox (_INBOX.…): ingest answers only to inboxes, "
            "and stored nothing of this request"
        ),
    )


def clip(text: str, limit: int = REPLY_REASON_MAX) -> str:
    """``text`` within ``limit`` characters, its end kept (msgspec ends a reason with the field's path)."""
    if len(text) <= limit:
        return text
    half = (limit - 1) // 2
    return f"{text[:half]}…{text[-half:]}"


@dataclass
class SessionLedger:
    opened_at: int | None = None
    """The instant of the session's ``session_opened`` (None: not opened)."""
    horizon: int = events.MIN_INSTANT
    """The latest of the opening, the scheduled end and the latest timing event: timing events may come up to
    :data:`TRACK_GAP_MS` after it (instants are signed: a session of 1954 is judged as one of today)."""
    cars: set[str] = field(default_factory=set)
    last_lap: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Car number -> (its last lap's number, the instant it ended)."""
    accepted: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    """``msg_id`` -> (stream sequence, :func:`fingerprint` of the content); sequence 0 while provisional."""
    calendar: Schedule | None = None
    """A calendar session's schedule as stored: the next change is judged against it."""
    decisions: dict[str, Decision] = field(default_factory=dict)
    """Decision number -> what it is, for every decision issued in the session (withdrawn ones included)."""


@dataclass(frozen=True)
class Decision:
    number: str | None
    """The car it is against (None: a points decision)."""
    pit_lane: bool
    """A drive-through or stop-and-go, which the car serves in the pit lane."""
    withdrawn: bool = False


PIT_LANE_KINDS = (events.PenaltyKind.DRIVE_THROUGH, events.PenaltyKind.STOP_AND_GO)
DECISION_BODIES = (events.PenaltyIssued, events.LapDeleted, events.PointsAdjusted)
NAMING_DECISION = (events.DecisionWithdrawn, events.PenaltyServed)
"""Bodies that name a decision already issued."""


class _Kind(NamedTuple):
    """What the rules ask of an event's body, found once per type of body. An ``isinstance`` that fails costs about
    170 ns on msgspec's Struct types, and the chains of them cost ingest some 5 µs an event."""

    calendar: bool
    championship: bool
    registered_car: bool
    """About a car that must be registered first (a car's event other than its entry)."""
    track: bool
    decision: bool
    """Issues a decision (:data:`DECISION_BODIES`)."""
    names_decision: bool
    """Names a decision already issued (:data:`NAMING_DECISION`)."""


_KINDS: dict[type[events.Body], _Kind] = {}


def _kind(body: events.Body) -> _Kind:
    kind = _KINDS.get(type(body))
    if kind is None:  # one per type of body the schema has
        kind = _KINDS[type(body)] = _Kind(
            calendar=isinstance(body, events.CALENDAR_BODIES),
            championship=isinstance(body, events.CHAMPIONSHIP_BODIES),
            registered_car=isinstance(body, events.CarBody) and not isinstance(body, events.EntryRegistered),
            track=isinstance(body, TRACK_BODIES),
            decision=isinstance(body, DECISION_BODIES),
            names_decision=isinstance(body, NAMING_DECISION),
        )
    return kind


class _Versioned(msgspec.Struct):
    v: int = 1


def declared_version(data: bytes) -> int:
    """The ``v`` an envelope says it has (1 when it says none; 0 when it is not an object with an integer ``v``)."""
    try:
        return msgspec.json.decode(data, type=_Versioned).v
    except msgspec.MsgspecError:
        return 0


def decode_submission(subject: str, data: bytes, addressed: str | None = None) -> events.Event | Rejected:
    """Decode what a producer sent to an ingest subject, or say why not.

    ``addressed``: the session key of ``subject``, when the caller has it already (None: read from ``subject``).
    """
    try:
        event = events.decode_event(data)
    except msgspec.MsgspecError as error:
        if (version := declared_version(data)) > events.SCHEMA_VERSION:
            return _unsupported(version)
        return Rejected(RejectCode.MALFORMED, clip(f"not a valid chequered event: {error}"))
    if event.v > events.SCHEMA_VERSION:
        return _unsupported(event.v)
    if addressed is None:
        addressed = session_key_of(subject, INGEST_PREFIX)
    if addressed != event.session.key:
        return Rejected(
            RejectCode.WRONG_SUBJECT,
            clip(
                f"event for session {event.session.key} sent to {subject}; "
                f"send it to {INGEST_PREFIX}.{event.session.key}"
            ),
        )
    return event


def _unsupported(version: int) -> Rejected:
    return Rejected(
        RejectCode.UNSUPPORTED_VERSION,
        f"schema version {version} is newer than this ingest's {events.SCHEMA_VERSION}: "
        "upgrade chequered before sending it",
    )


def fingerprint(encoded: bytes) -> bytes:
    """A 64-bit digest of an event's canonical encoding (``encode_event`` of it decoded): what the ledger keeps
    to tell a repeat from a conflict. BLAKE2b, the same in every process (the rules draw nothing at random), kept as
    its bytes (0.9 µs; 1.15 as an integer)."""
    return hashlib.blake2b(encoded, digest_size=8).digest()


_MSG_ID_BLOCK_BYTES = len(f"NATS/1.0\r\n{MSG_ID_HEADER}: \r\n\r\n")


def stored_size(msg_id: str, encoded: bytes) -> int:
    """Bytes the server counts against ``max_payload`` for an event (``msg_id``, ``encoded``) as ingest publishes
    it: the payload and the ``NATS/1.0`` header block carrying its ``Nats-Msg-Id`` and, in a batch, the batch's
    headers."""
    id_bytes = len(msg_id) if msg_id.isascii() else len(msg_id.encode())
    return _MSG_ID_BLOCK_BYTES + id_bytes + BATCH_HEADER_BYTES + len(encoded)


def size_problem(size: int, max_payload: int) -> Rejected | None:
    """None when an event of ``size`` stored bytes may be written to a server taking ``max_payload``."""
    limit = min(MAX_EVENT_BYTES, max_payload)
    if size <= limit:
        return None
    return Rejected(
        RejectCode.TOO_LARGE, f"the event is {size:,} bytes as stored; at most {limit:,} are taken: shorten its text"
    )


def _iso(instant: int) -> str:
    return datetime.fromtimestamp(instant / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def scheduled_end(opened: events.SessionOpened) -> int | None:
    """Epoch ms of the scheduled start plus a time-certain length; None when the start is not ISO 8601 with an
    offset."""
    try:
        start = datetime.fromisoformat(opened.scheduled_start)
    except ValueError:
        return None
    if start.tzinfo is None:
        return None
    return int(start.timestamp() * 1000) + (opened.length.time_ms or 0)


class IngestLedger:
    """Per-session memory of what the stream holds, enough to judge the next event."""

    def __init__(self) -> None:
        self.sessions: dict[str, SessionLedger] = {}

    def known(self, key: str, msg_id: str) -> tuple[int, bytes] | None:
        """(sequence, fingerprint) of the event of session ``key`` stored under ``msg_id``; None for a new id. (The
        key and the id, not the event: ingest works them out once an event, for a µs they cost each time.)"""
        ledger = self.sessions.get(key)
        return ledger.accepted.get(msg_id) if ledger else None

    def duplicate_of(self, key: str, msg_id: str) -> Accepted | None:
        """The answer to a repeat of a stored event (None while what it repeats is provisional or unknown)."""
        known = self.known(key, msg_id)
        return Accepted(seq=known[0], duplicate=True) if known is not None and known[0] else None

    def check(self, event: events.Event) -> Rejected | None:
        """None when the event may be written; otherwise the reason it may not."""
        key = event.session.key
        ledger = self.sessions.get(key)
        body = event.body
        kind = _kind(body)
        if kind.calendar or event.session.is_calendar:
            return _check_calendar(event, ledger)
        championship_level = kind.championship
        if event.session.is_championship or championship_level:
            if event.session.is_championship and (championship_level or isinstance(body, events.DecisionWithdrawn)):
                return _decision_problem(ledger, event) or _config_problem(event)
            where = events.SessionRef.championship_of(event.session.championship).key
            return Rejected(
                RejectCode.WRONG_SUBJECT,
                f"{type(body).__name__} belongs to the championship's session {where}, not to {key}"
                if championship_level
                else f"{key} carries only points configuration and points decisions",
            )
        if isinstance(body, events.SessionOpened):
            if ledger is not None and ledger.opened_at is not None:
                return Rejected(RejectCode.SESSION_ALREADY_OPENED, f"session {key} is already open")
            return None
        if ledger is None or ledger.opened_at is None:
            return Rejected(
                RejectCode.SESSION_NOT_OPENED,
                f"session {key} was never opened: publish a session_opened event first",
            )
        if kind.registered_car and (number := cast(events.CarBody, body).number) not in ledger.cars:
            return Rejected(
                RejectCode.UNKNOWN_CAR,
                f"car #{number} is not registered in session {key}: publish entry_registered first",
            )
        if isinstance(body, events.LapCompleted) and body.number in ledger.last_lap:
            last, ended = ledger.last_lap[body.number]
            if body.lap <= last:
                return Rejected(
                    RejectCode.LAP_OUT_OF_ORDER,
                    f"lap {body.lap} of car #{body.number} does not follow its last lap {last} in session {key}",
                )
            if event.at < ended:
                return Rejected(
                    RejectCode.IMPLAUSIBLE,
                    f"lap {body.lap} of car #{body.number} ends at {_iso(event.at)}, before its lap {last} "
                    f"ended ({_iso(ended)}) in session {key}",
                )
        elif isinstance(body, events.LapCorrected) and body.lap > ledger.last_lap.get(body.number, (0, 0))[0]:
            return Rejected(
                RejectCode.UNKNOWN_LAP, f"car #{body.number} has no lap {body.lap} to correct in session {key}"
            )
        elif isinstance(body, events.ScoreboardReported):
            unknown = sorted({row.number for row in body.cars} - ledger.cars)
            if unknown:
                return Rejected(
                    RejectCode.UNKNOWN_CAR,
                    clip(
                        f"cars {', '.join('#' + n for n in unknown)} are not registered in session {key}: "
                        "publish entry_registered first"
                    ),
                )
        return _decision_problem(ledger, event) or _window_problem(ledger, event, ledger.opened_at, kind.track)

    def stored(self, key: str, msg_id: str, seq: int, digest: bytes) -> None:
        """An event admitted provisionally is stored at ``seq``: what :meth:`admit` again would do, for less."""
        self.sessions[key].accepted[msg_id] = (seq, digest)

    def admit(self, event: events.Event, seq: int, digest: bytes) -> None:
        """Record an event the stream holds at ``seq`` (live, or read back at start-up; 0: provisionally) with the
        :func:`fingerprint` of its content."""
        key = event.session.key
        ledger = self.sessions.get(key) or self.sessions.setdefault(key, SessionLedger())
        msg_id = event.msg_id
        first = msg_id not in ledger.accepted  # admitted provisionally, then again with its sequence
        ledger.accepted[msg_id] = (seq, digest)
        body = event.body
        kind = _kind(body)
        if isinstance(body, events.LapCompleted):  # first: most events are laps
            last, ended = ledger.last_lap.get(body.number, (0, event.at))
            ledger.last_lap[body.number] = (max(body.lap, last), max(event.at, ended))
        elif kind.calendar:
            if first:  # one stored some other way and unfit is skipped, as the standings projector skips it
                with contextlib.suppress(CalendarError):
                    ledger.calendar = apply_calendar(ledger.calendar, cast(events.CalendarBody, body), event.at)
        elif isinstance(body, events.SessionOpened):
            ledger.opened_at = event.at
            end = scheduled_end(body)
            ledger.horizon = max(ledger.horizon, event.at, end if end is not None else event.at)
        elif isinstance(body, events.EntryRegistered):
            ledger.cars.add(body.number)
        elif isinstance(body, DECISION_BODIES) and body.decision not in ledger.decisions:
            pit_lane = isinstance(body, events.PenaltyIssued) and body.kind in PIT_LANE_KINDS
            ledger.decisions[body.decision] = Decision(getattr(body, "number", None), pit_lane)
        elif isinstance(body, events.DecisionWithdrawn) and (issued := ledger.decisions.get(body.decision)) is not None:
            ledger.decisions[body.decision] = Decision(issued.number, issued.pit_lane, withdrawn=True)
        elif isinstance(body, events.ScoreboardReported):
            for row in body.cars:  # the laps a scoreboard adds (placed by their crossing) are the car's
                if row.laps is not None and row.last_crossing is not None:
                    last, ended = ledger.last_lap.get(row.number, (0, row.last_crossing))
                    ledger.last_lap[row.number] = (max(row.laps, last), max(row.last_crossing, ended))
        if kind.track:
            ledger.horizon = max(ledger.horizon, event.at)


def _check_calendar(event: events.Event, ledger: SessionLedger | None) -> Rejected | None:
    """Calendar events go to the championship's calendar session, which holds nothing else; each must apply to
    the calendar as stored, and the calendar must stay small enough for its read model to be written."""
    body = event.body
    where = events.SessionRef.calendar_of(event.session.championship)
    if event.session != where:
        return Rejected(
            RejectCode.WRONG_SUBJECT,
            f"{type(body).__name__} belongs to the championship's calendar session {where.key}, "
            f"not to {event.session.key}",
        )
    if not isinstance(body, events.CALENDAR_BODIES):
        return Rejected(
            RejectCode.WRONG_SUBJECT,
            f"{where.key} carries only the calendar (calendar_published, session_rescheduled, session_cancelled, "
            "session_added)",
        )
    try:
        schedule = apply_calendar(ledger.calendar if ledger is not None else None, body, event.at)
    except CalendarError as error:
        return Rejected(RejectCode.INVALID_CALENDAR, clip(f"{type(body).__name__} refused: {error}", events.REASON_MAX))
    if (too_large := oversized(where.championship, schedule)) is not None:
        return Rejected(RejectCode.INVALID_CALENDAR, f"{type(body).__name__} refused: {too_large}")
    return None


def _decision_problem(ledger: SessionLedger | None, event: events.Event) -> Rejected | None:
    """A decision that contradicts the session's decisions as stored (see the module's rules)."""
    body = event.body
    kind = _kind(body)
    if not (kind.decision or kind.names_decision):
        return None  # most events: no look-up of decisions at all
    decisions = ledger.decisions if ledger is not None else {}
    if isinstance(body, DECISION_BODIES):
        issued = decisions.get(body.decision)
        if issued is not None:
            state = "withdrawn" if issued.withdrawn else "in force"
            return Rejected(
                RejectCode.INCONSISTENT,
                f"decision {body.decision} already exists in session {event.session.key} ({state}): "
                "give a new decision its own number",
            )
        if isinstance(body, events.LapDeleted):
            done = ledger.last_lap.get(body.number, (0, 0))[0] if ledger is not None else 0
            if body.lap > done:
                return Rejected(
                    RejectCode.INCONSISTENT,
                    f"car #{body.number} has completed {done} laps in session {event.session.key}: "
                    f"lap {body.lap} cannot be deleted",
                )
        return None
    if isinstance(body, NAMING_DECISION):
        issued = decisions.get(body.decision)
        if issued is None or issued.withdrawn:
            return Rejected(
                RejectCode.INCONSISTENT,
                f"no decision {body.decision} in force in session {event.session.key}"
                + (" (it was withdrawn)" if issued is not None else ""),
            )
        if isinstance(body, events.PenaltyServed) and (issued.number != body.number or not issued.pit_lane):
            return Rejected(
                RejectCode.INCONSISTENT,
                f"decision {body.decision} is not a drive-through or stop-and-go of car #{body.number} "
                f"in session {event.session.key}: nothing to serve",
            )
    return None


def _window_problem(ledger: SessionLedger, event: events.Event, opened_at: int, track: bool) -> Rejected | None:
    """An instant too far from the session's window (see the module's rules); ``track``: a timing event's."""
    at = event.at
    if at < opened_at - BEFORE_OPENING_MS:
        return Rejected(
            RejectCode.IMPLAUSIBLE,
            f"{_dated(event)}, more than 48 h before session {event.session.key} was opened ({_iso(opened_at)}): "
            "check the timing clock's date",
        )
    if track:
        if at > ledger.horizon + TRACK_GAP_MS:
            return Rejected(
                RejectCode.IMPLAUSIBLE,
                f"{_dated(event)}, more than 48 h after the latest timing of session {event.session.key} "
                f"({_iso(ledger.horizon)}): check the timing clock's date",
            )
    elif at > opened_at + DECISION_WINDOW_MS:
        return Rejected(
            RejectCode.IMPLAUSIBLE,
            f"{_dated(event)}, more than 400 days after session {event.session.key} was opened ({_iso(opened_at)})",
        )
    return None


def _dated(event: events.Event) -> str:
    return f"{type(event.body).__name__} dated {_iso(event.at)}"


def _config_problem(event: events.Event) -> Rejected | None:
    """A points configuration is decoded and checked here, as the standings engine will: a file it cannot use is
    refused with its field and reason instead of stopping the standings."""
    body = event.body
    if not isinstance(body, events.ChampionshipConfigured):
        return None
    source = body.source or event.id
    try:
        decode_config(body.toml, source)
    except ConfigError as error:
        return Rejected(RejectCode.INVALID_CONFIG, clip(str(error), events.REASON_MAX))
    except Exception as error:  # a file the engine cannot even judge is refused too, never stored to stop it
        return Rejected(RejectCode.INVALID_CONFIG, clip(f"{source}: the standings engine cannot read it ({error!r})"))
    return None
