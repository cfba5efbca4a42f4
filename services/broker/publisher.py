"""Publishing to JetStream without waiting for each acknowledgement, with every refusal reported.

nats-py's ``publish_async`` is not used: when the server refuses a message with
status 503 (``insufficient resources``: the disk or the stream's limits are
full) its reply handler raises inside the callback instead of failing the
future, which then never resolves, so each event waited out its whole time-out
in turn. Here every reply resolves its future: an acknowledgement, or
:class:`StoreRefused` with the server's codes. Messages go out in the order of
the ``publish`` calls, on one connection, so the stream stores them in that
order.

:meth:`PipelinedPublisher.batch` stores several messages as one atomic
batch (the stream must allow it, ``allow_atomic``): every message or none is
stored, contiguously, with one acknowledgement for all, the sequence of the last
and the count, from which each message's sequence follows. The server keeps each
message's ``Nats-Msg-Id`` de-duplication: a batch holding an id it already has is
refused whole (:data:`BATCH_DUPLICATE`).

A batch's messages are written as protocol frames built here in one step
(:func:`hpub_frame`), not through nats-py's ``publish``: its per-message work
(checking each header name with a regular expression, building the header block
piece by piece) cost 8 µs a message, a fifth of ingest's CPU per event; the frame
costs 1.5. The frame goes the way ``publish`` sends its own (the connection's
pending buffer and flusher, :func:`write_frame`), so the order of messages on the
connection is kept.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import re
import secrets

import msgspec
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import ConnectionClosedError, ConnectionDrainingError, MaxPayloadError, OutboundBufferLimitError

STORAGE_ERRORS = frozenset({10023, 10047, 10077, 10002, 10028})
"""JetStream error codes of a store that is full: insufficient resources (10023), storage or memory resources
exceeded (10047, 10028), a stream limit reached with ``discard: new`` (10077), account limits (10002)."""


BATCH_DUPLICATE = 10201
"""An atomic batch holding a ``Nats-Msg-Id`` the stream already has (or twice): nothing of it was stored."""
BATCH_NOT_ALLOWED = 10174
"""The stream does not take atomic batches (a store set up before they were used)."""


class StoreRefused(Exception):
    """The server answered the publish with an error: nothing was stored."""

    def __init__(self, code: int, err_code: int, description: str) -> None:
        super().__init__(f"{description} (status {code}, error {err_code})")
        self.code = code
        self.err_code = err_code
        self.description = description

    @property
    def storage_full(self) -> bool:
        return self.err_code in STORAGE_ERRORS


class Ack(msgspec.Struct, frozen=True):
    stream: str
    seq: int
    duplicate: bool = False


class _ApiError(msgspec.Struct, frozen=True):
    code: int = 0
    err_code: int = 0
    description: str = ""


class _Reply(msgspec.Struct, frozen=True):
    stream: str = ""
    seq: int = 0
    duplicate: bool = False
    error: _ApiError | None = None
    count: int = 0
    """Messages of an atomic batch, whose last one is stored at ``seq``."""


_reply = msgspec.json.Decoder(_Reply)


class PipelinedPublisher:
    """``await start()``, then ``future = await publish(...)`` as often as needed; each future resolves to an
    :class:`Ack` or fails with :class:`StoreRefused`. A future nobody awaits any more may be cancelled."""

    def __init__(self, nc: Client) -> None:
        self._nc = nc
        self._prefix = ""
        self._tokens = itertools.count(1)
        self._pending: dict[str, asyncio.Future[Ack]] = {}
        self._batches: dict[str, tuple[int, asyncio.Future[list[Ack]]]] = {}
        """Token -> (messages of the batch, its future)."""
        self._batch_prefix = secrets.token_hex(4)
        self._sub: Subscription | None = None

    async def start(self) -> None:
        self._prefix = self._nc.new_inbox()
        self._sub = await self._nc.subscribe(f"{self._prefix}.*", cb=self._on_reply)

    async def stop(self) -> None:
        if self._sub is not None:
            await self._sub.unsubscribe()
            self._sub = None
        for future in self._pending.values():
            future.cancel()
        for _, batch in self._batches.values():
            batch.cancel()

    async def publish(self, subject: str, payload: bytes, headers: dict[str, str]) -> asyncio.Future[Ack]:
        """Send one message (raises what the connection raises, and then nothing is pending)."""
        token = str(next(self._tokens))
        future: asyncio.Future[Ack] = asyncio.get_running_loop().create_future()
        self._pending[token] = future
        future.add_done_callback(lambda _: self._pending.pop(token, None))
        try:
            await self._nc.publish(subject, payload, reply=f"{self._prefix}.{token}", headers=headers)
        except BaseException:
            future.cancel()
            raise
        return future

    def batch(self) -> AtomicBatch:
        """A new atomic batch: :meth:`AtomicBatch.add` its messages, then :meth:`AtomicBatch.commit`."""
        return AtomicBatch(self, f"b{next(self._tokens)}")

    async def _on_reply(self, msg: Msg) -> None:
        token = msg.subject.rpartition(".")[2]
        single = self._pending.get(token)
        count, batch = self._batches.get(token, (0, None))
        future = single or batch
        if future is None or future.done():
            return
        try:
            reply = _read_reply(msg)
        except StoreRefused as refused:
            future.set_exception(refused)
            return
        if single is not None:
            single.set_result(Ack(reply.stream, reply.seq, reply.duplicate))
        elif batch is not None and reply.count == count:
            first = reply.seq - count + 1
            batch.set_result([Ack(reply.stream, seq) for seq in range(first, reply.seq + 1)])
        elif batch is not None:
            batch.set_exception(StoreRefused(0, 0, f"a batch of {count} acknowledged as {reply.count}"))


def _read_reply(msg: Msg) -> _Reply:
    """The stream's answer to a publish; :class:`StoreRefused` when it stored nothing."""
    status = (msg.headers or {}).get("Status")
    if status is not None and not msg.data:  # no stream listens on the subject
        raise StoreRefused(int(status), 0, "no stream takes this subject")
    try:
        reply = _reply.decode(msg.data)
    except msgspec.MsgspecError as error:
        raise StoreRefused(0, 0, f"unreadable acknowledgement: {error}") from error
    if reply.error is not None:
        raise StoreRefused(reply.error.code, reply.error.err_code, reply.error.description)
    return reply


