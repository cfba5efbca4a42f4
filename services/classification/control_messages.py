"""The race-control feed: what a flag, a penalty, a decision, a retirement or the results announce.

Pure: one event and the session's folded state *before* it in, at most one
:class:`~schemas.results.RaceControlMessage` out. The fold asks before applying
the event (a withdrawal names only its decision: the car comes from the
decisions still in force; a flag already out announces nothing) and keeps the
message once the event is applied.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from schemas import events
from schemas.results import MessageKind, RaceControlMessage

if TYPE_CHECKING:
    from services.classification.state import SessionState

REASON_CHARS = 160
"""A reason longer than this is cut in a message's text (the event keeps it whole)."""

FLAG_WORDS = {
    events.Flag.GREEN: "Green flag",
    events.Flag.YELLOW: "Yellow flag",
    events.Flag.FULL_COURSE_YELLOW: "Full course yellow",
    events.Flag.SAFETY_CAR: "Safety car",
    events.Flag.RED: "Red flag",
    events.Flag.CHEQUERED: "Chequered flag",
    events.Flag.UNKNOWN: "Flag unknown",
}


def seconds(ms: int) -> str:
    """A penalty's time as stewards write it: ``5 s``, ``2.5 s``, ``90 s``."""
    whole, rest = divmod(ms, 1000)
    return f"{whole} s" if not rest else f"{whole}.{rest:03d}".rstrip("0") + " s"


def _reason(text: str) -> str:
    text = " ".join(text.split())
    if not text:
        return ""
    return f" ({text[:REASON_CHARS]}…)" if len(text) > REASON_CHARS else f" ({text})"


def _penalty(penalty: events.PenaltyIssued) -> str:
    car = f"#{penalty.number}"
    match penalty.kind:
        case events.PenaltyKind.TIME:
            what = f"{car}: {seconds(penalty.time_ms)} time penalty"
        case events.PenaltyKind.DRIVE_THROUGH:
            what = f"{car}: drive-through penalty"
        case events.PenaltyKind.STOP_AND_GO:
            stop = f"{seconds(penalty.time_ms)} " if penalty.time_ms else ""
            what = f"{car}: {stop}stop-and-go penalty"
        case events.PenaltyKind.LAP_DEDUCTION:
            what = f"{car}: {penalty.laps} lap{'s' if penalty.laps != 1 else ''} deducted"
        case events.PenaltyKind.POSITION_DROP:
            what = f"{car}: dropped {penalty.positions} position{'s' if penalty.positions != 1 else ''}"
        case events.PenaltyKind.DISQUALIFICATION:
            what = f"{car} disqualified"
        case events.PenaltyKind.EXCLUSION:
            what = f"{car} excluded"
    return f"{what}{_reason(penalty.reason)} [{penalty.decision}]"


def chequered(seq: int, at: int) -> RaceControlMessage:
    """The chequered flag, shown by race control or inferred when the leader completed the distance."""
    return RaceControlMessage(
        seq=seq, at=at, kind=MessageKind.CHEQUERED, text=FLAG_WORDS[events.Flag.CHEQUERED], flag=events.Flag.CHEQUERED
    )


ANNOUNCING = frozenset(
    {
        events.FlagChanged,
        events.SessionStarted,
        events.SessionFinished,
        events.PenaltyIssued,
        events.PenaltyServed,
        events.LapDeleted,
        events.DecisionWithdrawn,
        events.CarRetired,
        events.ResultsDeclared,
    }
)
"""The kinds of event that may announce something (matched by :func:`message`): the fold asks :func:`message` only
of these, by the body's type (an ``isinstance`` that fails costs about 170 ns on msgspec's Struct types, and an
entry went through a dozen; most of a log, laps, never announces)."""


def message(state: SessionState, seq: int, event: events.Event) -> RaceControlMessage | None:
    """What ``event`` (of a kind in :data:`ANNOUNCING`) announces, given the session as it was folded before it
    (None: nothing to announce)."""
    body = event.body

    def made(kind: MessageKind, text: str, **fields: object) -> RaceControlMessage:
        return RaceControlMessage(seq=seq, at=event.at, kind=kind, text=text, **fields)  # type: ignore[arg-type]

    match body:
        case events.FlagChanged(flag=flag, sector=None):
            return None if flag is state.flag else made(MessageKind.FLAG, FLAG_WORDS[flag], flag=flag)
        case events.FlagChanged(flag=events.Flag.GREEN, sector=sector):
            return made(MessageKind.FLAG, f"Sector {sector} clear", flag=events.Flag.GREEN, sector=sector)
        case events.FlagChanged(flag=flag, sector=sector):
            return made(MessageKind.FLAG, f"{FLAG_WORDS[flag]} in sector {sector}", flag=flag, sector=sector)
        case events.SessionStarted() if state.started_at is None:
            opened = state.opened
            what = "Race" if opened is not None and opened.kind is events.SessionKind.RACE else "Session"
            return made(MessageKind.STARTED, f"Green flag: {what.lower()} started", flag=events.Flag.GREEN)
        case events.SessionFinished() if state.chequered_at is None:
            return chequered(seq, event.at)
        case events.PenaltyIssued():
            return made(
                MessageKind.PENALTY, _penalty(body), number=body.number, decision=body.decision, penalty=body.kind
            )
        case events.PenaltyServed(number=number, decision=decision):
            served = state.decisions.get(decision)
            what = served.kind.value.replace("_", "-") if isinstance(served, events.PenaltyIssued) else "penalty"
            text = f"#{number} served its {what} [{decision}]"
            return made(MessageKind.PENALTY_SERVED, text, number=number, decision=decision)
        case events.LapDeleted(number=number, lap=lap, decision=decision, reason=reason):
            text = f"#{number}: lap {lap} time deleted{_reason(reason)} [{decision}]"
            return made(MessageKind.LAP_DELETED, text, number=number, decision=decision)
        case events.DecisionWithdrawn(decision=decision, reason=reason):
            withdrawn = state.decisions.get(decision)
            concerned = withdrawn.number if withdrawn is not None else None
            car = f"#{concerned}: " if concerned is not None else ""
            text = f"{car}decision {decision} withdrawn{_reason(reason)}"
            return made(MessageKind.DECISION_WITHDRAWN, text, number=concerned, decision=decision)
        case events.CarRetired(number=number, reason=reason, source=source):
            seen = " (from the lap chart)" if source is events.RetirementSource.CHART else ""
            return made(MessageKind.RETIRED, f"#{number} retired{_reason(reason)}{seen}", number=number)
        case events.ResultsDeclared(status=status):
            return made(MessageKind.RESULTS, f"{status.value.capitalize()} results declared", results=status)
    return None
