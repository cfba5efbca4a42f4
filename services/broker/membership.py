"""Projector replicas announce themselves in a KV bucket whose entries expire.

Each replica puts ``<projection>.<replica>`` every ``HEARTBEAT_S``; the bucket's
TTL removes the key of a replica that stopped (or was killed) within
``MEMBER_TTL_S``. Every replica watches the bucket, so all of them see the same
members and, with :func:`services.broker.partition.owner`, the same owners.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import BucketNotFoundError
from nats.js.kv import KeyValue

from services.tasks import cancel

log = logging.getLogger("chequered.membership")

MEMBERS_BUCKET = "chequered_members"
HEARTBEAT_S = 0.5
MEMBER_TTL_S = 2.0


async def members_bucket(js: JetStreamContext) -> KeyValue:
    """The bucket of heartbeats: an entry not renewed within ``MEMBER_TTL_S`` expires."""
    try:
        return await js.key_value(MEMBERS_BUCKET)
    except BucketNotFoundError:
        return await js.create_key_value(
            KeyValueConfig(bucket=MEMBERS_BUCKET, history=1, ttl=MEMBER_TTL_S, storage=StorageType.MEMORY)
        )


class Membership:
    def __init__(self, js: JetStreamContext, projection: str, replica: str, on_change: Callable[[], None]) -> None:
        self.js = js
        self.prefix = f"{projection}."
        self.replica = replica
        self.members: frozenset[str] = frozenset({replica})
        self._on_change = on_change
        self._kv: KeyValue | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._kv = await members_bucket(self.js)
        await self._beat()
        await self._refresh()
        self._tasks = [asyncio.create_task(self._heartbeat()), asyncio.create_task(self._watch())]

    @property
    def running(self) -> bool:
        """Still beating and watching: a replica that stopped would own sessions nobody writes."""
        return bool(self._tasks) and not any(task.done() for task in self._tasks)

    async def stop(self) -> None:
        await cancel(*self._tasks)
        if self._kv is not None:
            with contextlib.suppress(NatsError):
                await self._kv.delete(self.prefix + self.replica)  # leave at once, not after the TTL

    async def _beat(self) -> None:
        assert self._kv is not None
        await self._kv.put(self.prefix + self.replica, b"alive")

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            try:
                await self._beat()
            except NatsError as error:
                log.warning("heartbeat of %s failed: %s", self.replica, error)

    async def _refresh(self) -> None:
        assert self._kv is not None
        try:
            keys = await self._kv.keys()
        except NatsError:  # an empty bucket answers "no keys found"
            keys = []
        members = frozenset(k.removeprefix(self.prefix) for k in keys if k.startswith(self.prefix)) | {self.replica}
        if members != self.members:
            log.info("members of %s: %s", self.prefix.rstrip("."), ", ".join(sorted(members)))
            self.members = members
            self._on_change()

    async def _watch(self) -> None:
        # expiries do not always reach a watcher as deletes: look at the member list every heartbeat
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            try:
                await self._refresh()
            except NatsError as error:
                log.warning("member list of %s unreadable: %s", self.replica, error)
