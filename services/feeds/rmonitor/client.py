"""The I/O shells of the RMonitor adapter: a live TCP client and a capture player.

Both turn lines into events with the pure parser and mapper
(:func:`~services.feeds.rmonitor.capture.map_lines`) and hand them out as
batches through an async iterator; sending them to ingest is
:mod:`services.feeds.ingestor`'s job, so a slow ingest simply stops the
reading (TCP flow control does the rest).

:class:`RMonitorClient` keeps one :class:`WeekendMapper` for its whole life,
across reconnects: when Orbits re-sends its scoreboard to a new connection the
mapper recognises the re-sent passings (and whatever gets through maps to the
same content-derived ids, which ingest de-duplicates). A connection that is
refused, drops, or stays silent for ``idle_timeout_s`` (Orbits sends ``$F``
every second, so silence means a dead link) is retried after an exponential,
capped, jittered back-off. A bad line never ends the feed: it is counted and
logged with its line number (lines are numbered from 1 over the client's life,
across connections).

:class:`CapturePlayer` feeds a capture file through a mapper at the pace
:func:`~services.feeds.rmonitor.pace.replay_schedule` gives: the recorded
pace, N times faster, or as fast as possible.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeVar

from schemas.events import Event
from services.feeds.rmonitor.capture import ReadStats, map_lines, read_capture
from services.feeds.rmonitor.pace import Line, replay_schedule
from services.feeds.rmonitor.weekend import WeekendMapper

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_PORT = 50000
ENCODING = "cp1252"
READ_SIZE = 65536
MAX_LINE = 8192
"""Bytes without a terminator after which the buffer is cut into a line of its own (it then fails to parse):
memory stays bounded whatever a broken feed sends."""
PLAYER_BATCH_LINES = 1000
"""Lines mapped into one batch when a capture is played with no wait between them."""


# -- live feed -------------------------------------------------------------------


@dataclass(frozen=True)
class Backoff:
    """Wait before connection attempt ``n`` (0-based): ``initial_s * factor**n``, capped at ``cap_s``, less a random
    share of up to ``jitter`` of it, so clients that lost the same server do not come back in step."""

    initial_s: float = 0.5
    cap_s: float = 30.0
    factor: float = 2.0
    jitter: float = 0.2

    def delay(self, attempt: int, rng: random.Random) -> float:
        base = min(self.cap_s, self.initial_s * self.factor ** min(attempt, 64))
        return base * (1.0 - self.jitter * rng.random())


@dataclass
class LinkStats:
    """The state of the connection to the timing system, updated as it changes."""

    connected: bool = False
    connections: int = 0
    """Connections established."""
    failures: int = 0
    """Connection attempts refused, unreachable or timed out."""
    drops: int = 0
    """Established connections that ended (closed by the server, reset, or silent too long)."""
    backoffs: deque[float] = field(default_factory=lambda: deque(maxlen=64))
    """The last back-off waits, in seconds."""


class LineSplitter:
    """Bytes as they arrive to complete lines (CR LF, LF or CR ends one; blank lines are dropped), decoded cp1252."""

    def __init__(self, max_line: int = MAX_LINE) -> None:
        self.max_line = max_line
        self._rest = b""

    def feed(self, data: bytes) -> list[str]:
        pieces = (self._rest + data).splitlines(keepends=True)
        self._rest = pieces.pop() if pieces and not pieces[-1].endswith((b"\r", b"\n")) else b""
        if len(self._rest) > self.max_line:
            pieces.append(self._rest)
            self._rest = b""
        return [
            text for text in (piece.rstrip(b"\r\n").decode(ENCODING, "replace") for piece in pieces) if text.strip()
        ]

    def tail(self) -> str:
        """The unterminated end of what was fed (a line cut by a disconnect), and forget it."""
        rest, self._rest = self._rest, b""
        return rest.decode(ENCODING, "replace")


_Stopper = asyncio.Task[Literal[True]]
"""What completes when ``stop`` is set."""


class _Stopped(Exception):
    """``stop`` was set while waiting."""


async def _unless_stopped(awaitable: Awaitable[T], stopper: _Stopper, timeout: float | None) -> T:
    """The awaitable's result; raises :class:`_Stopped` if ``stopper`` completes first, ``TimeoutError`` after
    ``timeout`` seconds."""
    task = asyncio.ensure_future(awaitable)
    try:
        done, _ = await asyncio.wait({task, stopper}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not task.done():
            task.cancel()
    if task in done:
        return task.result()
    if stopper in done:
        raise _Stopped
    raise TimeoutError


class RMonitorClient:
    """A live RMonitor feed: connect, read lines, map them, reconnect whenever the link is lost, until stopped."""

    def __init__(
        self,
        host: str,
        port: int,
        mapper: WeekendMapper,
        *,
        backoff: Backoff | None = None,
        rng: random.Random | None = None,
        connect_timeout_s: float = 10.0,
        idle_timeout_s: float | None = 30.0,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        """``rng`` is the back-off jitter's only source of randomness (pass a seeded one for repeatable waits);
        ``wall_clock`` stamps each line's arrival, from which the mapper takes the session day when it is not
        given one."""
        self.host = host
        self.port = port
        self.mapper = mapper
        self.backoff = backoff or Backoff()
        self.rng = rng if rng is not None else random.Random()
        self.connect_timeout_s = connect_timeout_s
        self.idle_timeout_s = idle_timeout_s
        self.wall_clock = wall_clock
        self.stats = ReadStats()
        self.link = LinkStats()
        self._line_no = 0

    async def batches(self, stop: asyncio.Event) -> AsyncIterator[list[Event]]:
        """Events as the feed produces them (the events of each read that made any) until ``stop`` is set; then
        what the mapper still holds."""
        stopper = asyncio.ensure_future(stop.wait())
        attempt = 0
        try:
            while not stop.is_set():
                streams = await self._connect(stopper)
                if streams is not None:
                    lines_before = self.stats.lines
                    async with contextlib.aclosing(self._follow(*streams, stopper)) as batches:
                        async for batch in batches:
                            yield batch
                    if self.stats.lines > lines_before:
                        attempt = 0  # the link worked: start the back-off over
                if stop.is_set():
                    break
                await self._back_off(attempt, stopper)
                attempt += 1
        except _Stopped:
            pass
        finally:
            stopper.cancel()
        if final := self.mapper.flush():
            yield final

    async def _connect(self, stopper: _Stopper) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        try:
            streams = await _unless_stopped(
                asyncio.open_connection(self.host, self.port), stopper, self.connect_timeout_s
            )
        except (OSError, TimeoutError) as error:
            self.link.failures += 1
            log.warning("rmonitor %s:%d: cannot connect (%s)", self.host, self.port, str(error) or "timed out")
            return None
        if self.link.connections:
            self.mapper.reconnected()
        self.link.connections += 1
        self.link.connected = True
        log.info("rmonitor %s:%d: connected", self.host, self.port)
        return streams

    async def _back_off(self, attempt: int, stopper: _Stopper) -> None:
        delay = self.backoff.delay(attempt, self.rng)
        self.link.backoffs.append(delay)
        log.info("rmonitor %s:%d: reconnecting in %.1fs", self.host, self.port, delay)
        done, _ = await asyncio.wait({stopper}, timeout=delay)
        if done:
            raise _Stopped

    async def _follow(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, stopper: _Stopper
    ) -> AsyncGenerator[list[Event], None]:
        """One connection: batches until it ends; ``_Stopped`` goes through once the connection is closed."""
        splitter = LineSplitter()
        try:
            while data := await _unless_stopped(reader.read(READ_SIZE), stopper, self.idle_timeout_s):
                if events := self._map(splitter.feed(data)):
                    yield events
            log.warning("rmonitor %s:%d: connection closed by the server", self.host, self.port)
        except TimeoutError:
            log.warning("rmonitor %s:%d: nothing received for %.0fs", self.host, self.port, self.idle_timeout_s)
        except OSError as error:
            log.warning("rmonitor %s:%d: connection lost (%s)", self.host, self.port, error)
        finally:
            self._close(writer)
            self._cut(splitter.tail())

    def _map(self, lines: list[str]) -> list[Event]:
        arrival = self.wall_clock()
        first = self._line_no + 1
        self._line_no += len(lines)
        return map_lines(self.mapper, ((first + i, arrival, line) for i, line in enumerate(lines)), self.stats)

    def _cut(self, tail: str) -> None:
        """A line the disconnect cut short is never parsed: its start could read as a record that says less."""
        if tail.strip():
            self._line_no += 1
            self.stats.lines += 1
            self.stats.skip(self._line_no, f"cut short by the disconnect: {tail[:60]!r}")

    def _close(self, writer: asyncio.StreamWriter) -> None:
        if self.link.connected:
            self.link.connected = False
            self.link.drops += 1
        writer.close()


# -- capture replay --------------------------------------------------------------


class CapturePlayer:
    """A capture file fed through a mapper at ``speed`` times its recorded pace (``None``: as fast as possible)."""

    def __init__(
        self,
        path: str | Path,
        mapper: WeekendMapper,
        speed: float | None = 1.0,
        *,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.mapper = mapper
        self.stats = ReadStats()
        self.entries = list(read_capture(path, self.stats))
        self.delays = [step.delay_s for step in replay_schedule(self.entries, speed)]
        self._sleep = sleep
        self._clock = clock

    @property
    def total_lines(self) -> int:
        return len(self.entries)

    async def batches(self) -> AsyncIterator[list[Event]]:
        """The events of the lines due together, as each group falls due; at the end, what the mapper held.

        Waits are measured from the start (not from the previous line), so the time spent sending a batch
        does not slow the replay down.
        """
        started = self._clock()
        due = 0.0
        pending: list[Line] = []
        for entry, delay in zip(self.entries, self.delays, strict=True):
            if pending and (delay > 0 or len(pending) >= PLAYER_BATCH_LINES):
                if events := map_lines(self.mapper, pending, self.stats):
                    yield events
                pending = []
            due += delay
            if (wait := due - (self._clock() - started)) > 0:
                await self._sleep(wait)
            pending.append(entry)
        final = map_lines(self.mapper, pending, self.stats) + self.mapper.flush()
        if final:
            yield final
