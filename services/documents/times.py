"""Times as the official documents print them."""

from __future__ import annotations

from services.classification.timefmt import format_clock, format_laptime


def race_time(ms: int) -> str:
    """``H:MM:SS.sss``: a race time, a time in the pit lane, a drive time."""
    return f"{format_clock(ms)}.{max(ms, 0) % 1000:03d}"


def elapsed(ms: int) -> str:
    """``M:SS.sss`` under an hour, else ``H:MM:SS.sss``."""
    return format_laptime(ms) if ms < 3_600_000 else race_time(ms)


def seconds(ms: int) -> str:
    """``SS.sss`` under a minute, else ``M:SS.sss``: a sector."""
    return f"{ms // 1000}.{ms % 1000:03d}" if ms < 60_000 else format_laptime(ms)
