"""Reading an object of a JetStream object store, safe against the object being replaced while it is read.

nats-py's ``ObjectStore.get`` reads an object's description, then its chunks with an ordered consumer until
the last one arrives. A ``put`` of the same name writes the new chunks, the new description, and then purges
the old chunks: a reader that was between the two waits for chunks that no longer exist, forever, and leaves its
consumer open. It happened to a gateway serving a PDF while the documents service published the final one, and
can happen to a projector loading a snapshot another replica is saving.

:func:`read_object` reads the chunks (:class:`~services.broker.bulkread.StreamTail`) with a bound on how long
they may stop coming, closes its consumer whatever happens, checks the size and digest, and reads the object's new
version when the old one went away under it.
"""

from __future__ import annotations

import base64
import hashlib

from nats.js import JetStreamContext
from nats.js.api import ObjectInfo
from nats.js.errors import NotFoundError, ObjectNotFoundError
from nats.js.object_store import ObjectStore

from services.broker.bulkread import StreamTail

ATTEMPTS = 5
"""Versions read before giving up: each one is replaced only after the next is whole, so the second nearly always
reads."""
QUIET_S = 5.0
"""How long the chunks of a version that is still the object's may stop coming before it is read again (a bound on
progress, not on the whole read: a large object on a loaded machine takes what it takes)."""
IDLE_S = 0.25
"""A pause in the chunks this long: look whether the version is still the object's (else its chunks are gone)."""


class ObjectUnreadable(RuntimeError):
    """The object was replaced every time it was read (or its chunks stopped coming)."""


async def read_object(js: JetStreamContext, store: ObjectStore, name: str) -> bytes | None:
    """The object ``name`` of ``store`` as it is now; None when there is none. Raises :class:`ObjectUnreadable`
    when no version of it could be read whole in :data:`ATTEMPTS` tries."""
    for _ in range(ATTEMPTS):
        try:
            info = await store.get_info(name)
        except (ObjectNotFoundError, NotFoundError):
            return None
        if not info.size:
            return b""
        if (data := await _chunks(js, store, info)) is not None:
            return data
    raise ObjectUnreadable(f"{info.bucket}/{name} could not be read whole in {ATTEMPTS} tries; it is being replaced")


async def _chunks(js: JetStreamContext, store: ObjectStore, info: ObjectInfo) -> bytes | None:
    """The version ``info`` describes, or None when its chunks are gone, stopped coming, or are not whole."""
    data = bytearray()
    async with StreamTail(js, [f"$O.{info.bucket}.C.{info.nuid}"], stream=f"OBJ_{info.bucket}") as tail:
        quiet = 0.0
        while tail.backlog_at_open:
            batch = await tail.next_batch(timeout=IDLE_S)
            if not batch:
                quiet += IDLE_S
                if quiet >= QUIET_S or not await _current(store, info):
                    return None
                continue
            quiet = 0.0
            for stored in batch:
                data += stored.data
            if batch[-1].pending == 0:
                break
    described = (info.digest or "").partition("=")[2]  # "SHA-256=<url-safe base64>", as nats-py writes it
    if len(data) != info.size or base64.urlsafe_b64decode(described or "") != hashlib.sha256(data).digest():
        return None
    return bytes(data)


async def _current(store: ObjectStore, info: ObjectInfo) -> bool:
    """Whether the version ``info`` describes is still the object's."""
    try:
        return (await store.get_info(info.name)).nuid == info.nuid
    except (ObjectNotFoundError, NotFoundError):
        return False
