"""Time travel: a session's classification after stream sequence N, at an instant of the session, or at every
full hour of a race.

Reads the session's events from the log and folds them with
:func:`~services.classification.fold.classification_until`, the time travel ``chequered at``
and the standings use too, so the answer is what the live screens showed then (``seq``) or
what the classification was at that moment (``at``, and each hour of
:func:`~services.classification.hourly.hourly`).
"""

from __future__ import annotations

import asyncio

from nats.js import JetStreamContext

from schemas.events import Event, SessionRef
from schemas.results import Classification, HourlyClassification, RaceControlMessages
from services.broker.reader import read_events
from services.classification.fold import classification_until, fold_log
from services.classification.hourly import hourly


async def classification_at(
    js: JetStreamContext, session: SessionRef, *, seq: int | None, at: int | None
) -> Classification | None:
    """The session's classification by ``seq`` and/or ``at``; None if it was not open by then."""
    events = await read_events(js, session.key, until_seq=seq)
    # the fold of a long race is CPU work: off the event loop, so live clients keep being served
    return await asyncio.to_thread(lambda: classification_until(events, session, seq=seq, at=at))


def messages_of(session: SessionRef, events: list[tuple[int, Event]]) -> RaceControlMessages | None:
    """Every race-control message of the session's log; None if the log never opens it."""
    state = fold_log(events).sessions.get(session.key)
    if state is None or state.opened is None:
        return None
    return RaceControlMessages(session=session, last_seq=state.last_seq, messages=state.messages)


async def race_control_messages(js: JetStreamContext, session: SessionRef) -> RaceControlMessages | None:
    """Every race-control message of the session's log; None if the log never opens it."""
    events = await read_events(js, session.key)
    return await asyncio.to_thread(messages_of, session, events)


async def hourly_classification(js: JetStreamContext, session: SessionRef) -> HourlyClassification | None:
    """The session's classification at each full hour of the race so far; None if the log never opens it."""
    events = await read_events(js, session.key)
    return await asyncio.to_thread(lambda: hourly(events, session))
