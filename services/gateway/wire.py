"""Push frames written straight to a client's connection, framed once for every client.

A value goes to every client of its session: at 200 values a second and 100
clients, 20,000 writes a second. Through ASGI each of those is a task woken
from a queue, a chain of middleware ``send`` wrappers and the server's own
framing; the frames of a push message are the same bytes for every client (an
HTTP chunk holding the server-sent event; an unmasked, uncompressed WebSocket
text frame), so the hub builds them once and writes them to each connection
from its fan-out loop: one ``transport.write`` per client.

That needs the connection under the server's ``send``, which ASGI does not
expose: uvicorn (what :class:`~services.gateway.server.GatewayService` runs)
has it on the object its ``send`` is bound to. The gateway's application keeps
the server's own ``send`` in the scope (:data:`SERVER_SEND`) before any
middleware wraps it; :func:`http_wire` and :func:`websocket_wire` find the
connection there, and answer None under any other server or protocol
implementation, where the push handlers use the ASGI path instead.

The response head, its end and WebSocket close frames still go through ASGI
(so middleware adds its headers and the server knows where the response is);
only the frames in between are written here.
"""

from __future__ import annotations

import asyncio
import struct

from starlette.types import Scope
from uvicorn.protocols.http.httptools_impl import RequestResponseCycle
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

SERVER_SEND = "chequered.server_send"
"""Scope key of the ASGI server's own ``send`` callable (see :class:`services.gateway.app.GatewayApp`)."""

MAX_BUFFERED = 4 * 1024 * 1024
"""Bytes a client may leave unsent in the gateway (beyond what the kernel holds) before it is dropped: a few
seconds of a busy race. It reconnects and resumes from its last sequence."""


class Wire:
    """A client's connection, written to directly."""

    __slots__ = ("_allowed", "_transport")

    def __init__(self, transport: asyncio.WriteTransport, max_buffered: int = MAX_BUFFERED) -> None:
        self._transport = transport
        self._allowed = max_buffered

    def allow(self, extra: int) -> None:
        """Let the client hold ``extra`` more bytes unsent: what it was sent at once on connecting."""
        self._allowed += extra

    @property
    def closed(self) -> bool:
        """The client left (or is being dropped): write no more."""
        return self._transport.is_closing()

    def write(self, data: bytes) -> bool:
        """Write ``data`` (unless closed); False when the client is so far behind it should be dropped."""
        transport = self._transport
        if transport.is_closing():
            return True
        transport.write(data)
        return transport.get_write_buffer_size() <= self._allowed

    def abort(self) -> None:
        """Close now, discarding what is unsent (``close`` would wait for a client that does not read)."""
        self._transport.abort()


def _server_object(scope: Scope) -> object:
    return getattr(scope.get(SERVER_SEND), "__self__", None)


def http_wire(scope: Scope, max_buffered: int = MAX_BUFFERED) -> Wire | None:
    """The connection of a response uvicorn is sending with chunked encoding (call after the response head)."""
    cycle = _server_object(scope)
    if not isinstance(cycle, RequestResponseCycle) or cycle.chunked_encoding is not True:
        return None
    return Wire(cycle.transport, max_buffered)


def websocket_wire(scope: Scope, max_buffered: int = MAX_BUFFERED) -> Wire | None:
    """The connection of an accepted WebSocket served by uvicorn's websockets (sans-I/O) protocol, when no
    extension (compression) changes how a frame is written."""
    protocol = _server_object(scope)
    if not isinstance(protocol, WebSocketsSansIOProtocol):
        return None
    if protocol.conn.extensions or protocol.transport is None:
        return None
    return Wire(protocol.transport, max_buffered)


def http_chunk(data: bytes | memoryview) -> bytes:
    """``data`` as one chunk of a chunked HTTP/1.1 body."""
    return b"".join((b"%x\r\n" % len(data), data, b"\r\n"))


def text_frame(data: bytes | memoryview) -> bytes:
    """``data`` (UTF-8 JSON) as one final, unmasked WebSocket text frame, as a server sends it (RFC 6455 5.2)."""
    size = len(data)
    if size < 126:
        head = struct.pack("!BB", 0x81, size)
    elif size < 1 << 16:
        head = struct.pack("!BBH", 0x81, 126, size)
    else:
        head = struct.pack("!BBQ", 0x81, 127, size)
    return head + data
