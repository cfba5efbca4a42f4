"""Push: a session's classification over server-sent events and WebSocket.

Both send a snapshot first, then every later value in stream order as a delta
from the one before (:class:`~services.gateway.messages.Update`), each tagged
with its ``seq`` and the ``base_seq`` it applies to; a resume the buffer cannot
serve gets a snapshot again. Both resume with ``?since=SEQ`` (SSE also from
``Last-Event-ID``, which browsers send by themselves when they reconnect). A
session with no value yet is waited for: its first value arrives as a snapshot.

Under uvicorn the hub writes each message's frame to the connection itself
(:mod:`services.gateway.wire`) and the handlers here only open the stream, wait
for it to end and close it; under another ASGI server they pump a queue through
``send`` (an SSE client that fell behind then gets every ready event in one write,
still one event per message).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from operator import attrgetter
from typing import TypeVar

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from services.gateway.hub import ClassificationHub, Outgoing
from services.gateway.responses import BadRequest, int_param, session_param
from services.gateway.state import gateway_of
from services.gateway.wire import Wire, http_chunk, http_wire, websocket_wire

KEEP_ALIVE = b": keep-alive\n"
"""A bare comment: no event."""
HEARTBEAT_S = 15.0
"""An SSE comment this often while nothing happens, so proxies keep the connection open."""
SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}
"""Not cached, and not buffered by a proxy (nginx): each event goes out when it is written."""
RETRY_MS = 1000
"""How soon a browser's EventSource reconnects after losing the stream."""
RETRY = b"retry: %d\n" % RETRY_MS
"""Not an event (no blank line), so no client sees an empty one: the retry goes with the first message."""
COALESCE = 64
"""At most this many ready SSE events are written together when a client is behind."""
WS_TOO_SLOW = 1013  # "try again later": reconnect with ?since=
WS_GOING_AWAY = 1001
WS_BAD_REQUEST = 1008


def _since(request: Request) -> int | None:
    """``Last-Event-ID`` (sent by a reconnecting browser, the most recent) else ``?since=``."""
    header = request.headers.get("last-event-id", "").strip()
    if header:
        if not header.isdigit():
            raise BadRequest(f"Last-Event-ID must be a stream sequence, got {header!r}")
        return int(header)
    return int_param(request, "since")


M = TypeVar("M")


async def within_heartbeat(message: Awaitable[M]) -> M | bytes:
    """``message``, or :data:`KEEP_ALIVE` (for the stream to write) when :data:`HEARTBEAT_S` pass first."""
    try:
        async with asyncio.timeout(HEARTBEAT_S):
            return await message
    except TimeoutError:
        return KEEP_ALIVE


async def _events(hub: ClassificationHub, key: str, since: int | None) -> AsyncIterator[bytes | memoryview]:
    subscriber = hub.subscribe(key, since)
    try:
        yield RETRY
        while True:
            # the busy path first: no timer to arm and cancel per message
            message = await subscriber.next() if subscriber.ready() else await within_heartbeat(subscriber.next())
            if isinstance(message, bytes):  # the keep-alive: nothing came for HEARTBEAT_S
                yield message
                continue
            if message is None:
                return
            more = subscriber.take_ready(COALESCE)
            if not more:
                yield message.sse
                continue
            # Behind (a burst): every message ready goes in one write, each still a whole event of its own.
            ended = None in more
            yield b"".join([message.sse, *(m.sse for m in more if m is not None)])
            if ended:
                return
    finally:
        hub.unsubscribe(key, subscriber)


class EventStream(StreamingResponse):
    """A session's server-sent events: written by the hub straight to the connection when the server lets it,
    else pumped from a queue (:func:`_events`)."""

    def __init__(self, hub: ClassificationHub, key: str, since: int | None) -> None:
        super().__init__(
            _events(hub, key, since),  # started only on the queued path
            media_type="text/event-stream",
            headers=SSE_HEADERS,
        )
        self._hub = hub
        self._key = key
        self._since = since
        self._scope: Scope = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._scope = scope
        await super().__call__(scope, receive, send)

    async def stream_response(self, send: Send) -> None:
        """The head, then the events until the feed ends (cancelled when the client leaves), then the end."""
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        wire = http_wire(self._scope, self._hub.max_buffered)
        if wire is None:
            async for chunk in self.body_iterator:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        else:
            await self._direct(wire)
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _direct(self, wire: Wire) -> None:
        wire.write(http_chunk(RETRY))
        await _follow(self._hub, self._key, self._since, wire, attrgetter("chunk"), http_chunk(KEEP_ALIVE))


async def session_stream(request: Request) -> Response:
    session = session_param(request)
    since = _since(request)
    return EventStream(gateway_of(request).hub, session.key, since)


async def _follow(
    hub: ClassificationHub,
    key: str,
    since: int | None,
    wire: Wire,
    frame: Callable[[Outgoing], bytes],
    keep_alive: bytes | None = None,
) -> bool:
    """Let the hub write the feed to the connection until it ends, writing ``keep_alive`` (when given) every
    :data:`HEARTBEAT_S` that nothing else ended the wait; True when the client fell too far behind."""
    feed = hub.direct(key, since, wire, frame)
    try:
        while not feed.ended.done():
            done, _ = await asyncio.wait({feed.ended}, timeout=HEARTBEAT_S if keep_alive else None)
            if not done and keep_alive:
                wire.write(keep_alive)
    finally:
        hub.unsubscribe(key, feed)
    return feed.overflowed


async def _pump(websocket: WebSocket, hub: ClassificationHub, key: str, since: int | None) -> bool:
    """Send the feed until it ends; True when it ended because the client fell too far behind."""
    subscriber = hub.subscribe(key, since)
    try:
        while (message := await subscriber.next()) is not None:
            await websocket.send_text(message.text())
    finally:
        hub.unsubscribe(key, subscriber)
    return subscriber.overflowed


async def _drain(websocket: WebSocket) -> None:
    """Read (and ignore) what the client sends, to notice when it leaves: nothing is written here."""
    while (await websocket.receive())["type"] != "websocket.disconnect":
        pass


async def session_socket(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        session = session_param(websocket)
        since = int_param(websocket, "since")
    except BadRequest as err:
        await websocket.close(WS_BAD_REQUEST, str(err)[:120])
        return
    hub = gateway_of(websocket).hub
    wire = websocket_wire(websocket.scope, hub.max_buffered)
    pumping = (
        _pump(websocket, hub, session.key, since)
        if wire is None
        else _follow(hub, session.key, since, wire, attrgetter("frame"))
    )
    pump = asyncio.create_task(pumping)
    drain = asyncio.create_task(_drain(websocket))
    await asyncio.wait({pump, drain}, return_when=asyncio.FIRST_COMPLETED)
    if pump.done() and not drain.done() and pump.exception() is None:
        if pump.result():
            await websocket.close(WS_TOO_SLOW, "too slow: reconnect with ?since=<last seq>")
        else:
            await websocket.close(WS_GOING_AWAY, "gateway stopping")
    for task in (pump, drain):
        task.cancel()
    await asyncio.gather(pump, drain, return_exceptions=True)


ROUTES = [
    Route("/api/sessions/{key}/stream", session_stream),
    WebSocketRoute("/ws/sessions/{key}", session_socket),
]
