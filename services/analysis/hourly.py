"""The classification at every full hour of a race, for the hourly classification document.

Hour ``h`` is time travel to the start plus ``h`` hours: :func:`fold_until`
with ``at``, every event that happened by then counted even if the stream
holds it later. When the log is in time order (the usual case) one pass
gives every hour, the fold of hour ``h`` going on to hour ``h + 1``; an hour
whose events are not a prefix of the log is folded from the start again.
(Issue 15 brings an hourly read model of its own; this is what the document
needs until both are one.)
"""

from __future__ import annotations

from collections.abc import Sequence

from schemas.events import Event, SessionRef, SessionStarted
from schemas.results import Classification
from services.classification.fold import ClassificationProjection, fold_until

HOUR_MS = 3_600_000


def hourly(events: Sequence[tuple[int, Event]], session: SessionRef, end: int) -> list[tuple[int, Classification]]:
    """``(hour, classification)`` at each full hour from the session's start until ``end`` (an instant)."""
    started = next((e.at for _, e in events if isinstance(e.body, SessionStarted)), None)
    if started is None:
        return []
    earliest_after = [0] * len(events)
    running: int | None = None
    for i in range(len(events) - 1, -1, -1):
        at = events[i][1].at
        running = at if running is None else min(running, at)
        earliest_after[i] = running
    projection = ClassificationProjection()
    folded = 0
    hours = []
    for hour in range(1, (end - started) // HOUR_MS + 1):
        at = started + hour * HOUR_MS
        while folded < len(events) and events[folded][1].at <= at:
            projection.apply(*events[folded])
            folded += 1
        late = folded < len(events) and earliest_after[folded] <= at
        state = (fold_until(events, at=at) if late else projection).sessions.get(session.key)
        if state is not None and state.opened is not None:
            hours.append((hour, state.classification()))
    return hours
