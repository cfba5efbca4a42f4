"""Where projectors keep snapshots: the ``chequered_snapshots`` object store.

A projection saves ``<projection>.<session key>`` objects for the sessions that
changed, then ``<projection>._index`` with the stream sequence they are all
consistent at. Loading reads the index first: a snapshot is only ever used
together with the sequence it is valid for. Sessions the index names as evicted
(final and quiet) are not loaded: a late event brings one back with
:meth:`SnapshotStore.load_one`.
"""

from __future__ import annotations

import msgspec
from nats.js import JetStreamContext

from schemas.subjects import SNAPSHOTS_BUCKET
from services.broker.objects import read_object


class SnapshotIndex(msgspec.Struct):
    seq: int
    sessions: list[str]
    evicted: list[str] = []
    """Of ``sessions``, those kept out of memory until an event for them arrives."""
    partitions: list[int] | None = None
    """The log's partitions whose sessions the snapshot holds, all of them (a replica's: its own); None: every one."""


class SnapshotStore:
    def __init__(self, js: JetStreamContext, projection: str) -> None:
        self.js = js
        self.projection = projection
        self.sessions: set[str] = set()
        self.evicted: set[str] = set()
        self.partitions: frozenset[int] | None = None

    def _name(self, key: str) -> str:
        return f"{self.projection}.{key}"

    async def load(self) -> tuple[int, dict[str, bytes]]:
        """(sequence, session key -> snapshot bytes) of the sessions not evicted; (0, {}) when there is none."""
        store = await self.js.object_store(SNAPSHOTS_BUCKET)
        data = await read_object(self.js, store, self._name("_index"))
        if data is None:
            return 0, {}
        index = msgspec.json.decode(data, type=SnapshotIndex)
        self.sessions, self.evicted = set(index.sessions), set(index.evicted)
        self.partitions = frozenset(index.partitions) if index.partitions is not None else None
        snapshots = {}
        for key in sorted(self.sessions - self.evicted):
            snapshots[key] = await read_object(self.js, store, self._name(key)) or b""
        return index.seq, snapshots

    async def load_one(self, key: str) -> bytes | None:
        return await read_object(self.js, await self.js.object_store(SNAPSHOTS_BUCKET), self._name(key))

    def forget(self, keys: set[str]) -> None:
        """Sessions the next index no longer names (their partition went to another replica)."""
        self.sessions -= keys
        self.evicted -= keys

    async def save(
        self,
        seq: int,
        changed: dict[str, bytes],
        evicting: set[str] | None = None,
        partitions: frozenset[int] | None = None,
    ) -> None:
        """The ``changed`` sessions' snapshots, then the index at ``seq``: every other session's snapshot must
        already be valid at ``seq``. ``evicting``: sessions (saved now) that leave memory; ``partitions``: those
        whose sessions all of it holds (None: every one)."""
        store = await self.js.object_store(SNAPSHOTS_BUCKET)
        for key, data in sorted(changed.items()):
            await store.put(self._name(key), data)
        sessions = self.sessions | set(changed)
        evicted = (self.evicted - set(changed)) | (evicting or set())
        index = SnapshotIndex(
            seq, sorted(sessions), sorted(evicted), sorted(partitions) if partitions is not None else None
        )
        await store.put(self._name("_index"), msgspec.json.encode(index))
        self.sessions, self.evicted, self.partitions = sessions, evicted, partitions
