"""Reading an instant an operator types: ISO 8601, epoch milliseconds, or session time since the green."""

from __future__ import annotations

import re
from datetime import datetime

_CLOCK = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$|^(\d+):(\d{2}):(\d{2})(?:\.(\d{1,3}))?$")


def parse_instant(text: str, started_at: int | None) -> int:
    """``2026-04-19T21:00:00+02:00``, ``1776625200000``, or ``6h`` / ``6:00:00`` after the green flag."""
    text = text.strip()
    if text.isdigit() and len(text) >= 12:
        return int(text)
    match = _CLOCK.match(text)
    if match and any(match.groups()):
        if started_at is None:
            raise ValueError(f"{text!r} is a session time, but the session has not started in the log")
        h, m, s, hh, mm, ss, frac = match.groups()
        if hh is not None:
            ms = (int(hh) * 3600 + int(mm) * 60 + int(ss)) * 1000 + int((frac or "0").ljust(3, "0"))
        else:
            ms = (int(h or 0) * 3600 + int(m or 0) * 60 + int(s or 0)) * 1000
        return started_at + ms
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"cannot read {text!r} as an instant: use ISO 8601, epoch ms, or 6h / 6:00:00") from None
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone: add one, e.g. {text}+02:00")
    return int(moment.timestamp() * 1000)
