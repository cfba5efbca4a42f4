"""The hub: one KV watcher for the whole gateway, fanned out to every connected client.

It watches the classification bucket (the one the read-model pointer names: a
rebuild moves it, and the hub moves with it), keeps the latest value of each session
(as stored; decoded once, when REST or a new client first needs it) and a ring of
recent updates, each the delta from the value before it (made from the rows that
changed, :mod:`services.gateway.delta`; encoded and framed once, shared by every client), and
hands each to every client's feed. Fan-out never awaits: a :class:`DirectFeed`
writes the frame to the client's connection there and then
(:mod:`services.gateway.wire`), a :class:`QueuedFeed` (under servers whose
connection the gateway cannot reach) queues it for a task of its own. A client too
far behind (bytes unsent, or a full queue) is dropped: it reconnects and resumes
with its last sequence, so a slow client never holds up the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Protocol, TypeVar

import msgspec
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.errors import BucketNotFoundError
from nats.js.kv import KeyValue

from schemas.results import Classification, decode_classification
from schemas.subjects import CLASSIFICATION_BUCKET, CLASSIFICATION_PROJECTION, READ_MODELS_BUCKET
from services.broker.topology import current_bucket
from services.gateway.delayline import DelayLine
from services.gateway.delta import Rows, delta, head_of, read_stored, rows_of
from services.gateway.messages import Snapshot, SnapshotReason, Update
from services.gateway.ring import DEFAULT_CAPACITY, Pushed, UpdateRing
from services.gateway.wire import MAX_BUFFERED, Wire, http_chunk, text_frame
from services.tasks import cancel

log = logging.getLogger("chequered.gateway")

QUEUE_SIZE = 256
"""Messages a queued client may fall behind by before it is dropped (a few seconds of a busy race)."""
BUCKET_RETRY_S = 1.0
T = TypeVar("T")
F = TypeVar("F", bound="Feed")


class Outgoing:
    """One push message, encoded once and framed once per transport, shared by every client that gets it.

    Held in the ring for minutes, so it keeps one copy of the message as sent over SSE (:attr:`chunk`; the
    event and its JSON are views into it) and, once a WebSocket client needed it, the WebSocket frame.
    """

    __slots__ = ("_body", "_frame", "_sse", "chunk", "kind", "seq")

    def __init__(self, seq: int, kind: str, body: bytes) -> None:
        self.seq = seq
        self.kind = kind
        head = b"id: %d\nevent: %s\ndata: " % (seq, kind.encode())
        sse = b"%b%b\n\n" % (head, body)
        self.chunk = http_chunk(sse)
        """The server-sent event as an HTTP chunk, written as is to every SSE connection; ``id`` is the
        sequence a browser resumes from (``Last-Event-ID``)."""
        sse_at = len(self.chunk) - len(sse) - 2  # after the chunk's size line, before its CRLF
        self._sse = slice(sse_at, sse_at + len(sse))
        self._body = slice(sse_at + len(head), sse_at + len(sse) - 2)
        self._frame: bytes | None = None

    @property
    def sse(self) -> memoryview:
        """The server-sent event, for a server that frames the body itself."""
        return memoryview(self.chunk)[self._sse]

    @property
    def body(self) -> memoryview:
        """The message's JSON."""
        return memoryview(self.chunk)[self._body]

    @property
    def frame(self) -> bytes:
        """The JSON as a WebSocket text frame, written as is to every WebSocket connection."""
        if self._frame is None:
            self._frame = text_frame(self.body)
        return self._frame

    def text(self) -> str:
        """The message's JSON, for a WebSocket text frame sent through ASGI."""
        return str(self.body, "utf-8")


def wall_ms() -> int:
    """The gateway's wall clock, ms since the epoch: what clients take their clock offset from."""
    return time.time_ns() // 1_000_000


