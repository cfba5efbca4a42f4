"""What ingest accepts: schema validity plus the sanity rules of timing.

Pure: the ingest service keeps one :class:`IngestLedger` (rebuilt from the
stream at start-up), asks :meth:`IngestLedger.check` before publishing and
calls :meth:`IngestLedger.admit` once the stream has acknowledged. The ledger
remembers every accepted ``msg_id`` of a session with its sequence, so a
producer retrying an event hours later still gets ``duplicate`` with the
original sequence, long after the server's de-duplication window.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec

from schemas.events import (
    CHAMPIONSHIP_BODIES,
    CarBody,
    DecisionWithdrawn,
    EntryRegistered,
    Event,
    LapCompleted,
    LapCorrected,
    ScoreboardReported,
    SessionOpened,
    SessionRef,
    decode_event,
)
from schemas.ingest import Accepted, RejectCode, Rejected
from schemas.subjects import INGEST_PREFIX, session_key_of


@dataclass
class SessionLedger:
    opened: bool = False
    cars: set[str] = field(default_factory=set)
    last_lap: dict[str, int] = field(default_factory=dict)
    accepted: dict[str, int] = field(default_factory=dict)
    """``msg_id`` -> stream sequence."""


def decode_submission(subject: str, data: bytes, addressed: str | None = None) -> Event | Rejected:
    """Decode what a producer sent to an ingest subject, or say why not.

    ``addressed``: the session key of ``subject``, when the caller has it already (None: read from ``subject``).
    """
    try:
        event = decode_event(data)
    except msgspec.MsgspecError as error:
        return Rejected(RejectCode.MALFORMED, f"not a valid chequered event: {error}")
    if addressed is None:
        addressed = session_key_of(subject, INGEST_PREFIX)
    if addressed != event.session.key:
        return Rejected(
            RejectCode.WRONG_SUBJECT,
            f"event for session {event.session.key} sent to {subject}; send it to {INGEST_PREFIX}.{event.session.key}",
        )
    return event


class IngestLedger:
    """Per-session memory of what the stream holds, enough to judge the next event."""

    def __init__(self) -> None:
        self.sessions: dict[str, SessionLedger] = {}

    def duplicate_of(self, event: Event) -> Accepted | None:
        ledger = self.sessions.get(event.session.key)
        seq = ledger.accepted.get(event.msg_id) if ledger else None
        return Accepted(seq=seq, duplicate=True) if seq is not None else None

    def check(self, event: Event) -> Rejected | None:
        """None when the event may be written; otherwise the reason it may not."""
        key = event.session.key
        ledger = self.sessions.get(key)
        body = event.body
        championship_level = isinstance(body, CHAMPIONSHIP_BODIES)
        if event.session.is_championship or championship_level:
            if event.session.is_championship and (championship_level or isinstance(body, DecisionWithdrawn)):
                return None
            where = SessionRef.championship_of(event.session.championship).key
            return Rejected(
                RejectCode.WRONG_SUBJECT,
                f"{type(body).__name__} belongs to the championship's session {where}, not to {key}"
                if championship_level
                else f"{key} carries only points configuration and points decisions",
            )
        if isinstance(body, SessionOpened):
            if ledger is not None and ledger.opened:
                return Rejected(RejectCode.SESSION_ALREADY_OPENED, f"session {key} is already open")
            return None
        if ledger is None or not ledger.opened:
            return Rejected(
                RejectCode.SESSION_NOT_OPENED,
                f"session {key} was never opened: publish a session_opened event first",
            )
        if isinstance(body, CarBody) and not isinstance(body, EntryRegistered) and body.number not in ledger.cars:
            return Rejected(
                RejectCode.UNKNOWN_CAR,
                f"car #{body.number} is not registered in session {key}: publish entry_registered first",
            )
        if isinstance(body, LapCompleted):
            last = ledger.last_lap.get(body.number, 0)
            if body.lap <= last:
                return Rejected(
                    RejectCode.LAP_OUT_OF_ORDER,
                    f"lap {body.lap} of car #{body.number} does not follow its last lap {last} in session {key}",
                )
        elif isinstance(body, LapCorrected) and body.lap > ledger.last_lap.get(body.number, 0):
            return Rejected(
                RejectCode.UNKNOWN_LAP, f"car #{body.number} has no lap {body.lap} to correct in session {key}"
            )
        elif isinstance(body, ScoreboardReported):
            unknown = sorted({row.number for row in body.cars} - ledger.cars)
            if unknown:
                return Rejected(
                    RejectCode.UNKNOWN_CAR,
                    f"cars {', '.join('#' + n for n in unknown)} are not registered in session {key}: "
                    "publish entry_registered first",
                )
        return None

    def admit(self, event: Event, seq: int) -> None:
        """Record an event the stream holds at ``seq`` (live, or read back at start-up)."""
        ledger = self.sessions.setdefault(event.session.key, SessionLedger())
        ledger.accepted[event.msg_id] = seq
        body = event.body
        if isinstance(body, SessionOpened):
            ledger.opened = True
        elif isinstance(body, EntryRegistered):
            ledger.cars.add(body.number)
        elif isinstance(body, LapCompleted):
            ledger.last_lap[body.number] = max(body.lap, ledger.last_lap.get(body.number, 0))
        elif isinstance(body, ScoreboardReported):
            for row in body.cars:  # the laps a scoreboard adds (placed by their crossing) are the car's
                if row.laps is not None and row.last_crossing is not None:
                    ledger.last_lap[row.number] = max(row.laps, ledger.last_lap.get(row.number, 0))
