"""Reading the log in order: what it holds, and then its live tail.

What it holds up to its head is read by the bulk reader
(:mod:`services.broker.bulkread`): :func:`read_batches` and :func:`read_events`
here, for rebuild, ingest's ledger, the commands and the gateway, and the
projectors' catch-up. The live tail is read by the same machinery
(:class:`~services.broker.bulkread.StreamTail`) drained in batches: draining
whatever has arrived as one batch lets a projector coalesce its read-model
writes when it is behind and answer within a millisecond when it is not.

**One policy for a message that is not an event** (it does not decode, or
names another session than its subject: :func:`~schemas.subjects.stored_event`
says which): every reader leaves it out and goes on, and it is dead-lettered
once, with the reason, by the classification projector, which folds every
message of the log (of replicas, the one reading the message's partition;
``chequered.dlq.classification``, listed by ``chequered rejects``).
:func:`decoded` applies it to a batch; :func:`read_batches` and
:func:`read_events` read the log to its head with it.

A reader names what it reads with subject filters: one (``chequered.events.>``),
or several at once (the partitions a projector replica owns), delivered in stream
order. A session's own subject (``chequered.events.<key>``) reads that session
wherever the stream stored it: in its partition, and, in a store set up before
the log was partitioned, under the subject it had then (:func:`schemas.subjects.session_filters`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Iterable, Iterator

from nats.js import JetStreamContext
from nats.js.api import RawStreamMsg
from nats.js.errors import NotFoundError

from schemas.events import Event, SessionRef
from schemas.subjects import EVENTS_PREFIX, EVENTS_STREAM, NotAnEvent, session_filters, session_key_of, stored_event
from services.broker.bulkread import StoredMsg, read_to_head

log = logging.getLogger("chequered.reader")


def _filters(subject: str) -> list[str]:
    """A filter of sessions (three tokens after the prefix, literal or ``*``) also reads them in their partitions."""
    key = session_key_of(subject)
    return session_filters(key) if key is not None and ">" not in subject and subject.count(".") == 4 else [subject]


async def last_event(js: JetStreamContext, session: SessionRef) -> RawStreamMsg:
    """The session's latest stored event (``NotFoundError`` when it has none): in its partition, else, in a store
    set up before partitions, under its older subject."""
    partitioned, older = reversed(session_filters(session.key))
    try:
        return await js.get_last_msg(EVENTS_STREAM, partitioned)
    except NotFoundError:
        return await js.get_last_msg(EVENTS_STREAM, older)


def decoded(batch: Iterable[StoredMsg]) -> Iterator[tuple[StoredMsg, Event]]:
    """The events of a batch, in stream order, each with its message; a message that is not an event is left out
    (the policy above)."""
    for stored in batch:
        try:
            yield stored, stored_event(stored.subject, stored.data)
        except NotAnEvent as error:
            log.info("stream message %d left out (the classification projector dead-letters it): %s", stored.seq, error)


def events_filter(session_key: str | None) -> str:
    """The subject filter of a session's events (a key, or a pattern such as ``champ.>``); None: the whole log."""
    return f"{EVENTS_PREFIX}.{session_key}" if session_key else f"{EVENTS_PREFIX}.>"


async def read_batches(
    js: JetStreamContext, session_key: str | None = None, *, until_seq: int | None = None, max_size: int = 5000
) -> AsyncIterator[list[tuple[int, Event]]]:
    """``(seq, event)`` batches of a session (see :func:`events_filter`), in stream order, up to the head of the
    stream when reading began (or to ``until_seq``)."""
    reading = read_to_head(js, _filters(events_filter(session_key)), max_size=max_size)
    async with contextlib.aclosing(reading):
        async for batch in reading:
            last = batch[-1].seq
            if until_seq is not None and last > until_seq:
                batch = [stored for stored in batch if stored.seq <= until_seq]
            yield [(stored.seq, event) for stored, event in decoded(batch)]
            if until_seq is not None and last >= until_seq:
                return


async def read_events(
    js: JetStreamContext, session_key: str | None = None, *, until_seq: int | None = None
) -> list[tuple[int, Event]]:
    """Every ``(seq, event)`` of :func:`read_batches`, as one list."""
    return [pair async for batch in read_batches(js, session_key, until_seq=until_seq) for pair in batch]