def snapshot_message(
    classification: Classification, reason: SnapshotReason, taken_ms: int, crossing_ms: int
) -> Outgoing:
    seq = classification.last_seq
    message = Snapshot(
        seq=seq,
        reason=reason,
        classification=classification,
        taken_ms=taken_ms,
        sent_ms=wall_ms(),
        crossing_ms=crossing_ms,
    )
    return Outgoing(seq, "snapshot", msgspec.json.encode(message))


def update_message(update: Update, taken_ms: int) -> Outgoing:
    return Outgoing(update.seq, "update", msgspec.json.encode(msgspec.structs.replace(update, taken_ms=taken_ms)))


class Feed(Protocol):
    """What the hub hands messages to: one client's connection."""

    overflowed: bool
    """Whether the feed was ended for being too far behind."""

    def offer(self, message: Outgoing) -> bool:
        """Take the next message without waiting; False: the client is too far behind and must be dropped."""
        ...

    def close(self, *, overflowed: bool = False) -> None:
        """End the feed (the hub stopped, or the client was dropped)."""
        ...


class DirectFeed:
    """A client whose connection the fan-out writes to itself: each message is one write of bytes framed once
    for every client (``frame`` picks them: :attr:`Outgoing.chunk` or :attr:`Outgoing.frame`). The backlog is
    written at once, when the hub registers the feed. :attr:`ended` completes when the feed ends."""

    def __init__(self, wire: Wire, frame: Callable[[Outgoing], bytes], backlog: list[Outgoing]) -> None:
        self._wire = wire
        self._frame = frame
        self.overflowed = False
        self.ended: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if backlog:
            data = b"".join(map(frame, backlog))
            wire.allow(len(data))  # a long resume is not "behind": it is what the client asked for
            wire.write(data)

    def offer(self, message: Outgoing) -> bool:
        if self._wire.closed:  # the client left: the feed ends, and its handler leaves the hub
            self.close()
            return True
        return self._wire.write(self._frame(message))

    def close(self, *, overflowed: bool = False) -> None:
        """End the feed; a client dropped for being behind loses its connection at once (what it has not read
        would only hold memory: it resumes from its last sequence)."""
        self.overflowed = overflowed
        if overflowed:
            self._wire.abort()
        if not self.ended.done():
            self.ended.set_result(None)


class QueuedFeed:
    """A client served by a task of its own through ASGI ``send``: a backlog to replay first, then a bounded
    queue of live messages.

    ``None`` from :meth:`next` ends the feed: the hub stopped, or the client was too slow.
    """

    def __init__(self, backlog: list[Outgoing], maxsize: int) -> None:
        self._backlog = deque(backlog)
        self._queue: asyncio.Queue[Outgoing | None] = asyncio.Queue(maxsize)
        self.overflowed = False

    def offer(self, message: Outgoing) -> bool:
        try:
            self._queue.put_nowait(message)
        except asyncio.QueueFull:
            return False
        return True

    def close(self, *, overflowed: bool = False) -> None:
        """End the feed now; what is still queued is discarded (the client resumes by sequence)."""
        self.overflowed = overflowed
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put_nowait(None)

    def ready(self) -> bool:
        """Whether :meth:`next` would answer without waiting."""
        return bool(self._backlog) or not self._queue.empty()

    async def next(self) -> Outgoing | None:
        if self._backlog:
            return self._backlog.popleft()
        return await self._queue.get()

    def take_ready(self, limit: int) -> list[Outgoing | None]:
        """Up to ``limit`` messages that :meth:`next` would return now, in order, without waiting (a ``None``
        among them ends the feed): a client that fell behind catches up with one write instead of many."""
        taken: list[Outgoing | None] = []
        while len(taken) < limit and self._backlog:
            taken.append(self._backlog.popleft())
        while len(taken) < limit and not self._queue.empty():
            taken.append(self._queue.get_nowait())
        return taken


