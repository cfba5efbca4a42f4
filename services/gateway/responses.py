"""JSON responses encoded by msgspec, and the request parameters every route shares."""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.requests import HTTPConnection
from starlette.responses import Response

from schemas.events import SessionRef
from services.gateway.messages import ApiError


class BadRequest(Exception):
    """A parameter the client got wrong; answered 400 with the message."""


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(msgspec.json.encode(body), status_code=status, media_type="application/json", headers=headers)


def error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return json_response(ApiError(error=message), status, headers)


def session_param(connection: HTTPConnection) -> SessionRef:
    key = connection.path_params["key"]
    try:
        return SessionRef.parse(key)
    except msgspec.ValidationError as err:
        raise BadRequest(f"invalid session key {key!r}: {err}") from err


def int_param(connection: HTTPConnection, name: str) -> int | None:
    text = connection.query_params.get(name)
    if text is None or text == "":
        return None
    if not text.isdigit():
        raise BadRequest(f"{name} must be a non-negative integer, got {text!r}")
    return int(text)
