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

from schemas.events import SessionRef
from schemas.results import Classification, HourlyClassification
from services.broker.reader import read_events
from services.classification.fold import classification_until
from services.classification.hourly import hourly


async def classification_at(
    js: JetStreamContext, session: SessionRef, *, seq: int | None, at: int | None
) -> Classification | None:
    """The session's classification by ``seq`` and/or ``at``; None if it was not open by then."""
    events = await read_events(js, session.key, until_seq=seq)
    # the fold of a long race is CPU work: off the event loop, so live clients keep being served
    return await asyncio.to_thread(lambda: classification_until(events, session, seq=seq, at=at))


async def hourly_classification(js: JetStreamContext, session: SessionRef) -> HourlyClassification | None:
    """The session's classification at each full hour of the race so far; None if the log never opens it."""
    events = await read_events(js, session.key)
    return await asyncio.to_thread(lambda: hourly(events, session))
