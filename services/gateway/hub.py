"""The hub: one KV watcher for the whole gateway, fanned out to every connected client.

It watches the classification bucket, keeps the latest value of each session
(decoded once, for REST) and a ring of recent updates (encoded once, shared by
every client), and hands each client its own bounded queue. Fan-out never
awaits: a client whose queue is full is dropped (it reconnects and resumes with
its last sequence), so a slow client never holds up the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque

import msgspec
from nats.js import JetStreamContext
from nats.js.errors import BucketNotFoundError
from nats.js.kv import KeyValue

from schemas.results import Classification, decode_classification
from services.broker.topology import CLASSIFICATION_BUCKET
from services.gateway.messages import Snapshot, SnapshotReason, Update
from services.gateway.ring import DEFAULT_CAPACITY, Pushed, UpdateRing

log = logging.getLogger("chequered.gateway")

QUEUE_SIZE = 256
"""Messages a client may fall behind by before it is dropped (a few seconds of a busy race)."""
BUCKET_RETRY_S = 1.0


class Outgoing:
    """One push message, framed once as a server-sent event and shared by every client that gets it.

    A WebSocket frame carries the event's ``data``: the same bytes, so the only per-client work is the
    ``str`` a text frame needs.
    """

    __slots__ = ("_data_at", "kind", "seq", "sse")

    def __init__(self, seq: int, kind: str, body: bytes) -> None:
        head = b"id: %d\nevent: %s\ndata: " % (seq, kind.encode())
        self.seq = seq
        self.kind = kind
        self.sse = head + body + b"\n\n"
        """``id`` is the sequence a browser resumes from (``Last-Event-ID``)."""
        self._data_at = len(head)

    def text(self) -> str:
        """The message's JSON, for a WebSocket text frame."""
        return str(memoryview(self.sse)[self._data_at : -2], "utf-8")


def snapshot_message(classification: Classification, reason: SnapshotReason) -> Outgoing:
    seq = classification.last_seq
    body = msgspec.json.encode(Snapshot(seq=seq, reason=reason, classification=classification))
    return Outgoing(seq, "snapshot", body)


def update_message(classification: Classification) -> Outgoing:
    seq = classification.last_seq
    return Outgoing(seq, "update", msgspec.json.encode(Update(seq=seq, classification=classification)))


class Subscriber:
    """One client's feed: a backlog to replay first, then a bounded queue of live messages.

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


class SessionChannel:
    def __init__(self, capacity: int) -> None:
        self.ring: UpdateRing[Outgoing] = UpdateRing(capacity)
        self.classification: Classification | None = None
        self.subscribers: set[Subscriber] = set()


class ClassificationHub:
    def __init__(
        self, *, capacity: int = DEFAULT_CAPACITY, queue_size: int = QUEUE_SIZE, bucket: str = CLASSIFICATION_BUCKET
    ) -> None:
        self.capacity = capacity
        self.queue_size = queue_size
        self.bucket = bucket
        self.ready = asyncio.Event()
        """Set once the watcher has delivered every value the bucket held when it started."""
        self.dropped = 0
        """Clients disconnected for being too slow, since start."""
        self._channels: dict[str, SessionChannel] = {}
        self._task: asyncio.Task[None] | None = None
        self._stopped = False

    # -- reading ----------------------------------------------------------

    def classification(self, key: str) -> Classification | None:
        channel = self._channels.get(key)
        return channel.classification if channel is not None else None

    def classifications(self) -> list[Classification]:
        return [c.classification for c in self._channels.values() if c.classification is not None]

    def client_count(self) -> int:
        return sum(len(c.subscribers) for c in self._channels.values())

    def subscribe(self, key: str, since: int | None) -> Subscriber:
        """A feed of ``key`` that continues exactly after ``since`` (see :meth:`UpdateRing.resume`).

        Synchronous on purpose: the replay is taken and the client registered with no
        await between them, so no value can be missed or delivered twice.
        """
        channel = self._channels.get(key)
        if channel is None:
            channel = self._channels[key] = SessionChannel(self.capacity)
        resume = channel.ring.resume(since)
        if resume.snapshot is not None:
            assert channel.classification is not None
            backlog = [snapshot_message(channel.classification, resume.snapshot)]
        else:
            backlog = [message for _, message in resume.updates]
        subscriber = Subscriber(backlog, self.queue_size)
        if self._stopped:
            subscriber.close()
        else:
            channel.subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, key: str, subscriber: Subscriber) -> None:
        channel = self._channels.get(key)
        if channel is None:
            return
        channel.subscribers.discard(subscriber)
        if channel.classification is None and not channel.subscribers:
            del self._channels[key]  # a session nobody waits for any more and that never had a value

    # -- following the bucket --------------------------------------------------

    async def start(self, js: JetStreamContext) -> None:
        self._task = asyncio.create_task(self._run(js), name="gateway-hub")

    async def stop(self) -> None:
        """End every feed and stop watching; idempotent."""
        self._stopped = True
        for channel in self._channels.values():
            for subscriber in channel.subscribers:
                subscriber.close()
            channel.subscribers.clear()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _bucket(self, js: JetStreamContext) -> KeyValue:
        """The bucket, waiting for a projector to create it: the gateway only reads."""
        while True:
            try:
                return await js.key_value(self.bucket)
            except BucketNotFoundError:
                log.warning("KV bucket %s does not exist yet; waiting for the projector", self.bucket)
                await asyncio.sleep(BUCKET_RETRY_S)

    async def _run(self, js: JetStreamContext) -> None:
        kv = await self._bucket(js)
        watcher = await kv.watchall()
        try:
            async for entry in watcher:
                if entry is None:  # every value held at start has been delivered
                    self.ready.set()
                elif entry.value:  # deletes and purges carry no value: keep what clients have
                    self.apply(entry.key, entry.value)
        finally:
            await watcher.stop()  # type: ignore[no-untyped-call]

    def apply(self, key: str, value: bytes) -> None:
        """Take one KV value of ``key`` and send it to the session's clients."""
        try:
            classification = decode_classification(value)
        except msgspec.MsgspecError as error:
            log.error("KV value of %s is not a classification (%s); ignored", key, error)
            return
        channel = self._channels.get(key)
        if channel is None:
            channel = self._channels[key] = SessionChannel(self.capacity)
        message = update_message(classification)
        pushed = channel.ring.push(message.seq, message)
        if pushed is Pushed.STALE:
            return
        channel.classification = classification
        if pushed is Pushed.APPENDED:
            outgoing = message
        else:
            reason = SnapshotReason.RESET if pushed is Pushed.RESET else SnapshotReason.CONNECTED
            outgoing = snapshot_message(classification, reason)
        for subscriber in list(channel.subscribers):
            if not subscriber.offer(outgoing):
                channel.subscribers.discard(subscriber)
                subscriber.close(overflowed=True)
                self.dropped += 1
                log.warning("client of %s dropped: %d messages behind", key, self.queue_size)
