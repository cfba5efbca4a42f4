"""A race log made ready to replay (pure): its events in another session or under other rules, and the pace at
which to send them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import msgspec

from schemas.events import ClassificationRules, Event, SessionOpened, SessionRef

AS_FAST_CHUNK = 1000


def retarget(events: Iterable[Event], session: SessionRef | None) -> Iterator[Event]:
    """The same events in another session (a new name for a replayed log)."""
    for event in events:
        yield event if session is None else msgspec.structs.replace(event, session=session)


def with_rules(events: Iterable[Event], rules: ClassificationRules | None) -> Iterator[Event]:
    """The same events with the session's classification rules replaced (None: as logged). A session already open
    keeps its rules (ingest stores one ``session_opened``): give a new one with :func:`retarget`."""
    for event in events:
        if rules is not None and isinstance(event.body, SessionOpened):
            event = msgspec.structs.replace(event, body=msgspec.structs.replace(event.body, rules=rules))
        yield event


def schedule(events: Sequence[Event], speed: float | None) -> Iterator[tuple[float, list[Event]]]:
    """Groups of events sharing an instant, each with its offset in seconds from the first.

    ``speed`` 1 is the recorded pace, 10 ten times faster, None as fast as possible
    (chunks of ``AS_FAST_CHUNK``, all at offset 0).
    """
    if not events:
        return
    if speed is None:
        for start in range(0, len(events), AS_FAST_CHUNK):
            yield 0.0, list(events[start : start + AS_FAST_CHUNK])
        return
    origin = events[0].at
    group: list[Event] = []
    for event in events:
        if group and event.at != group[0].at:
            yield (group[0].at - origin) / 1000 / speed, group
            group = []
        group.append(event)
    yield (group[0].at - origin) / 1000 / speed, group
