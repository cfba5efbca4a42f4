"""Connection limits of the gateway's HTTP server, which uvicorn does not have.

uvicorn waits for a request's headers for ever and accepts connections until
the process runs out of file descriptors: 1,500 clients that each send half a
request made the gateway unreachable. :class:`GuardedHttpTools` (uvicorn's
httptools protocol, which the push fast path writes to) closes a connection
whose request headers have not all arrived :data:`HEADER_TIMEOUT_S` after the
connection or the request's first byte (``408``), and answers a connection
beyond the cap ``503`` at once and closes it, so the process keeps the file
descriptors it needs. The cap counts every open connection, push clients
included: :func:`connection_cap` keeps it below the process's descriptor limit.
"""

from __future__ import annotations

import asyncio
import resource
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEADER_TIMEOUT_S = 10.0
MAX_CONNECTIONS = 4096
RESERVED_FDS = 64
"""Descriptors kept for everything but clients: NATS, logs, the ops port."""

TOO_SLOW = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
TOO_MANY = b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nretry-after: 5\r\nconnection: close\r\n\r\n"


def connection_cap(limit: int = MAX_CONNECTIONS) -> int:
    """``limit``, or fewer when the process may not open that many descriptors (``ulimit -n``)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return limit
    return max(1, min(limit, soft - RESERVED_FDS))


class GuardedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol with a request-header deadline and a connection cap (see the module)."""

    header_timeout = HEADER_TIMEOUT_S
    max_connections = MAX_CONNECTIONS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None

    @classmethod
    def limited(cls, header_timeout: float, max_connections: int) -> type[GuardedHttpTools]:
        """This protocol with these limits (uvicorn instantiates the class it is given)."""
        limits = {"header_timeout": header_timeout, "max_connections": max_connections}
        return type("GuardedHttpTools", (cls,), limits)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            self.logger.warning("more than %d connections: one refused", self.max_connections)
            transport.write(TOO_MANY)
            transport.close()
            return
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._deadline is None:
            self._deadline = self.loop.call_later(self.header_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.write(TOO_SLOW)
            self.transport.close()
