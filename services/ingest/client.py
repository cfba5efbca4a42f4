"""The producer client: how timing software and race control write events.

::

    nc = await nats.connect(url)
    producer = Producer(nc)
    reply = await producer.send(event)          # Accepted(seq, duplicate) or Rejected(code, reason)
    replies = await producer.send_all(events)   # batched: ``window`` events a request, two requests in flight
    reply = await producer.send_race_control(event, await session_view(js, event.session))  # judged first
    tally = Tally()
    await producer.send_all(events, tally.count)  # sent, accepted, duplicates, rejected, last_seq

A timeout does not mean the write failed: the client retries with the *same*
bytes (so the same event id) until ingest answers, and ingest answers a retry
of something it already stored with ``duplicate=True`` and the original
sequence. ``send_all`` sends batches of ``window`` events (one request each,
answered once the stream has acknowledged the whole batch). The next batch goes
out while the one before it is being stored, so the broker stores one while
ingest judges the next; it says which request it follows, and ingest stores it
only once every event of that one was stored or refused for good (it answers it
``unavailable`` otherwise), so the stream's order is the order sent. A batch
that gets no answer is sent again whole, and events the stream could not take
(``unavailable``, ``storage_full``) are sent again in their order, each retry
once the request before it is settled. A batch has ``attempts`` requests in
all, with a doubling back-off between them, for both (``IngestUnavailable``
after the last).

A batch larger than the server's ``max_payload`` is sent as several requests;
an event that alone does not fit is answered ``too_large`` here, never sent.
At most ``MAX_BATCH_EVENTS`` events go in one request.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import msgspec
from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from schemas.events import Event, SessionRef, decode_event, encode_event
from schemas.ingest import MAX_BATCH_EVENTS, RETRYABLE, Accepted, IngestReply, RejectCode, Rejected, RequestTag
from schemas.subjects import ingest_subject
from services.broker.reader import last_event, read_events
from services.ingest import racecontrol

MAX_KEPT_REJECTIONS = 100
"""Rejections a :class:`Tally` keeps with their reasons; the count goes on beyond it."""

_replies = msgspec.json.Decoder(list[IngestReply] | IngestReply)


def _retryable(reply: IngestReply | None) -> bool:
    return isinstance(reply, Rejected) and reply.code in RETRYABLE


def _answers(answer: bytes, count: int) -> list[IngestReply]:
    """Ingest's answer to a request of ``count`` events, one reply per event: a single rejection (of a request
    ingest could not read as a batch) applies to every event in it."""
    decoded = _replies.decode(answer)
    replies = decoded if isinstance(decoded, list) else [decoded]
    if len(replies) == 1 and count > 1:
        return replies * count
    if len(replies) != count:
        raise IngestUnavailable(f"ingest answered {len(replies)} replies to a batch of {count} events")
    return replies


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
        self.window = max(1, min(window, MAX_BATCH_EVENTS))

    async def _request(self, subject: str, data: bytes, headers: dict[str, str] | None) -> bytes | None:
        """One request; None when ingest did not answer (timeout, or no ingest running)."""
        try:
            msg = await self.nc.request(subject, data, timeout=self.timeout, headers=headers)
        except (NatsTimeout, NoRespondersError):
            return None
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            # nats-py awaits the answer in ``asyncio.wait_for``, which on Python 3.11 returns an answer that
            # arrived in the same turn as a cancellation and drops the cancellation (a Ctrl-C lost)
            raise asyncio.CancelledError
        return msg.data

    async def send(self, event: Event) -> IngestReply:
        """Send one event, retrying with the same id on a timeout or while ingest is down."""
        return (await self.send_batch([event]))[0]

    async def send_race_control(self, event: Event, view: racecontrol.SessionView) -> IngestReply:
        """A race-control input, judged first against its session (``view``: :func:`session_view`)
        by :func:`~services.ingest.racecontrol.judge`; one the session cannot take is refused here, unsent."""
        reason = racecontrol.judge(event, view)
        if reason is not None:
            return Rejected(RejectCode.INCONSISTENT, reason)
        return await self.send(event)

    async def send_batch(self, events: Sequence[Event]) -> list[IngestReply]:
        """Send events of one session, in as few requests as ``max_payload`` allows, in order; each request is
        sent again (the same bytes) while ingest does not answer, and the events it answers unavailable sent
        again, within ``attempts`` requests in all."""
        if not events:
            return []
        subject = ingest_subject(events[0].session)
        replies: list[IngestReply] = []
        for piece in self._pieces(events):
            replies += [piece] if isinstance(piece, Rejected) else await self._send_request(subject, piece)
        return replies

    def _pieces(self, events: Sequence[Event]) -> Iterator[list[bytes] | Rejected]:
        """``events`` encoded, in the requests they go in (each at most ``max_payload`` bytes and
        ``MAX_BATCH_EVENTS`` events), in order; an event too large to send alone is answered ``too_large`` in its
        place."""
        chunk: list[bytes] = []
        size = 2  # the brackets
        for event in events:
            encoded = encode_event(event)
            if len(encoded) + 2 > self.nc.max_payload:
                if chunk:
                    yield chunk
                    chunk, size = [], 2
                yield Rejected(
                    RejectCode.TOO_LARGE,
                    f"the event is {len(encoded):,} bytes; the server takes at most {self.nc.max_payload:,}: not sent",
                )
                continue
            if chunk and (size + 1 + len(encoded) > self.nc.max_payload or len(chunk) == MAX_BATCH_EVENTS):
                yield chunk
                chunk, size = [], 2
            chunk.append(encoded)
            size += len(encoded) + 1
        if chunk:
            yield chunk

    async def _send_request(
        self,
        subject: str,
        encoded: list[bytes],
        tag: RequestTag | None = None,
        after: asyncio.Future[list[IngestReply]] | None = None,
    ) -> list[IngestReply]:
        """One batch request, with its retries. ``tag``: its place in the producer's order; ``after``: the request
        sent before it and not answered when it went out, which every retry of this one waits for (so it never
        overtakes that one)."""
        replies: list[IngestReply | None] = [None] * len(encoded)
        todo = list(range(len(encoded)))
        data = b"[" + b",".join(encoded) + b"]"
        headers = tag.headers if tag is not None else None
        answered = False
        delay = self.backoff
        for attempt in range(self.attempts):
            if attempt:
                if after is not None:
                    await asyncio.wait([after])
                    if after.cancelled() or after.exception() is not None:  # never stored before the one before it
                        raise IngestUnavailable("the request sent before this one was not stored: not sent again")
                    after = None
                if tag is not None:  # the one it followed is settled by now: ingest need not wait for it
                    headers = tag._replace(follows=None).headers
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_backoff)
            answer = await self._request(subject, data, headers)
            answered = answer is not None
            if answer is not None:
                for i, reply in zip(todo, _answers(answer, len(todo)), strict=True):
                    replies[i] = reply
                todo = [i for i in todo if _retryable(replies[i])]
                if not todo:
                    return [r for r in replies if r is not None]
                data = b"[" + b",".join(encoded[i] for i in todo) + b"]"
        if answered:
            last = replies[todo[0]]
            assert isinstance(last, Rejected)
            raise IngestUnavailable(
                f"{len(todo)} events still not stored after {self.attempts} attempts "
                f"({last.code.value}: {last.reason})",
                [reply for reply in replies if reply is not None],
            )
        raise IngestUnavailable(f"no answer for a batch of {len(todo)} events after {self.attempts} attempts")

    async def send_all(
        self,
        events: Iterable[Event],
        on_reply: Callable[[Event, IngestReply], None] | None = None,
    ) -> list[IngestReply]:
        """Send in order, ``window`` events a request (one session per request); replies in input order.

        The next request goes out while the one before it is being stored (two in flight), tagged as following
        it (:class:`~schemas.ingest.RequestTag`): ingest stores it only after that one, so the stream's order is
        the events' order whatever is lost or refused on the way."""
        replies: list[IngestReply] = []
        stream = secrets.token_hex(8)
        in_flight: deque[tuple[list[Event], asyncio.Future[list[IngestReply]]]] = deque()
        last: asyncio.Task[list[IngestReply]] | None = None
        number = 0

        async def deliver() -> None:
            request, answered = in_flight.popleft()
            for event, reply in zip(request, await answered, strict=True):
                if on_reply is not None:
                    on_reply(event, reply)
                replies.append(reply)

        try:
            for request in requests(events, self.window):
                subject = ingest_subject(request[0].session)
                place = 0
                for piece in self._pieces(request):
                    count = 1 if isinstance(piece, Rejected) else len(piece)
                    part, place = request[place : place + count], place + count
                    if isinstance(piece, Rejected):  # answered here, in its place
                        in_flight.append((part, _answered([piece])))
                        continue
                    while len(in_flight) > 1 or (in_flight and last is not None and last.done()):
                        await deliver()  # a request that ended in failure raises here, before the next is sent
                    number += 1
                    ahead = last if last is not None and not last.done() else None
                    tag = RequestTag(stream, number, number - 1 if ahead is not None else None)
                    last = asyncio.create_task(self._send_request(subject, piece, tag, ahead))
                    in_flight.append((part, last))
            while in_flight:
                await deliver()
        finally:
            for _, answered in in_flight:
                answered.cancel()
        return replies


def _answered(replies: list[IngestReply]) -> asyncio.Future[list[IngestReply]]:
    future: asyncio.Future[list[IngestReply]] = asyncio.get_running_loop().create_future()
    future.set_result(replies)
    return future


def requests(events: Iterable[Event], window: int) -> Iterator[list[Event]]:
    """``events`` cut into requests: consecutive events of one session, at most ``window`` each."""
    request: list[Event] = []
    for event in events:
        if request and (len(request) == window or event.session != request[0].session):
            yield request
            request = []
        request.append(event)
    if request:
        yield request


async def session_view(js: JetStreamContext, session: SessionRef) -> racecontrol.SessionView:
    """The session's log, folded, as race control's inputs are judged against it; with when its last event was
    stored, which tells a live session from a replayed one."""
    log = await read_events(js, session.key)
    last_stored = None
    if log:
        try:
            last = await last_event(js, session)
            if last.data is not None and last.time is not None:
                last_stored = (decode_event(last.data).at, int(last.time.timestamp() * 1000))
        except (NotFoundError, NatsError, ValueError):
            pass  # unknown: the session is taken for a replayed one
    return racecontrol.SessionView.of(session, log, last_stored)
