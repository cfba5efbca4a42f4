"""Times as timing screens print them: lap times, gaps and the session clock. Pure formatting."""

from __future__ import annotations

from datetime import UTC, datetime

from schemas.results import Classification, ClassifiedCar, Gap

PENALTY_MARK = "*"
"""After a gap that includes time penalties (the car's or the one it is measured against): every gap does, as the
order does; the mark says that this one is not the gap on the road."""
PENALTY_NOTE = f"{PENALTY_MARK} includes time penalties"


def format_laptime(ms: int | None) -> str:
    """``1:42.315``; empty for no time."""
    if ms is None:
        return ""
    minutes, rest = divmod(ms, 60_000)
    return f"{minutes}:{rest // 1000:02d}.{rest % 1000:03d}"


def format_gap(gap: Gap | None) -> str:
    """``+4.211``, ``+1:02.003`` or ``+2 laps``; empty for none (the leader). A car behind in the order but ahead
    on time (a position drop) reads ``-0.500``."""
    if gap is None:
        return ""
    if gap.laps:
        return f"+{gap.laps} lap{'s' if gap.laps > 1 else ''}"
    sign, ms = ("+", gap.ms) if gap.ms >= 0 else ("-", -gap.ms)
    return f"{sign}{ms // 1000}.{ms % 1000:03d}" if ms < 60_000 else f"{sign}{format_laptime(ms)}"


def penalty_gap(gap: Gap | None, car: ClassifiedCar, other: ClassifiedCar | None) -> str:
    """:func:`format_gap`, marked when the gap includes a time penalty of ``car`` or of ``other``."""
    text = format_gap(gap)
    if text and (car.penalty_time_ms or (other is not None and other.penalty_time_ms)):
        return text + PENALTY_MARK
    return text


def format_seconds(ms: int) -> str:
    """A penalty's time as the page gives it: ``5 s``, ``2.5 s`` (never rounded away)."""
    whole, rest = divmod(ms, 1000)
    return f"{whole} s" if not rest else f"{whole}.{rest:03d}".rstrip("0") + " s"


def format_clock(ms: int) -> str:
    """Session time ``6:02:11`` (hours are not wrapped: a 24-hour race ends past ``24:00:00``)."""
    hours, rest = divmod(max(ms, 0) // 1000, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


LONGEST_SESSION_MS = 7 * 24 * 3_600_000
"""A time since the start beyond a week is a wrong instant (a race-control input stamped by another clock), not a
session: no clock shows it."""


def since_start(started_at: int | None, at: int) -> int | None:
    """Milliseconds from the start to ``at``; None before the start or for an absurd instant."""
    if started_at is None or not 0 <= at - started_at <= LONGEST_SESSION_MS:
        return None
    return at - started_at


def latest_crossing(classification: Classification) -> int | None:
    """The session's own timing clock: its latest crossing of the line (never an instant a race-control input was
    stamped with, which may come from another clock)."""
    return max((car.last_crossing for car in classification.cars if car.last_crossing is not None), default=None)


def session_clock(classification: Classification) -> int | None:
    """The session clock as every screen shows it: the latest crossing (:func:`latest_crossing`), stopped at the
    chequered flag."""
    c = classification
    latest = latest_crossing(c)
    at = c.chequered_at if c.chequered_at is not None else latest if latest is not None else c.started_at
    return None if at is None else since_start(c.started_at, at)


def format_instant(ms: int) -> str:
    """A timing-clock instant in UTC: ``2026-04-19T13:00:00Z``."""
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
