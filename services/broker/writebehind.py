"""Read models written behind the fold: the keys to write, oldest first, a few writes in flight at once.

Folding an event costs tens of microseconds; building and writing a 40-car
classification about a millisecond. A projector that wrote every session a
batch touched before it read the next made an event that arrived during a big
batch (a hundred sessions starting at once) wait for all of that batch's writes
and then for its own turn in the next: two rounds. Written behind the fold,
an event waits for the writes queued before its session's, one round at most,
and a session touched again before its turn is written once, with both events.

A key is never written by two writers at once, so its values reach the bucket in
the order they were built (each write is a compare-and-set on the key's
revision, made from the newest state when its turn comes).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable

from services.tasks import cancel

log = logging.getLogger("chequered.writebehind")

WRITERS = 8
"""Writes in flight at once: enough to keep the broker's acknowledgements from idling the fold's core, few enough
that a value is built late, from the newest state."""


class WriteQueue:
    """``add`` the keys whose read model changed; ``writers`` tasks call ``write(key)`` for each, oldest first.

    A ``write`` that raises stops every writer and sets :attr:`failed` (its owner is expected to end and be
    restarted: what it folded is written again from the log)."""

    def __init__(self, write: Callable[[str], Awaitable[None]], name: str, writers: int = WRITERS) -> None:
        self._write = write
        self._name = name
        self._writers = writers
        self._queued: dict[str, None] = {}
        """Keys to write, in the order they were first changed since their last write."""
        self._in_flight: set[str] = set()
        self._paused = 0
        self._sleeping: deque[asyncio.Future[None]] = deque()
        """Writers with nothing to take, each woken alone (waking all for one key cost each a turn of the loop)."""
        self._idle = asyncio.Event()
        """Nothing queued, nothing in flight (or a writer failed)."""
        self._landed = asyncio.Event()
        """Nothing in flight."""
        self._idle.set()
        self._landed.set()
        self._tasks: list[asyncio.Task[None]] = []
        self.failed: Exception | None = None

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._writer(), name=f"{self._name}-writer-{i}") for i in range(self._writers)
        ]

    async def stop(self) -> None:
        await cancel(*self._tasks)
        self._tasks = []

    def add(self, keys: Iterable[str]) -> None:
        """Queue ``keys`` for writing (one already queued keeps its place)."""
        before = len(self._queued)
        for key in keys:
            self._queued.setdefault(key, None)
        if self._queued and self.failed is None:  # a failed queue writes nothing more: nothing to wait for
            self._idle.clear()
            self._wake(len(self._queued) - before)

    def abandon(self) -> None:
        """Drop what is queued (on the way out with the broker away: a restart writes it again); the writes in
        flight end as they will."""
        self._queued.clear()
        self._settle()

    @property
    def waiting(self) -> set[str]:
        """The keys queued or being written."""
        return {*self._queued, *self._in_flight}

    async def drained(self) -> None:
        """Return once every key queued so far is written (or a writer failed: see :attr:`failed`)."""
        await self._idle.wait()

    @contextlib.asynccontextmanager
    async def paused(self) -> AsyncIterator[None]:
        """No write in flight inside: the writes started land first, no other starts until the block ends."""
        self._paused += 1
        try:
            await self._landed.wait()
            yield
        finally:
            self._paused -= 1
            self._wake(len(self._sleeping))

    def _wake(self, writers: int) -> None:
        while writers > 0 and self._sleeping:
            sleeper = self._sleeping.popleft()
            if not sleeper.done():
                sleeper.set_result(None)
                writers -= 1

    def _take(self) -> str | None:
        if self._paused or self.failed is not None:
            return None
        key = next((key for key in self._queued if key not in self._in_flight), None)
        if key is not None:
            del self._queued[key]
            self._in_flight.add(key)
            self._landed.clear()
        return key

    async def _writer(self) -> None:
        while self.failed is None:
            key = self._take()
            if key is None:  # nothing to take now: a key queued, a pause ended or a failure wakes it
                sleeper = asyncio.get_running_loop().create_future()
                self._sleeping.append(sleeper)
                await sleeper
                continue
            try:
                await self._write(key)
            except Exception as error:
                log.exception("%s: writing %s failed", self._name, key)
                self.failed = error
            finally:
                self._in_flight.discard(key)
                self._settle()
                if self.failed is not None:
                    self._wake(len(self._sleeping))  # to end

    def _settle(self) -> None:
        """Say what is left: nothing in flight, nothing at all (or nothing more, after a failure)."""
        if not self._in_flight:
            self._landed.set()
        if self.failed is not None or not (self._queued or self._in_flight):
            self._idle.set()
