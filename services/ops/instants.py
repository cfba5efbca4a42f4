"""Reading what an operator types: an instant (ISO 8601, epoch milliseconds, or session time since the green), or a
duration (``6h``, ``90min``, ``1h30m``, ``45s``, ``6:00:00``), as the command line and championship configs take."""

from __future__ import annotations

import re
from datetime import datetime

_UNITS = {"h": 3_600_000, "min": 60_000, "m": 60_000, "s": 1000, "ms": 1}
_PART = re.compile(r"(\d+)\s*(h|min|ms|m|s)\s*")
_CLOCK = re.compile(r"^(\d+):(\d{2}):(\d{2})(?:\.(\d{1,3}))?$")


def parse_duration(text: str) -> int | None:
    """Milliseconds, or None when ``text`` is not a duration: units ``h``, ``min`` (or ``m``), ``s``, ``ms`` in
    that order (``1h30min``, ``90min``, ``45s``), or ``H:MM:SS[.mmm]``."""
    text = text.strip()
    clock = _CLOCK.match(text)
    if clock:
        hh, mm, ss, frac = clock.groups()
        return (int(hh) * 3600 + int(mm) * 60 + int(ss)) * 1000 + int((frac or "0").ljust(3, "0"))
    parts = [(int(amount), _UNITS[unit]) for amount, unit in _PART.findall(text)]
    rebuilt = "".join(m.group(0) for m in _PART.finditer(text))
    scales = [scale for _, scale in parts]
    if not parts or rebuilt != text or scales != sorted(set(scales), reverse=True):
        return None
    return sum(amount * scale for amount, scale in parts)


def parse_instant(text: str, started_at: int | None) -> int:
    """``2026-04-19T21:00:00+02:00``, ``1776625200000`` (signed: ``-487209600000`` is in 1954), or ``6h`` /
    ``6:00:00`` after the green flag."""
    text = text.strip()
    digits = text.removeprefix("-")
    if digits.isdigit() and len(digits) >= 12:
        return int(text)
    ms = parse_duration(text)
    if ms is not None:
        if started_at is None:
            raise ValueError(f"{text!r} is a session time, but the session has not started in the log")
        return started_at + ms
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"cannot read {text!r} as an instant: use ISO 8601, epoch ms, or 6h / 6:00:00") from None
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone: add one, e.g. {text}+02:00")
    return int(moment.timestamp() * 1000)
