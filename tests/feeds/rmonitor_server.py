"""A real RMonitor TCP server for tests: plays the lines of a capture to each client that connects.

Each connection plays the next :class:`Segment` of a plan: a slice of the
lines (so a later connection can start from an earlier line and re-send what
the previous one already sent, as Orbits re-sends its scoreboard), optionally
the first half of the next line (a line cut by the drop), then it drops the
connection, or holds it open in silence (a dead link the client must notice).
Once the last segment is played the server stops listening: it is bounded
and stops itself. Lines go out cp1252-encoded with CR LF, as Orbits sends them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType

HOST = "127.0.0.1"
CHUNK_LINES = 40
"""Lines written per ``drain``: a client sees the capture arrive in pieces, lines split across reads."""


@dataclass(frozen=True)
class Segment:
    """What one connection gets: ``lines[start:stop]``, then the connection is dropped (or held silent)."""

    start: int = 0
    stop: int | None = None
    cut: bool = False
    """Send the first half of line ``stop`` too, without its terminator, before the drop."""
    hold: bool = False
    """Stay connected and send nothing more (until the client hangs up) instead of dropping."""


class RMonitorServer:
    def __init__(self, lines: Sequence[str], plan: Sequence[Segment] = (Segment(),), *, port: int = 0) -> None:
        self.lines = list(lines)
        self.plan = list(plan)
        self.port = port
        """The port listened on (the one given, or the free one the system chose once started)."""
        self.sent: list[int] = []
        """Complete lines sent, per connection."""
        self.played = asyncio.Event()
        """Set once every segment of the plan is played and the server no longer listens."""
        self._server: asyncio.Server | None = None

    async def start(self) -> RMonitorServer:
        self._server = await asyncio.start_server(self._play, HOST, self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def __aenter__(self) -> RMonitorServer:
        return await self.start()

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.stop()

    async def _play(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        index = len(self.sent)
        self.sent.append(0)
        if index >= len(self.plan):  # a connection after the plan: nothing to play
            writer.close()
            return
        segment = self.plan[index]
        if index == len(self.plan) - 1 and self._server is not None:
            self._server.close()  # the last connection: accept no other
        try:
            await self._write(writer, segment, index)
            if segment.hold:
                while await reader.read(4096):  # until the client hangs up
                    pass
        except ConnectionError:
            pass  # the client went first
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
            if index == len(self.plan) - 1:
                self.played.set()

    async def _write(self, writer: asyncio.StreamWriter, segment: Segment, index: int) -> None:
        chosen = self.lines[segment.start : segment.stop]
        for first in range(0, len(chosen), CHUNK_LINES):
            chunk = chosen[first : first + CHUNK_LINES]
            writer.write("".join(f"{line}\r\n" for line in chunk).encode("cp1252"))
            await writer.drain()
            self.sent[index] += len(chunk)
        if segment.cut and segment.stop is not None and segment.stop < len(self.lines):
            cut = self.lines[segment.stop]
            writer.write(cut[: len(cut) // 2].encode("cp1252"))
            await writer.drain()