class SessionChannel:
    def __init__(self, capacity: int) -> None:
        self.ring: UpdateRing[Outgoing] = UpdateRing(capacity)
        self.value: bytes | None = None
        """The latest value, as stored."""
        self.head: Classification | None = None
        """The session fields of :attr:`value` (its ``cars`` empty)."""
        self._decoded: Classification | None = None
        self.taken_ms = 0
        """When the gateway took :attr:`value` from the bucket (its wall clock, ms)."""
        self.crossing_ms = 0
        """When it took the first value with :attr:`value`'s latest crossing (see ``Snapshot``)."""
        self.rows = Rows([], [], [], [])
        """The rows of :attr:`value` (see :func:`services.gateway.delta.delta`)."""
        self.delays: dict[int, DelayLine] = {}
        """Broadcast delay lines open for this session, by delay (ms)."""
        self.subscribers: set[Feed] = set()

    @property
    def last_seq(self) -> int:
        """The latest value's ``last_seq`` (0: none yet)."""
        return self.head.last_seq if self.head is not None else 0

    @property
    def classification(self) -> Classification | None:
        """The latest value, decoded when first asked for (a delta needs only the rows that changed)."""
        if self._decoded is None and self.value is not None:
            self._decoded = decode_classification(self.value)
        return self._decoded

    def note_crossing(self, rows: Rows, taken_ms: int) -> None:
        """Record ``taken_ms`` as when the latest crossing was first seen, if the next value (``rows``) is the first
        or has another latest crossing than the value held."""
        if self.value is None or rows.latest_crossing != self.rows.latest_crossing:
            self.crossing_ms = taken_ms

    def hold(
        self, value: bytes, rows: Rows, head: Classification, decoded: Classification | None, taken_ms: int
    ) -> None:
        """The next value, its rows, its session fields, and (when it was decoded whole) its decoding."""
        self.value, self.rows, self.head, self._decoded, self.taken_ms = value, rows, head, decoded, taken_ms


