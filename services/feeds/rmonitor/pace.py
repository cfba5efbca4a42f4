"""The pace at which to replay an RMonitor capture (pure): the delays a replayer sleeps before sending each line,
at the recorded pace, N times faster, or as fast as possible."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import NamedTuple

Line = tuple[int, float | None, str]
"""``(line number, arrival, line)``: a record line and the UTC epoch seconds it arrived (``None``: not known)."""


class ReplayStep(NamedTuple):
    line_no: int
    delay_s: float
    """Seconds to wait, after sending the previous line, before sending this one."""
    line: str


def replay_schedule(
    capture: Iterable[Line],
    speed: float | None = 1.0,
    *,
    heartbeat_s: float = 1.0,
) -> list[ReplayStep]:
    """The delays that replay a capture at ``speed`` times its recorded pace.

    ``speed=1`` is the recorded pace, ``speed=10`` ten times faster, and
    ``speed=None`` (or ``math.inf``) as fast as possible (every delay 0).

    The recorded pace comes from the ``##`` arrival stamps when the capture has
    them (a stamp going backwards gives no delay). A capture without stamps is
    paced by its ``$F`` heartbeats, which Orbits sends once a second: every
    heartbeat after the first waits ``heartbeat_s``, other lines go at once.
    """
    entries = list(capture)
    if speed is not None and not speed > 0:
        raise ValueError(f"speed must be positive or None, not {speed!r}")
    factor = 0.0 if speed is None or math.isinf(speed) else 1.0 / speed
    stamped = any(arrival is not None for _, arrival, _ in entries)
    steps: list[ReplayStep] = []
    previous: float | None = None
    seen_heartbeat = False
    for line_no, arrival, line in entries:
        recorded = 0.0
        if stamped:
            if arrival is not None:
                if previous is not None:
                    recorded = max(0.0, arrival - previous)
                previous = arrival
        elif line.lstrip("\ufeff").startswith("$F"):
            recorded = heartbeat_s if seen_heartbeat else 0.0
            seen_heartbeat = True
        steps.append(ReplayStep(line_no, recorded * factor, line))
    return steps
