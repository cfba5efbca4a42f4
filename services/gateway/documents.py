"""Official documents through the gateway: what the documents service stored when results were declared.

- ``/api/sessions/{key}/documents``: the :class:`~schemas.analysis.DocumentsIndex` (404 before any declaration);
- ``/api/sessions/{key}/documents/{name}``: one document, as stored (only the names the index lists).
"""

from __future__ import annotations

from typing import Any

from nats.js.errors import BucketNotFoundError, NotFoundError
from nats.js.object_store import ObjectStore
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from schemas.subjects import DOCUMENTS_BUCKET
from services.broker.objects import ObjectUnreadable
from services.documents.store import stored_document, stored_index
from services.gateway.openapi import KEY
from services.gateway.responses import error, json_response, session_param
from services.gateway.state import gateway_of

REPLACED = "its documents are being published again: retry in a moment"


async def _store(request: Request) -> ObjectStore | None:
    try:
        return await gateway_of(request).js.object_store(DOCUMENTS_BUCKET)
    except (BucketNotFoundError, NotFoundError):  # no documents service has run yet
        return None


async def index(request: Request) -> Response:
    session, store = session_param(request), await _store(request)
    try:
        found = await stored_index(gateway_of(request).js, store, session.key) if store is not None else None
    except ObjectUnreadable:
        return error(503, REPLACED, {"retry-after": "1"})
    if found is None:
        return error(404, f"no documents of {session.key}: its results have not been declared")
    return json_response(found)


async def document(request: Request) -> Response:
    session, name, store = session_param(request), request.path_params["name"], await _store(request)
    js = gateway_of(request).js
    try:
        listed = await stored_index(js, store, session.key) if store is not None else None
        info = next((d for d in listed.documents if d.name == name), None) if listed is not None else None
        data = await stored_document(js, store, session.key, name) if store is not None and info is not None else None
    except ObjectUnreadable:
        return error(503, REPLACED, {"retry-after": "1"})
    if info is None or data is None:
        return error(404, f"no document {name!r} of {session.key}")
    disposition = f'inline; filename="{session.key}.{name}"'
    return Response(data, media_type=info.media_type, headers={"content-disposition": disposition})


ROUTES = [
    Route("/api/sessions/{key}/documents", index),
    Route("/api/sessions/{key}/documents/{name}", document),
]

_NOT_DECLARED = {"description": "results not declared (or no such document)"}
_REPLACED = {"description": REPLACED + " (with Retry-After)"}
OPENAPI: dict[str, Any] = {
    "/api/sessions/{key}/documents": {
        "get": {
            "summary": "The official documents of a session's declared results",
            "parameters": [KEY],
            "responses": {
                "200": {
                    "description": "names, titles, media types, sizes and pages; the declaration they are of",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/DocumentsIndex"}}},
                },
                "404": _NOT_DECLARED,
                "503": _REPLACED,
            },
        }
    },
    "/api/sessions/{key}/documents/{name}": {
        "get": {
            "summary": "One document (PDF, or the chronological analysis CSV)",
            "parameters": [KEY, {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {
                "200": {"description": "the document", "content": {"application/pdf": {}, "text/csv": {}}},
                "404": _NOT_DECLARED,
                "503": _REPLACED,
            },
        }
    },
}