class ClassificationHub:
    def __init__(
        self, *, capacity: int = DEFAULT_CAPACITY, queue_size: int = QUEUE_SIZE, max_buffered: int = MAX_BUFFERED
    ) -> None:
        self.capacity = capacity
        self.queue_size = queue_size
        """Messages a :class:`QueuedFeed` may fall behind by before it is dropped."""
        self.max_buffered = max_buffered
        """Bytes a :class:`DirectFeed`'s connection may leave unsent before it is dropped."""
        self.bucket = CLASSIFICATION_BUCKET
        """The bucket followed now (``chequered rebuild`` may move the read models to another)."""
        self.ready = asyncio.Event()
        """Set once the watcher has delivered every value the bucket held when it started."""
        self.dropped = 0
        """Clients disconnected for being too slow, since start."""
        self._channels: dict[str, SessionChannel] = {}
        self._floors: dict[str, int] = {}
        """Per session, the sequence held when the read models moved to another bucket (see :meth:`moving`)."""
        self._task: asyncio.Task[None] | None = None
        self._stopped = False

    # -- reading ----------------------------------------------------------

    def classification(self, key: str) -> Classification | None:
        channel = self._channels.get(key)
        return channel.classification if channel is not None else None

    def heads(self) -> list[tuple[Classification, int]]:
        """Each session's latest value without its rows (its ``cars`` empty), and how many rows it has: a list of
        every session decodes none of them."""
        return [(c.head, len(c.rows.numbers)) for c in self._channels.values() if c.head is not None]

    def client_count(self, *, direct: bool = False) -> int:
        """Push clients connected now (``direct``: only those whose connection the hub writes to itself)."""
        if direct:
            return sum(isinstance(f, DirectFeed) for c in self._channels.values() for f in c.subscribers)
        return sum(len(c.subscribers) for c in self._channels.values())

    def delayed(self, key: str, delay_ms: int) -> tuple[Classification | None, int]:
        """The session's value as it stood ``delay_ms`` ago, and (when there is none yet) how many ms until there
        is. The first request opens a line from the value held now; it stays open while it is asked for."""
        channel = self._channels.get(key)
        held = channel.classification if channel is not None else None
        if channel is None or held is None:
            return None, 0
        now = wall_ms()
        line = channel.delays.get(delay_ms)
        if line is None:
            line = channel.delays[delay_ms] = DelayLine(delay_ms, now)
            current = Snapshot(
                seq=held.last_seq,
                reason=SnapshotReason.RESET,
                classification=held,
                taken_ms=channel.taken_ms,
                crossing_ms=channel.crossing_ms,
            )
            line.take(channel.taken_ms, msgspec.json.encode(current))
        return line.at(now), line.due_in_ms(now)

    def attach(self, key: str, since: int | None, feed: Callable[[list[Outgoing]], F]) -> F:
        """``feed(backlog)``, registered for ``key``: the backlog makes it continue exactly after ``since``
        (see :meth:`UpdateRing.resume`), and every later message is offered to it.

        Synchronous on purpose: the backlog is taken and the feed registered with no
        await between them, so no value can be missed or delivered twice.
        """
        channel = self._channels.get(key)
        if channel is None:
            channel = self._channels[key] = SessionChannel(self.capacity)
        resume = channel.ring.resume(since)
        if resume.snapshot is not None:
            assert channel.classification is not None
            snapshot = snapshot_message(channel.classification, resume.snapshot, channel.taken_ms, channel.crossing_ms)
            backlog = [snapshot]
        else:
            backlog = [message for _, message in resume.updates]
        attached = feed(backlog)
        if self._stopped:
            attached.close()
        else:
            channel.subscribers.add(attached)
        return attached

    def subscribe(self, key: str, since: int | None) -> QueuedFeed:
        """A :class:`QueuedFeed` of ``key`` (see :meth:`attach`)."""
        return self.attach(key, since, partial(QueuedFeed, maxsize=self.queue_size))

    def direct(self, key: str, since: int | None, wire: Wire, frame: Callable[[Outgoing], bytes]) -> DirectFeed:
        """A :class:`DirectFeed` of ``key`` written to ``wire`` (see :meth:`attach`)."""
        return self.attach(key, since, partial(DirectFeed, wire, frame))

    def unsubscribe(self, key: str, subscriber: Feed) -> None:
        channel = self._channels.get(key)
        if channel is None:
            return
        channel.subscribers.discard(subscriber)
        if channel.value is None and not channel.subscribers:
            del self._channels[key]  # a session nobody waits for any more and that never had a value

    # -- following the bucket --------------------------------------------------

    async def start(self, js: JetStreamContext) -> None:
        self._task = asyncio.create_task(self._run(js), name="gateway-hub")

    @property
    def following(self) -> bool:
        """Still following the bucket (a watcher that died leaves every client with stale values)."""
        return self._task is not None and not self._task.done()

    async def stop(self) -> None:
        """End every feed and stop watching; idempotent."""
        self._stopped = True
        for channel in self._channels.values():
            for subscriber in channel.subscribers:
                subscriber.close()
            channel.subscribers.clear()
        if self._task is not None:
            await cancel(self._task)

    async def _run(self, js: JetStreamContext) -> None:
        """Follow the bucket that holds the classifications, and move with it when a rebuild switches readers.

        After a move the new bucket's values arrive through :meth:`apply` like any other: the same
        sequence changes nothing, a later one is an update, so clients see no seam.
        """
        while True:
            bucket = await _when_exists(partial(current_bucket, js, CLASSIFICATION_PROJECTION, CLASSIFICATION_BUCKET))
            kv = await _when_exists(partial(js.key_value, bucket))
            if bucket != self.bucket:
                self.moving()
            self.bucket = bucket
            follow = asyncio.create_task(self._follow(kv), name="gateway-hub-values")
            moved = asyncio.create_task(_moved_from(js, bucket), name="gateway-hub-pointer")
            try:
                done, _ = await asyncio.wait({follow, moved}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                with contextlib.suppress(Exception):  # following's failure is raised below; the pointer's is retried
                    await cancel(follow, moved)
            if follow in done:
                follow.result()  # following ended: say why
                return
            log.info("classifications moved from %s; following the new bucket", bucket)

    async def _follow(self, kv: KeyValue) -> None:
        watcher = await kv.watchall()
        try:
            async for entry in watcher:
                if entry is None:  # every value held at start has been delivered
                    self.ready.set()
                elif entry.value:  # deletes and purges carry no value: keep what clients have
                    self.apply(entry.key, entry.value)
        finally:
            with contextlib.suppress(NatsError):
                await watcher.stop()  # type: ignore[no-untyped-call]

    def moving(self) -> None:
        """The read models move to another bucket: a value there behind the one held now is not sent. A rebuild
        reads the log to its head a moment before it switches, and the live projector may have written a later
        value to the old bucket meanwhile; it writes that value into the new bucket next. Sending the rebuilt one
        would step clients back (a reset) and then forward again."""
        self._floors = {key: channel.last_seq for key, channel in self._channels.items() if channel.value is not None}

    def apply(self, key: str, value: bytes) -> None:
        """Take one KV value of ``key`` and send it to the session's clients."""
        channel = self._channels.get(key)
        if channel is None:
            channel = self._channels[key] = SessionChannel(self.capacity)
        held = channel.value is not None
        try:
            stored = read_stored(value)
            seq = stored.last_seq
            if key in self._floors:
                if seq < self._floors[key]:
                    return  # behind what clients hold, from a rebuilt bucket (see ``moving``)
                del self._floors[key]
            if held and seq == channel.last_seq:
                return  # already held (a watcher restarted, or the same value in a rebuilt bucket)
            found = delta(channel.last_seq, channel.rows, value, stored) if held and seq > channel.last_seq else None
            made: tuple[Update, Rows] | Classification = found or decode_classification(value)
        except msgspec.MsgspecError as error:
            log.error("KV value of %s is not a classification (%s); ignored", key, error)
            return
        taken_ms = wall_ms()
        if isinstance(made, Classification):  # the first value, one going backwards, or one no delta can carry
            rows, head, decoded = rows_of(made, stored), head_of(made), made
            channel.note_crossing(rows, taken_ms)
            reason = SnapshotReason.RESET if held else SnapshotReason.CONNECTED
            outgoing = snapshot_message(made, reason, taken_ms, channel.crossing_ms)
        else:
            (update, rows), decoded = made, None
            head = update.head
            channel.note_crossing(rows, taken_ms)
            outgoing = update_message(update, taken_ms)
        pushed = channel.ring.push(seq, outgoing)
        assert pushed is not Pushed.STALE
        channel.hold(value, rows, head, decoded, taken_ms)
        for delay_ms, line in list(channel.delays.items()):
            if line.idle(taken_ms):
                del channel.delays[delay_ms]
            else:
                line.take(taken_ms, outgoing.body)
        for subscriber in list(channel.subscribers):
            if not subscriber.offer(outgoing):
                channel.subscribers.discard(subscriber)
                subscriber.close(overflowed=True)
                self.dropped += 1
                log.warning("a client of %s was dropped: too far behind", key)


async def _when_exists(lookup: Callable[[], Awaitable[T]]) -> T:
    """``lookup()``, waiting while its bucket does not exist yet: a projector creates it, the gateway only reads."""
    while True:
        try:
            return await lookup()
        except BucketNotFoundError:
            log.warning("a KV bucket the gateway reads does not exist yet; waiting for the projector")
            await asyncio.sleep(BUCKET_RETRY_S)


async def _moved_from(js: JetStreamContext, bucket: str) -> None:
    """Return once the classification's read-model pointer names a bucket other than ``bucket``."""
    pointers = await _when_exists(partial(js.key_value, READ_MODELS_BUCKET))
    watcher = await pointers.watch(CLASSIFICATION_PROJECTION)
    try:
        async for entry in watcher:
            if entry is not None and entry.value and entry.value.decode() != bucket:
                return
    finally:
        with contextlib.suppress(NatsError):
            await watcher.stop()  # type: ignore[no-untyped-call]