class AtomicBatch:
    """One atomic batch of at most 1,000 messages: each frame is built as its message is added (a frame that would
    break is refused before anything is written), and the whole batch is written at :meth:`commit` in one piece, the
    last message carrying the commit. :meth:`commit`'s future resolves to every message's acknowledgement, in order,
    or fails with :class:`StoreRefused` (then nothing of it was stored). Written message by message, each through
    the connection's coroutines, a batch cost ingest 2 µs more an event."""

    def __init__(self, publisher: PipelinedPublisher, token: str) -> None:
        self._publisher = publisher
        self._token = token
        self._id = f"{publisher._batch_prefix}{token}"
        self._parts: list[bytes] = []
        self._sent = 0
        self._held: tuple[str, bytes, dict[str, str]] | None = None
        """The message added last: its frame carries the commit when it is the last."""
        self._largest = 0

    def add(self, subject: str, payload: bytes, headers: dict[str, str]) -> None:
        if self._held is not None:
            self._frame(*self._held, commit=False)
        self._held = (subject, payload, headers)

    async def commit(self) -> asyncio.Future[list[Ack]]:
        if self._held is None:
            raise ValueError("an atomic batch needs a message")
        self._frame(*self._held, commit=True)
        future: asyncio.Future[list[Ack]] = asyncio.get_running_loop().create_future()
        pending = self._publisher._batches
        pending[self._token] = (self._sent, future)
        future.add_done_callback(lambda _: pending.pop(self._token, None))
        try:
            await write_frame(self._publisher._nc, b"".join(self._parts), self._largest)
        except BaseException:
            future.cancel()
            raise
        return future

    def _frame(self, subject: str, payload: bytes, headers: dict[str, str], *, commit: bool) -> None:
        """Add a message's frame to those to write, in parts: the batch is joined once."""
        sequence = self._sent + 1
        marks = f"Nats-Batch-Id: {self._id}\r\nNats-Batch-Sequence: {sequence}\r\n"
        if commit:
            marks += "Nats-Batch-Commit: 1\r\n"
        reply = f"{self._publisher._prefix}.{self._token}" if commit else ""
        self._parts += (_hpub_head(subject, reply, headers, len(payload), marks), payload, b"\r\n")
        self._sent = sequence
        self._largest = max(self._largest, len(payload))


_SPACE = re.compile(r"[ \t\r\n]")
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
"""A header name is a token (RFC 9110), as nats-py checks it: a colon or a space in one would move the value."""


@functools.lru_cache(maxsize=4096)
def _addressable(subject: str, reply: str, names: tuple[str, ...]) -> bool:
    """A subject, no whitespace in it or in the reply, and header names that are tokens (the subjects and names a
    process writes are few: each is checked once, not at every message)."""
    return (
        bool(subject)
        and _SPACE.search(subject + reply) is None
        and all(_HEADER_NAME.fullmatch(name) is not None for name in names)
    )


def hpub_frame(subject: str, reply: str, headers: dict[str, str], payload: bytes, extra: str = "") -> bytes:
    """The ``HPUB`` frame of one message with ``headers`` (and ``extra``, header lines already written), byte for
    byte what nats-py builds for values without surrounding spaces (nats-py strips them). No subject, whitespace in
    the subject or the reply, a header name that is not a token, or a line break in a value would break the frame:
    ``ValueError``, and nothing is written."""
    return b"%s%s\r\n" % (_hpub_head(subject, reply, headers, len(payload), extra), payload)


def _hpub_head(subject: str, reply: str, headers: dict[str, str], payload_size: int, extra: str) -> bytes:
    """:func:`hpub_frame` up to its payload: the ``HPUB`` line and the header block (made as text, encoded once)."""
    lines = "".join([f"{name}: {value}\r\n" for name, value in headers.items()])
    breaks = len(headers)  # one a line: any more is in a value
    if not (
        _addressable(subject, reply, tuple(headers)) and lines.count("\n") == breaks and lines.count("\r") == breaks
    ):
        raise ValueError(
            f"no subject, whitespace in a subject or reply, a bad header name or a line break: {subject!r}"
        )
    block = f"NATS/1.0\r\n{lines}{extra}\r\n"
    size = len(block) if block.isascii() else len(block.encode())
    return f"HPUB {subject} {reply} {size} {size + payload_size}\r\n{block}".encode()


async def write_frame(nc: Client, frame: bytes, payload_size: int) -> None:
    """Send ``frame`` (one frame or several; ``payload_size``: the largest of their payloads) as nats-py's
    ``publish`` sends the one it builds, after the same checks: the connection's pending buffer, flushed by its
    flusher (nats-py 2.x; its ``_send_command`` and ``_flush_pending``). While the connection is down it raises
    (``publish`` would buffer): a batch is re-sent by its caller, not held."""
    if nc.is_closed:
        raise ConnectionClosedError
    if nc.is_draining_pubs:
        raise ConnectionDrainingError
    if not nc.is_connected:
        raise OutboundBufferLimitError
    if payload_size > nc.max_payload:
        raise MaxPayloadError
    await nc._send_command(frame)
    if nc._flush_queue is not None and nc._flush_queue.empty():
        await nc._flush_pending()
