"""Where the documents service keeps a session's documents: the ``chequered_documents`` object store."""

from __future__ import annotations

import msgspec
from nats.js.errors import NotFoundError, ObjectNotFoundError
from nats.js.object_store import ObjectStore

from schemas.analysis import DocumentsIndex

INDEX = "index.json"
"""A session's :class:`~schemas.analysis.DocumentsIndex`, written after its documents."""


def object_name(session_key: str, name: str) -> str:
    return f"{session_key}/{name}"


async def stored_index(store: ObjectStore, session_key: str) -> DocumentsIndex | None:
    try:
        found = await store.get(object_name(session_key, INDEX))
    except (ObjectNotFoundError, NotFoundError):
        return None
    return msgspec.json.decode(found.data or b"", type=DocumentsIndex)


async def stored_document(store: ObjectStore, session_key: str, name: str) -> bytes | None:
    try:
        found = await store.get(object_name(session_key, name))
    except (ObjectNotFoundError, NotFoundError):
        return None
    return found.data
