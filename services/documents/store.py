"""Where the documents service keeps a session's documents: the ``chequered_documents`` object store."""

from __future__ import annotations

import msgspec
from nats.js import JetStreamContext
from nats.js.object_store import ObjectStore

from schemas.analysis import DocumentsIndex
from services.broker.objects import read_object

INDEX = "index.json"
"""A session's :class:`~schemas.analysis.DocumentsIndex`, written after its documents."""


def object_name(session_key: str, name: str) -> str:
    return f"{session_key}/{name}"


async def stored_index(js: JetStreamContext, store: ObjectStore, session_key: str) -> DocumentsIndex | None:
    data = await stored_document(js, store, session_key, INDEX)
    return None if data is None else msgspec.json.decode(data, type=DocumentsIndex)


async def stored_document(js: JetStreamContext, store: ObjectStore, session_key: str, name: str) -> bytes | None:
    """A session's document as stored now (None: none); :class:`~services.broker.objects.ObjectUnreadable` when
    it is being replaced too often to be read."""
    return await read_object(js, store, object_name(session_key, name))
