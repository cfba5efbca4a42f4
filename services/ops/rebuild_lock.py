"""One rebuild at a time: a lock beside the readers' pointer, renewed while the rebuild runs.

Two rebuilds started at once (an operator's second terminal, a retry while the
first still runs) would take the same new bucket: the second deletes and
re-creates it while the first writes, and the first can move the readers to a
bucket the second has only begun to fill. So a rebuild first creates the key
``<projection>.rebuild`` in ``chequered_read_models``, the bucket whose pointer
it moves (``create`` fails while the key exists; the operations user may write
both keys and no other). It renews the lock every :data:`BEAT_S` with
compare-and-set on its own revision, makes sure it still holds it before it
moves the pointer, and deletes it at the end, switched or not.

A second rebuild is refused, told who holds the lock and since when. A lock
left by a rebuild that died (``kill -9``, a machine lost) is taken over: at
once when its holder ran on this machine and is no longer running, else once it
has not been renewed for :data:`STALE_S`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import msgspec
from msgspec import Meta
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from schemas.events import MAX_INSTANT
from schemas.subjects import READ_MODELS_BUCKET
from services.tasks import cancel

BEAT_S = 2.0
"""Between two renewals of a held lock."""
STALE_S = 30.0
"""A lock not renewed for this long is a dead rebuild's (a live one renews it every :data:`BEAT_S`, and a long
step that keeps the event loop busy, such as encoding every value of a large log, stays well under it)."""


class NotLocked(RuntimeError):
    """The lock is not this rebuild's: another holds it (the reason says whose) or took it over from this one, or
    the broker would not let it be taken."""


EpochMs = Annotated[int, Meta(ge=0, le=MAX_INSTANT)]


class Holder(msgspec.Struct, frozen=True):
    """Who holds the lock: a process on a host, since when, last renewed when (epoch milliseconds). A value out of
    these bounds (a pid of 0 names a process group, a time past 2100 no clock) is no lock this version wrote."""

    host: Annotated[str, Meta(max_length=255)]
    pid: Annotated[int, Meta(ge=1)]
    since_ms: EpochMs
    beat_ms: EpochMs


_holder = msgspec.json.Decoder(Holder)


def lock_key(projection: str) -> str:
    return f"{projection}.rebuild"


@contextlib.asynccontextmanager
async def held(js: JetStreamContext, projection: str) -> AsyncIterator[RebuildLock]:
    """The lock on ``projection``'s rebuild, held for the block; :class:`NotLocked` if another holds it."""
    lock = RebuildLock(await js.key_value(READ_MODELS_BUCKET), lock_key(projection))
    await lock.take()
    try:
        yield lock
    finally:
        await lock.release()


class RebuildLock:
    """The lock ``key`` in ``kv``: :meth:`take` it (or refuse), :meth:`check` it before the pointer moves,
    :meth:`release` it; renewed meanwhile."""

    def __init__(self, kv: KeyValue, key: str) -> None:
        self._kv = kv
        self._key = key
        self._since = _now_ms()
        self._revision = 0
        self._lost = False
        self._beating: asyncio.Task[None] | None = None

    async def take(self) -> None:
        try:
            self._revision = await self._kv.create(self._key, self._value())
        except KeyWrongLastSequenceError:
            self._revision = await self._take_over()
        except NatsError as error:  # a role without the lock's subject times out: its permission is missing
            raise NotLocked(
                f"the rebuild's lock ({self._key} in {READ_MODELS_BUCKET}) could not be taken ({error!r}): the "
                f"user needs to publish to $KV.{READ_MODELS_BUCKET}.{self._key} (deploy/nats/accounts.conf)"
            ) from None
        self._beating = asyncio.create_task(self._beat(), name="rebuild-lock")

    def check(self) -> None:
        """Raise :class:`NotLocked` if another rebuild has taken the lock over (this one stalled past
        :data:`STALE_S`): it must not move the pointer."""
        if self._lost:
            raise NotLocked(f"another rebuild took over this one's lock ({self._key}) while it stalled")

    async def release(self) -> None:
        if self._beating is not None:
            await cancel(self._beating)
        if not self._lost:
            with contextlib.suppress(NatsError):  # the broker away: the lock goes stale, and is taken over
                await self._kv.delete(self._key, last=self._revision)

    async def _take_over(self) -> int:
        """The lock of a rebuild that died; :class:`NotLocked` if its holder may still be running."""
        try:
            entry = await self._kv.get(self._key)
        except KeyNotFoundError:  # released meanwhile
            try:
                return await self._kv.create(self._key, self._value())
            except KeyWrongLastSequenceError:  # and taken at once by another rebuild
                raise NotLocked(f"another rebuild has just taken {self._key}") from None
        try:
            other = _holder.decode(entry.value or b"")
        except msgspec.MsgspecError:
            other = None  # no lock this version wrote (an operator's put): nobody to wait for
        if other is not None and not _abandoned(other):
            raise NotLocked(_described(other))
        try:
            return await self._kv.update(self._key, self._value(), last=entry.revision)
        except KeyWrongLastSequenceError:  # another rebuild took it over first
            raise NotLocked(f"another rebuild has just taken over {self._key}") from None

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(BEAT_S)
            try:
                self._revision = await self._kv.update(self._key, self._value(), last=self._revision)
            except KeyWrongLastSequenceError:
                self._lost = True
                return
            except NatsError:  # the broker away a moment: renewed at the next beat, or taken over if it is gone
                continue

    def _value(self) -> bytes:
        return msgspec.json.encode(Holder(socket.gethostname(), os.getpid(), self._since, _now_ms()))


def _now_ms() -> int:
    return int(time.time() * 1000)


def _abandoned(holder: Holder) -> bool:
    """Whether a lock's holder is gone: not renewed for :data:`STALE_S` (or renewed further ahead than that, by a
    clock no rebuild could wait out), or a process of this host that ended."""
    if abs(_now_ms() - holder.beat_ms) > STALE_S * 1000:
        return True
    return holder.host == socket.gethostname() and not _running(holder.pid)


def _running(pid: int) -> bool:
    """Whether process ``pid`` of this host is running (one ended and not yet reaped by its parent is not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's
        return True
    with contextlib.suppress(OSError, IndexError):
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return True


def _described(holder: Holder) -> str:
    since = datetime.fromtimestamp(holder.since_ms / 1000, UTC).strftime("%H:%M:%S UTC")
    seen = max(0, _now_ms() - holder.beat_ms) / 1000
    return (
        f"another rebuild is running (process {holder.pid} on {holder.host}, since {since}, last seen {seen:.0f} s "
        f"ago): wait for it to end (one that died is taken over {STALE_S:.0f} s after it was last seen)"
    )
