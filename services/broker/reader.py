"""Reading the log in order: what it holds, and then its live tail.

What it holds up to its head is read by the bulk reader
(:mod:`services.broker.bulkread`): :func:`read_batches` and :func:`read_events`
here, for rebuild, ingest's ledger, the commands and the gateway, and the
projectors' catch-up. The live tail is read by :class:`StreamTail`, a raw
nats-py ordered consumer drained in batches: gap-free (the client resets it on
a gap, and follows its reconnections), and draining whatever has arrived as
one batch lets a projector coalesce its read-model writes when it is behind
and answer within a millisecond when it is not.

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

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from types import TracebackType

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy, RawStreamMsg
from nats.js.errors import NotFoundError

from schemas.events import Event, SessionRef
from schemas.subjects import EVENTS_PREFIX, EVENTS_STREAM, NotAnEvent, session_filters, session_key_of, stored_event
from services.broker.bulkread import StoredMsg, read_to_head

log = logging.getLogger("chequered.reader")


def _filters(subject: str | Sequence[str]) -> list[str]:
    """A filter of sessions (three tokens after the prefix, literal or ``*``) also reads them in their partitions."""
    if not isinstance(subject, str):
        return list(subject)
    key = session_key_of(subject)
    return session_filters(key) if key is not None and ">" not in subject and subject.count(".") == 4 else [subject]


class StreamTail:
    """An ordered consumer on ``subject`` (a filter, or several) from ``start_seq``; an async context manager."""

    def __init__(self, js: JetStreamContext, subject: str | Sequence[str], start_seq: int = 1) -> None:
        self._js = js
        self._filters = _filters(subject)
        self._subject = ", ".join(self._filters)
        self._start_seq = max(1, start_seq)
        self._buffer: list[StoredMsg] = []
        self._arrived = asyncio.Event()
        self._sub: object | None = None
        self.backlog_at_open = False

    async def _on_msg(self, msg: Msg) -> None:
        # the stream sequence and pending count, read straight off the ack subject: a third of the
        # cost of ``msg.metadata`` on the hot path of every catch-up and rebuild
        tokens = msg.reply.split(".")
        if len(tokens) == 9:  # $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>
            seq, pending = tokens[5], tokens[8]
        else:  # $JS.ACK.<domain>.<hash>.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>[.<token>]
            seq, pending = tokens[7], tokens[10]
        self._buffer.append(StoredMsg(int(seq), msg.subject, msg.data, int(pending)))
        self._arrived.set()

    async def __aenter__(self) -> StreamTail:
        config = ConsumerConfig(
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=self._start_seq,
            filter_subjects=self._filters if len(self._filters) > 1 else None,
        )
        sub = await self._js.subscribe(
            self._filters[0],
            cb=self._on_msg,
            ordered_consumer=True,
            config=config,
            idle_heartbeat=2.0,
            pending_msgs_limit=-1,
            pending_bytes_limit=-1,
        )
        self._sub = sub
        info = await sub.consumer_info()
        delivered = info.delivered.consumer_seq if info.delivered is not None else 0
        self.backlog_at_open = bool(info.num_pending) or bool(delivered)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._sub is not None:
            await self._sub.unsubscribe()  # type: ignore[attr-defined]

    async def next_batch(self, max_size: int = 5000, timeout: float | None = None) -> list[StoredMsg]:
        """Whatever has arrived (at least one message), up to ``max_size``; [] on timeout."""
        if not self._buffer:
            self._arrived.clear()
            try:
                async with asyncio.timeout(timeout):  # not wait_for: it loses a cancellation that meets an arrival
                    await self._arrived.wait()
            except TimeoutError:
                return []
        batch = self._buffer[:max_size]
        del self._buffer[:max_size]
        return batch


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
