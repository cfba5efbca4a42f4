"""Read-only access: GET only, and a bearer token on every data path.

Pure ASGI middleware, so it guards REST, SSE and WebSocket alike, and routes
added later (standings) are covered without doing anything. A token comes in
``Authorization: Bearer T`` or, for ``EventSource`` and ``WebSocket`` which cannot
set headers, ``?token=T``. The page, its assets, ``/healthz`` and the interface
documents hold no data and are public.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from urllib.parse import parse_qs

import msgspec
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.gateway.messages import ApiError

READ_METHODS = frozenset({"GET", "HEAD"})
PROTECTED_PREFIXES = ("/api/", "/ws/")
PUBLIC_PATHS = frozenset({"/api/openapi.json", "/api/asyncapi.json"})
WS_UNAUTHORIZED = 4401
"""Close code for a refused WebSocket: 4000 + the HTTP status, as a close frame has no status line."""


def token_of(scope: Scope) -> str | None:
    headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
    for name, value in headers:
        if name == b"authorization":
            scheme, _, credentials = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and credentials.strip():
                return credentials.strip()
    query: bytes = scope.get("query_string", b"")
    values = parse_qs(query.decode("latin-1")).get("token", [])
    return values[-1] if values else None


def needs_token(path: str) -> bool:
    return path.startswith(PROTECTED_PREFIXES) and path not in PUBLIC_PATHS


class ReadOnlyAccess:
    def __init__(self, app: ASGIApp, tokens: Iterable[str]) -> None:
        self.app = app
        self._tokens = [token.encode() for token in tokens]

    def allows(self, token: str | None) -> bool:
        if token is None:
            return False
        given = token.encode()
        matched = False
        for known in self._tokens:  # every one, without stopping early: no timing hint of which nearly matched
            matched |= hmac.compare_digest(given, known)
        return matched

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if scope["method"] not in READ_METHODS:
                await _refuse(send, 405, "the gateway is read-only: GET only", {"allow": "GET, HEAD"})
                return
            if needs_token(scope["path"]) and not self.allows(token_of(scope)):
                await _refuse(send, 401, "a valid read token is required", {"www-authenticate": "Bearer"})
                return
            send = _any_origin(send)
        elif scope["type"] == "websocket" and needs_token(scope["path"]) and not self.allows(token_of(scope)):
            await receive()  # websocket.connect
            await send({"type": "websocket.accept"})
            await send({"type": "websocket.close", "code": WS_UNAUTHORIZED, "reason": "a valid read token is required"})
            return
        await self.app(scope, receive, send)


def _any_origin(send: Send) -> Send:
    """Let graphics pages served from elsewhere (a CG template, a file) read the API with their token."""

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", ()), (b"access-control-allow-origin", b"*")]}
        await send(message)

    return sending


async def _refuse(send: Send, status: int, reason: str, headers: dict[str, str]) -> None:
    body = msgspec.json.encode(ApiError(error=reason))
    raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw_headers += [(name.encode(), value.encode()) for name, value in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})
