"""One-off race-control inputs (``chequered publish``): a flag, a penalty, a retirement, a decision.

Pure: turns what an official types into an event. The id is derived from what
the event says (the decision number for decisions, the instant for the rest),
so running the same command again after a timeout (with the same ``--at``) is
answered as a duplicate. A decision number sent again with other content (another
instant, another amount) is answered ``conflict``, naming the sequence at which
the first is stored.
"""

from __future__ import annotations

import hashlib

from schemas.events import (
    CarRetired,
    ChampionshipConfigured,
    DecisionWithdrawn,
    Event,
    EventBody,
    Flag,
    FlagChanged,
    LapDeleted,
    PenaltyIssued,
    PenaltyKind,
    ResultsDeclared,
    ResultsStatus,
    SessionFinished,
    SessionRef,
    encode_event,
)

PRODUCER = "race-control"


def race_control_event(session: SessionRef, body: EventBody, at: int, event_id: str | None = None) -> Event:
    if event_id is None:
        decision = getattr(body, "decision", None)
        if isinstance(body, PenaltyIssued | LapDeleted | DecisionWithdrawn) and decision:
            event_id = f"{type(body).__name__.lower()}-{decision}"
        else:
            probe = Event(id="x", session=session, producer=PRODUCER, at=at, body=body)
            event_id = "rc-" + hashlib.sha1(encode_event(probe), usedforsecurity=False).hexdigest()[:16]
    return Event(id=event_id, session=session, producer=PRODUCER, at=at, body=body)


def parse_duration_ms(text: str) -> int:
    """``5s``, ``30``, ``1:05.250``, ``250ms`` -> milliseconds."""
    text = text.strip()
    if text.endswith("ms"):
        return int(text[:-2])
    if ":" in text:
        minutes, seconds = text.split(":", 1)
        return int(minutes) * 60_000 + round(float(seconds) * 1000)
    return round(float(text.removesuffix("s")) * 1000)


def penalty(number: str, decision: str, kind: str, amount: str | None, reason: str) -> PenaltyIssued:
    k = PenaltyKind(kind)
    time_ms = parse_duration_ms(amount) if amount and k in (PenaltyKind.TIME, PenaltyKind.DRIVE_THROUGH,
                                                            PenaltyKind.STOP_AND_GO) else 0  # fmt: skip
    count = int(amount) if amount and k in (PenaltyKind.LAP_DEDUCTION, PenaltyKind.POSITION_DROP) else 0
    return PenaltyIssued(
        number=number,
        decision=decision,
        kind=k,
        time_ms=time_ms,
        laps=count if k is PenaltyKind.LAP_DEDUCTION else 0,
        positions=count if k is PenaltyKind.POSITION_DROP else 0,
        reason=reason,
    )


INPUTS = ("flag", "penalty", "retire", "delete-lap", "withdraw", "results", "chequered", "config")
"""What race control can publish, as ``chequered publish`` names it."""


def race_control_body(
    what: str,
    *,
    number: str = "",
    decision: str = "",
    flag: str = "",
    sector: int | None = None,
    kind: str = "",
    amount: str | None = None,
    lap: int = 0,
    status: str = "",
    reason: str = "",
    config: ChampionshipConfigured | None = None,
) -> EventBody:
    """The event body of one race-control input, from the fields an official gives for it."""
    if what == "flag":
        return FlagChanged(flag=Flag(flag), sector=sector)
    if what == "penalty":
        return penalty(number, decision, kind, amount, reason)
    if what == "retire":
        return CarRetired(number=number, reason=reason)
    if what == "delete-lap":
        return LapDeleted(number=number, decision=decision, lap=lap, reason=reason)
    if what == "withdraw":
        return DecisionWithdrawn(decision=decision, reason=reason)
    if what == "results":
        return ResultsDeclared(status=ResultsStatus(status))
    if what == "config":
        if config is None:
            raise ValueError("a points configuration input needs the configuration")
        return config
    if what == "chequered":
        return SessionFinished()
    raise ValueError(f"unknown race-control input {what!r}: one of {', '.join(INPUTS)}")
