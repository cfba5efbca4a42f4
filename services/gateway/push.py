"""Push: a session's classification over server-sent events and WebSocket.

Both send a snapshot first, then every later value in stream order as a delta
from the one before (:class:`~services.gateway.messages.Update`), each tagged
with its ``seq`` and the ``base_seq`` it applies to; a resume the buffer cannot
serve gets a snapshot again. An SSE client that fell behind gets every ready
event in one write (still one event per message). Both resume with
``?since=SEQ`` (SSE also from ``Last-Event-ID``, which browsers send by
themselves when they reconnect). A session with no value
yet is waited for: its first value arrives as a snapshot.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from services.gateway.hub import ClassificationHub
from services.gateway.responses import BadRequest, int_param, session_param
from services.gateway.state import gateway_of

HEARTBEAT_S = 15.0
"""An SSE comment this often while nothing happens, so proxies keep the connection open."""
RETRY_MS = 1000
"""How soon a browser's EventSource reconnects after losing the stream."""
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


async def _events(hub: ClassificationHub, key: str, since: int | None) -> AsyncIterator[bytes]:
    subscriber = hub.subscribe(key, since)
    try:
        # Neither line ends an event (no blank line), so no client sees an empty event: the retry goes
        # with the first message, and the keep-alive is a bare comment.
        yield b"retry: %d\n" % RETRY_MS
        while True:
            if subscriber.ready():  # the busy path: no timer to arm and cancel per message
                message = await subscriber.next()
            else:
                try:
                    async with asyncio.timeout(HEARTBEAT_S):
                        message = await subscriber.next()
                except TimeoutError:
                    yield b": keep-alive\n"
                    continue
            if message is None:
                return
            more = subscriber.take_ready(COALESCE)
            if not more:
                yield message.sse
                continue
            # Behind (a burst): every message ready goes in one write, each still a whole event of its own.
            ended = None in more
            yield message.sse + b"".join(m.sse for m in more if m is not None)
            if ended:
                return
    finally:
        hub.unsubscribe(key, subscriber)


async def session_stream(request: Request) -> Response:
    session = session_param(request)
    since = _since(request)
    return StreamingResponse(
        _events(gateway_of(request).hub, session.key, since),
        media_type="text/event-stream",
        headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
    )


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
    pump = asyncio.create_task(_pump(websocket, gateway_of(websocket).hub, session.key, since))
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
