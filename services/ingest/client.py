"""The producer client: how timing software and race control write events.

::

    nc = await nats.connect(url)
    producer = Producer(nc)
    reply = await producer.send(event)          # Accepted(seq, duplicate) or Rejected(code, reason)
    replies = await producer.send_all(events)   # pipelined, at most ``window`` in flight

A timeout does not mean the write failed: the client retries with the *same*
bytes (so the same event id) until ingest answers, and ingest answers a retry
of something it already stored with ``duplicate=True`` and the original
sequence. ``window`` bounds the requests in flight (back-pressure); when one
of them fails, the window is drained and the unanswered events are retried one
by one in their original order, so a car's laps never overtake each other.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence

from nats.aio.client import Client
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

from schemas.events import Event, encode_event
from schemas.ingest import IngestReply, RejectCode, Rejected, reply_decoder
from schemas.subjects import ingest_subject


def _unavailable(reply: IngestReply) -> bool:
    return isinstance(reply, Rejected) and reply.code is RejectCode.UNAVAILABLE


class IngestUnavailable(RuntimeError):
    """Ingest did not answer after every retry; the event may or may not be stored."""


class Producer:
    def __init__(
        self,
        nc: Client,
        *,
        timeout: float = 5.0,
        attempts: int = 20,
        backoff: float = 0.1,
        max_backoff: float = 2.0,
        window: int = 256,
    ) -> None:
        self.nc = nc
        self.timeout = timeout
        self.attempts = attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.window = max(1, window)

    async def _request_once(self, event: Event, data: bytes) -> IngestReply:
        msg = await self.nc.request(ingest_subject(event.session), data, timeout=self.timeout)
        reply: IngestReply = reply_decoder.decode(msg.data)
        return reply

    async def send(self, event: Event) -> IngestReply:
        """Send one event, retrying with the same id on a timeout or while ingest is down."""
        data = encode_event(event)
        delay = self.backoff
        for _ in range(self.attempts):
            try:
                reply = await self._request_once(event, data)
            except (NatsTimeout, NoRespondersError):
                reply = None
            if reply is not None and not _unavailable(reply):
                return reply
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.max_backoff)
        raise IngestUnavailable(f"no answer for event {event.msg_id} after {self.attempts} attempts")

    async def send_all(
        self,
        events: Iterable[Event],
        on_reply: Callable[[Event, IngestReply], None] | None = None,
    ) -> list[IngestReply]:
        """Send in order with up to ``window`` requests in flight; replies in input order."""
        replies: list[IngestReply] = []
        batch: list[Event] = []
        for event in events:
            batch.append(event)
            if len(batch) == self.window:
                replies += await self._send_window(batch, on_reply)
                batch = []
        if batch:
            replies += await self._send_window(batch, on_reply)
        return replies

    async def _send_window(
        self, batch: Sequence[Event], on_reply: Callable[[Event, IngestReply], None] | None
    ) -> list[IngestReply]:
        datas = [encode_event(event) for event in batch]
        outcomes = await asyncio.gather(
            *(self._request_once(event, data) for event, data in zip(batch, datas, strict=True)),
            return_exceptions=True,
        )
        replies: list[IngestReply] = []
        failed = False
        for event, outcome in zip(batch, outcomes, strict=True):
            if failed or isinstance(outcome, BaseException) or _unavailable(outcome):
                # from the first failure on, resend in order; stored ones come back as duplicates
                failed = True
                reply = await self.send(event)
            else:
                reply = outcome
            if on_reply is not None:
                on_reply(event, reply)
            replies.append(reply)
        return replies
