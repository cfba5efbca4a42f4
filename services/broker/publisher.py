"""Publishing to JetStream without waiting for each acknowledgement, with every refusal reported.

nats-py's ``publish_async`` is not used: when the server refuses a message with
status 503 (``insufficient resources``: the disk or the stream's limits are
full) its reply handler raises inside the callback instead of failing the
future, which then never resolves, so each event waited out its whole time-out
in turn. Here every reply resolves its future: an acknowledgement, or
:class:`StoreRefused` with the server's codes. Messages go out in the order of
the ``publish`` calls, on one connection, so the stream stores them in that
order.
"""

from __future__ import annotations

import asyncio
import itertools

import msgspec
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

STORAGE_ERRORS = frozenset({10023, 10047, 10077, 10002, 10028})
"""JetStream error codes of a store that is full: insufficient resources (10023), storage or memory resources
exceeded (10047, 10028), a stream limit reached with ``discard: new`` (10077), account limits (10002)."""


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


_reply = msgspec.json.Decoder(_Reply)


class PipelinedPublisher:
    """``await start()``, then ``future = await publish(...)`` as often as needed; each future resolves to an
    :class:`Ack` or fails with :class:`StoreRefused`. A future nobody awaits any more may be cancelled."""

    def __init__(self, nc: Client) -> None:
        self._nc = nc
        self._prefix = ""
        self._tokens = itertools.count(1)
        self._pending: dict[str, asyncio.Future[Ack]] = {}
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

    async def _on_reply(self, msg: Msg) -> None:
        future = self._pending.get(msg.subject.rpartition(".")[2])
        if future is None or future.done():
            return
        status = (msg.headers or {}).get("Status")
        if status is not None and not msg.data:  # no stream listens on the subject
            future.set_exception(StoreRefused(int(status), 0, "no stream takes this subject"))
            return
        try:
            reply = _reply.decode(msg.data)
        except msgspec.MsgspecError as error:
            future.set_exception(StoreRefused(0, 0, f"unreadable acknowledgement: {error}"))
            return
        if reply.error is not None:
            future.set_exception(StoreRefused(reply.error.code, reply.error.err_code, reply.error.description))
        else:
            future.set_result(Ack(reply.stream, reply.seq, reply.duplicate))
