"""Read-only access: GET only, and a bearer token on every data path.

Pure ASGI middleware, so it guards REST, SSE and WebSocket alike, and routes
added later (standings) are covered without doing anything. A token comes in
``Authorization: Bearer T`` or, for ``EventSource`` and ``WebSocket`` which cannot
set headers, ``?token=T``. The page, its assets, ``/healthz`` and the interface
documents hold no data and are public.

A page of another origin (a graphics template) may read the API with its token:
every response allows any origin, and the browser's preflight (``OPTIONS`` with
``Access-Control-Request-Method``) for ``Authorization: Bearer`` is answered
without a token. Every response also carries a Content-Security-Policy (the
page runs only its own script) and ``Referrer-Policy: no-referrer``: the live
page's address holds its token, which must not travel in a ``Referer``.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from urllib.parse import parse_qs

import msgspec
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.gateway.messages import ApiError

READ_METHODS = frozenset({"GET", "HEAD"})
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'"
)
"""The page loads its own script, style sheet and data; class colours are ``style`` attributes (CSS variables)."""
SECURITY_HEADERS = [
    (b"access-control-allow-origin", b"*"),
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
]
PREFLIGHT_HEADERS = {
    "access-control-allow-origin": "*",
    "access-control-allow-methods": "GET, HEAD",
    "access-control-allow-headers": "Authorization, Last-Event-ID",
    "access-control-max-age": "600",
}
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
            send = _secured(send)
            if scope["method"] == "OPTIONS" and _preflight(scope):
                await send({"type": "http.response.start", "status": 204, "headers": _raw(PREFLIGHT_HEADERS)})
                await send({"type": "http.response.body", "body": b""})
                return
            if scope["method"] not in READ_METHODS:
                await _refuse(send, 405, "the gateway is read-only: GET only", {"allow": "GET, HEAD"})
                return
            if needs_token(scope["path"]) and not self.allows(token_of(scope)):
                await _refuse(send, 401, "a valid read token is required", {"www-authenticate": "Bearer"})
                return
        elif scope["type"] == "websocket" and needs_token(scope["path"]) and not self.allows(token_of(scope)):
            await receive()  # websocket.connect
            await send({"type": "websocket.accept"})
            await send({"type": "websocket.close", "code": WS_UNAUTHORIZED, "reason": "a valid read token is required"})
            return
        await self.app(scope, receive, send)


def _preflight(scope: Scope) -> bool:
    headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
    return any(name == b"access-control-request-method" for name, _ in headers)


def _raw(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(name.encode(), value.encode()) for name, value in headers.items()]


def _secured(send: Send) -> Send:
    """Every response: readable from any origin (graphics pages served from elsewhere, with their token), and
    with the security headers (its own ones win where a response already set them)."""

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", ()))
            present = {name.lower() for name, _ in headers}
            headers += [(name, value) for name, value in SECURITY_HEADERS if name not in present]
            message = {**message, "headers": headers}
        await send(message)

    return sending


async def _refuse(send: Send, status: int, reason: str, headers: dict[str, str]) -> None:
    body = msgspec.json.encode(ApiError(error=reason))
    raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw_headers += _raw(headers)
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})
