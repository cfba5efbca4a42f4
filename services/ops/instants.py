"""Reading an instant an operator types (ISO 8601, epoch milliseconds, or session time since the green), and
whether a session's log reaches it."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from schemas.events import Event, SessionStarted
from services.classification.timefmt import format_clock, format_instant

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
