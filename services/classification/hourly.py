"""The classification at every full hour of a race, as an endurance race's timekeeper publishes it.

Hour ``h`` is time travel to the start plus ``h`` hours (:func:`fold_until` with
``at``): every event that happened by then counts, even one the stream holds
later. One pass gives all the hours when the log is in time order (the usual
case): the events of hour ``h`` are then a prefix of the log and the fold of
that prefix goes on to hour ``h + 1``. An hour whose events are not a prefix
(an event delivered after a later one) is folded again from the start, so the
answer is always that of :func:`fold_until`.

The hours are those of the race up to its end: the chequered flag, or the
last event folded while it runs; never more than :data:`MAX_HOURS`.
"""

from __future__ import annotations

from collections.abc import Sequence

from schemas.events import Event, SessionRef
from schemas.results import Classification, HourClassification, HourlyClassification, HourRow
from services.classification.fold import ClassificationProjection, SessionFold, fold_log, fold_until
from services.structs import carried

HOUR_MS = 3_600_000
MAX_HOURS = 48
"""No race runs longer: an instant far ahead in a log (the year 3000) cannot ask for millions of classifications."""


def hourly(events: Sequence[tuple[int, Event]], session: SessionRef) -> HourlyClassification | None:
    """The session's classification at each full hour; None when ``events`` never open it."""
    whole = fold_log(events).sessions.get(session.key)
    if whole is None or whole.opened is None:
        return None
    started = whole.started_at
    hours: list[HourClassification] = []
    if started is not None:
        end = whole.chequered_at if whole.chequered_at is not None else whole.as_of
        earliest_after = _earliest_after(events)
        projection = ClassificationProjection()
        folded = 0
        for hour in range(1, min((end - started) // HOUR_MS, MAX_HOURS) + 1):
            at = started + hour * HOUR_MS
            while folded < len(events) and events[folded][1].at <= at:
                projection.apply(*events[folded])
                folded += 1
            late = folded < len(events) and earliest_after[folded] <= at
            state = (fold_until(events, at=at) if late else projection).sessions.get(session.key)
            if state is not None and state.opened is not None:
                hours.append(_hour(hour, at, state))
    return HourlyClassification(session=session, name=whole.opened.name, started_at=started, hours=hours)


def _earliest_after(events: Sequence[tuple[int, Event]]) -> list[int]:
    """For each index, the earliest ``at`` of the events from there to the end."""
    earliest = [0] * len(events)
    running: int | None = None
    for i in range(len(events) - 1, -1, -1):
        at = events[i][1].at
        running = at if running is None else min(running, at)
        earliest[i] = running
    return earliest


def _hour(hour: int, at: int, state: SessionFold) -> HourClassification:
    classification: Classification = state.classification()
    return HourClassification(
        hour=hour,
        at=at,
        last_seq=classification.last_seq,
        cars=[carried(HourRow, car) for car in classification.cars],
    )
