"""Times as timing screens print them: lap times, gaps and the session clock. Pure formatting."""

from __future__ import annotations

from datetime import UTC, datetime

from schemas.results import Gap


def format_laptime(ms: int | None) -> str:
    """``1:42.315``; empty for no time."""
    if ms is None:
        return ""
    minutes, rest = divmod(ms, 60_000)
    return f"{minutes}:{rest // 1000:02d}.{rest % 1000:03d}"


def format_gap(gap: Gap | None) -> str:
    """``+4.211``, ``+1:02.003`` or ``+2 laps``; empty for none (the leader)."""
    if gap is None:
        return ""
    if gap.laps:
        return f"+{gap.laps} lap{'s' if gap.laps > 1 else ''}"
    if 0 <= gap.ms < 60_000:
        return f"+{gap.ms // 1000}.{gap.ms % 1000:03d}"
    return f"+{format_laptime(gap.ms)}"


def format_clock(ms: int) -> str:
    """Session time ``6:02:11`` (hours are not wrapped: a 24-hour race ends past ``24:00:00``)."""
    hours, rest = divmod(max(ms, 0) // 1000, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


def format_instant(ms: int) -> str:
    """A timing-clock instant in UTC: ``2026-04-19T13:00:00Z``."""
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
