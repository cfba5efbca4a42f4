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

import msgspec
from nats.js import JetStreamContext

from schemas.events import Event, SessionRef, decode_event
from schemas.results import Classification, HourlyClassification, RaceControlMessages
from schemas.subjects import events_subject
from services.broker.reader import StreamTail
from services.classification.fold import classification_until, fold_log
from services.classification.hourly import hourly


async def read_session(
    js: JetStreamContext, session: SessionRef, until_seq: int | None = None
) -> list[tuple[int, bytes]]:
    """``(seq, raw event)`` of the session, in stream order, up to ``until_seq`` (default: all stored now)."""
    stored: list[tuple[int, bytes]] = []
    async with StreamTail(js, events_subject(session)) as tail:
        async for batch in tail.to_head():
            stored += [(m.seq, m.data) for m in batch if until_seq is None or m.seq <= until_seq]
            if until_seq is not None and batch[-1].seq >= until_seq:
                break
    return stored


def decoded(stored: list[tuple[int, bytes]]) -> list[tuple[int, Event]]:
    """``(seq, event)`` of the stored messages; undecodable ones are skipped, as the projector skips them (they are
    in its dead letters)."""
    pairs: list[tuple[int, Event]] = []
    for stored_seq, data in stored:
        try:
            pairs.append((stored_seq, decode_event(data)))
        except msgspec.MsgspecError:
            continue
    return pairs


def fold_session(
    session: SessionRef, stored: list[tuple[int, bytes]], *, seq: int | None, at: int | None
) -> Classification | None:
    """The session's classification by ``seq`` and/or ``at``; None if it was not open by then."""
    return classification_until(decoded(stored), session, seq=seq, at=at)


async def classification_at(
    js: JetStreamContext, session: SessionRef, *, seq: int | None, at: int | None
) -> Classification | None:
    stored = await read_session(js, session, until_seq=seq)
    # the fold of a long race is CPU work: off the event loop, so live clients keep being served
    return await asyncio.to_thread(fold_session, session, stored, seq=seq, at=at)


def messages_of(session: SessionRef, stored: list[tuple[int, bytes]]) -> RaceControlMessages | None:
    """Every race-control message of the session's log; None if the log never opens it."""
    state = fold_log(decoded(stored)).sessions.get(session.key)
    if state is None or state.opened is None:
        return None
    return RaceControlMessages(session=session, last_seq=state.last_seq, messages=state.messages)


async def race_control_messages(js: JetStreamContext, session: SessionRef) -> RaceControlMessages | None:
    stored = await read_session(js, session)
    return await asyncio.to_thread(messages_of, session, stored)


async def hourly_classification(js: JetStreamContext, session: SessionRef) -> HourlyClassification | None:
    """The session's classification at each full hour of the race so far; None if the log never opens it."""
    stored = await read_session(js, session)
    return await asyncio.to_thread(lambda: hourly(decoded(stored), session))
