"""The producer client: how timing software and race control write events.

::

    nc = await nats.connect(url)
    producer = Producer(nc)
    reply = await producer.send(event)          # Accepted(seq, duplicate) or Rejected(code, reason)
    replies = await producer.send_all(events)   # batched: at most ``window`` events in flight
    tally = Tally()
    await producer.send_all(events, tally.count)  # sent, accepted, duplicates, rejected, last_seq

A timeout does not mean the write failed: the client retries with the *same*
bytes (so the same event id) until ingest answers, and ingest answers a retry
of something it already stored with ``duplicate=True`` and the original
sequence. ``send_all`` sends batches of ``window`` events (one request each,
answered once the stream has acknowledged the whole batch), one batch at a
time, so ``window`` bounds what is in flight; a batch that gets no answer is
sent again whole, and events the stream could not take are sent again in
their order before the next batch. A batch has ``attempts`` requests in all,
with a doubling back-off between them, for both (``IngestUnavailable`` after
the last).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import msgspec
from nats.aio.client import Client
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

from schemas.events import Event, encode_event
from schemas.ingest import Accepted, IngestReply, RejectCode, Rejected
from schemas.subjects import ingest_subject

MAX_KEPT_REJECTIONS = 100
"""Rejections a :class:`Tally` keeps with their reasons; the count goes on beyond it."""

_batch_replies = msgspec.json.Decoder(list[IngestReply])


def _unavailable(reply: IngestReply) -> bool:
    return isinstance(reply, Rejected) and reply.code is RejectCode.UNAVAILABLE


class IngestUnavailable(RuntimeError):
    """Ingest did not answer after every retry; the event may or may not be stored.

    ``replies``, when ingest did answer: the reply of every event of the batch, ``unavailable`` for those the
    stream never stored (a caller that cannot wait gives them up)."""

    def __init__(self, message: str, replies: list[IngestReply] | None = None) -> None:
        super().__init__(message)
        self.replies = replies


@dataclass
class Tally:
    """What ingest made of the events sent, reply by reply: :meth:`count` is an ``on_reply`` for ``send_all``."""

    sent: int = 0
    accepted: int = 0
    duplicates: int = 0
    """Events the stream already held (a re-sent record, a feed or a log sent twice)."""
    rejected: int = 0
    rejections: list[tuple[str, str]] = field(default_factory=list)
    """``(event id, reason)`` of the first :data:`MAX_KEPT_REJECTIONS` rejections."""
    last_seq: int = 0
    """Highest stream sequence of an event sent (new or duplicate)."""

    def count(self, event: Event, reply: IngestReply) -> None:
        self.sent += 1
        if not isinstance(reply, Accepted):
            self.rejected += 1
            if len(self.rejections) < MAX_KEPT_REJECTIONS:
                self.rejections.append((event.id, reply.reason))
            return
        self.last_seq = max(self.last_seq, reply.seq)
        if reply.duplicate:
            self.duplicates += 1
        else:
            self.accepted += 1


class Producer:
    def __init__(
        self,
        nc: Client,
        *,
        timeout: float = 5.0,
        attempts: int = 20,
        backoff: float = 0.1,
        max_backoff: float = 2.0,
        window: int = 500,
    ) -> None:
        self.nc = nc
        self.timeout = timeout
        self.attempts = attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.window = max(1, window)

    async def _request(self, subject: str, data: bytes) -> bytes | None:
        """One request; None when ingest did not answer (timeout, or no ingest running)."""
        try:
            msg = await self.nc.request(subject, data, timeout=self.timeout)
        except (NatsTimeout, NoRespondersError):
            return None
        return msg.data

    async def send(self, event: Event) -> IngestReply:
        """Send one event, retrying with the same id on a timeout or while ingest is down."""
        return (await self.send_batch([event]))[0]

    async def send_batch(self, events: Sequence[Event]) -> list[IngestReply]:
        """Send events of one session in one request; sent again (the same bytes) while ingest does not answer,
        and the events it answers unavailable sent again, within ``attempts`` requests in all."""
        if not events:
            return []
        subject = ingest_subject(events[0].session)
        encoded = [encode_event(event) for event in events]
        replies: list[IngestReply | None] = [None] * len(events)
        todo = list(range(len(events)))
        data = b"[" + b",".join(encoded) + b"]"
        answered = False
        delay = self.backoff
        for attempt in range(self.attempts):
            if attempt:
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_backoff)
            answer = await self._request(subject, data)
            answered = answer is not None
            if answer is not None:
                batch: list[IngestReply] = _batch_replies.decode(answer)
                for i, reply in zip(todo, batch, strict=True):
                    replies[i] = reply
                todo = [i for i in todo if _unavailable(replies[i])]  # type: ignore[arg-type]
                if not todo:
                    return [r for r in replies if r is not None]
                data = b"[" + b",".join(encoded[i] for i in todo) + b"]"
        if answered:
            raise IngestUnavailable(
                f"{len(todo)} events still unavailable after {self.attempts} attempts",
                [reply for reply in replies if reply is not None],
            )
        raise IngestUnavailable(f"no answer for a batch of {len(todo)} events after {self.attempts} attempts")

    async def send_all(
        self,
        events: Iterable[Event],
        on_reply: Callable[[Event, IngestReply], None] | None = None,
    ) -> list[IngestReply]:
        """Send in order, ``window`` events a request (one session per request); replies in input order."""
        replies: list[IngestReply] = []
        batch: list[Event] = []

        async def flush() -> None:
            for event, reply in zip(batch, await self.send_batch(batch), strict=True):
                if on_reply is not None:
                    on_reply(event, reply)
                replies.append(reply)
            batch.clear()

        for event in events:
            if batch and (len(batch) == self.window or event.session != batch[0].session):
                await flush()
            batch.append(event)
        if batch:
            await flush()
        return replies
