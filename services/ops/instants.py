"""Reading what an operator types: an instant (ISO 8601, epoch milliseconds, or session time since the green), or a
duration (``6h``, ``90min``, ``1h30m``, ``45s``, ``6:00:00``), as the command line and championship configs take;
and whether a session's log reaches an instant."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from schemas.events import Event, SessionStarted
from services.classification.timefmt import format_clock, format_instant

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


class Span(NamedTuple):
    """Where a session's events lie: stream sequences and timing-clock instants."""

    first_seq: int
    last_seq: int
    first_at: int
    last_at: int
    started_at: int | None

    @classmethod
    def of(cls, events: Sequence[tuple[int, Event]]) -> Span:
        """The span of a session's ``(seq, event)`` pairs (not empty), in stream order."""
        started = next((event.at for _, event in events if isinstance(event.body, SessionStarted)), None)
        instants = [event.at for _, event in events]
        return cls(events[0][0], events[-1][0], min(instants), max(instants), started)

    def moment(self, at: int) -> str:
        """An instant as an operator reads it: UTC, and the session time when the session has started."""
        text = format_instant(at)
        if self.started_at is not None and at >= self.started_at:
            text += f" ({format_clock(at - self.started_at)} after the green)"
        return text

    def describe(self) -> str:
        return (
            f"its events run from seq {self.first_seq} to {self.last_seq}, "
            f"{self.moment(self.first_at)} to {self.moment(self.last_at)}"
        )

    def outside(self, seq: int | None, at: int | None) -> str | None:
        """Why the session has no state of its own at ``seq``/``at`` (None when it has): before its first event,
        or beyond its latest one (the log has not reached it)."""
        if seq is not None and seq < self.first_seq:
            return f"seq {seq} is before the session's first event"
        if at is not None and at < self.first_at:
            return f"{self.moment(at)} is before the session's first event"
        if seq is not None and seq > self.last_seq:
            return f"seq {seq} is beyond the session's latest event"
        if at is not None and at > self.last_at:
            return f"{self.moment(at)} is beyond the session's latest event"
        return None
