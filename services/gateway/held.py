"""KV values held for a moment, so a crowd of pages asking at once costs the broker one read.

Every open live page asks for its championship's standings after each lap (at most once a second): a thousand
viewers would be a thousand KV reads a second of the same value, each a request to the broker and the value's
decoding (a 40 KB value costs the gateway more than the rest of the answer). A value read is held for
:data:`HOLD_S` and given to every request in that time; requests that come while it is being read wait for that
one read. A key with no value is not held (nothing a request names can fill the memory).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

HOLD_S = 0.25
"""How long a value read is given out again: well inside the second a page waits between two asks."""


class HeldValues:
    """``await get(key)``: the value of ``key`` as ``lookup`` reads it, at most :data:`HOLD_S` old."""

    def __init__(self, lookup: Callable[[str], Awaitable[bytes | None]], hold_s: float = HOLD_S) -> None:
        self._lookup = lookup
        self._hold_s = hold_s
        self._held: dict[str, tuple[float, bytes]] = {}
        self._reading: dict[str, asyncio.Future[bytes | None]] = {}

    async def get(self, key: str) -> bytes | None:
        held = self._held.get(key)
        if held is not None and time.monotonic() - held[0] < self._hold_s:
            return held[1]
        reading = self._reading.get(key)
        if reading is None:
            reading = self._reading[key] = asyncio.ensure_future(self._read(key))
            reading.add_done_callback(_seen)
        return await asyncio.shield(reading)  # a request that goes away does not cancel the others' read

    async def _read(self, key: str) -> bytes | None:
        try:
            found = await self._lookup(key)
        finally:
            del self._reading[key]
        if found is None:
            self._held.pop(key, None)
        else:
            self._held[key] = (time.monotonic(), found)
        return found


def _seen(reading: asyncio.Future[bytes | None]) -> None:
    """A read whose requests all went away still has its failure taken (each waiting request raises it)."""
    if not reading.cancelled():
        reading.exception()
