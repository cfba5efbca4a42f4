"""Where projectors keep snapshots: the ``chequered_snapshots`` object store.

A projection saves ``<projection>.<session key>`` objects for the sessions that
changed, then ``<projection>._index`` with the stream sequence they are all
consistent at. Loading reads the index first: a snapshot is only ever used
together with the sequence it is valid for.
"""

from __future__ import annotations

import msgspec
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError, ObjectNotFoundError

from services.broker.topology import SNAPSHOTS_BUCKET


class SnapshotIndex(msgspec.Struct):
    seq: int
    sessions: list[str]


class SnapshotStore:
    def __init__(self, js: JetStreamContext, projection: str) -> None:
        self.js = js
        self.projection = projection
        self.sessions: set[str] = set()

    def _name(self, key: str) -> str:
        return f"{self.projection}.{key}"

    async def load(self) -> tuple[int, dict[str, bytes]]:
        """(sequence, session key -> snapshot bytes); (0, {}) when there is none."""
        store = await self.js.object_store(SNAPSHOTS_BUCKET)
        try:
            index = msgspec.json.decode((await store.get(self._name("_index"))).data or b"", type=SnapshotIndex)
        except (ObjectNotFoundError, NotFoundError):
            return 0, {}
        snapshots = {}
        for key in index.sessions:
            snapshots[key] = (await store.get(self._name(key))).data or b""
        self.sessions = set(index.sessions)
        return index.seq, snapshots

    async def load_one(self, key: str) -> bytes | None:
        store = await self.js.object_store(SNAPSHOTS_BUCKET)
        try:
            return (await store.get(self._name(key))).data
        except (ObjectNotFoundError, NotFoundError):
            return None

    async def save(self, seq: int, changed: dict[str, bytes]) -> None:
        store = await self.js.object_store(SNAPSHOTS_BUCKET)
        for key, data in sorted(changed.items()):
            await store.put(self._name(key), data)
        self.sessions |= set(changed)
        await store.put(self._name("_index"), msgspec.json.encode(SnapshotIndex(seq, sorted(self.sessions))))
