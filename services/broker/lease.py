"""An exclusive lease in the heartbeat bucket: one holder at a time, taken over when the holder stops renewing.

The holder created the key (``create`` fails while it exists) and renews it every
``HEARTBEAT_S`` with compare-and-set on its own revision; the bucket's TTL removes
a key nobody renews within ``MEMBER_TTL_S``, and a waiting candidate's next
``create`` then succeeds. A holder whose renewal is refused (it stalled past the
TTL and another took the lease) has lost it and is told so at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.errors import KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from services.broker.membership import HEARTBEAT_S, members_bucket

log = logging.getLogger("chequered.lease")


class Lease:
    """``run()`` waits for the lease ``name``, calls ``on_acquired``, holds it, and calls ``on_lost`` if it
    is taken away; then waits for it again. ``release()`` gives it up at once (a clean stop)."""

    def __init__(
        self,
        js: JetStreamContext,
        name: str,
        holder: str,
        on_acquired: Callable[[], Awaitable[None]],
        on_lost: Callable[[], Awaitable[None]],
    ) -> None:
        self.js = js
        self.key = f"{name}.lease"
        self.holder = holder
        self.held = False
        self._on_acquired = on_acquired
        self._on_lost = on_lost
        self._kv: KeyValue | None = None

    async def run(self) -> None:
        self._kv = await members_bucket(self.js)
        while True:
            revision = await self._acquire(self._kv)
            log.info("%s holds %s", self.holder, self.key)
            self.held = True
            await self._on_acquired()
            await self._hold(self._kv, revision)
            self.held = False
            log.warning("%s lost %s to another holder", self.holder, self.key)
            await self._on_lost()

    async def release(self) -> None:
        if self.held and self._kv is not None:
            self.held = False
            with contextlib.suppress(NatsError):
                await self._kv.delete(self.key)

    async def _acquire(self, kv: KeyValue) -> int:
        waiting = False
        while True:
            with contextlib.suppress(NatsError):  # held by another (key exists), or the broker is away
                return await kv.create(self.key, self.holder.encode())
            if not waiting:
                log.info("%s waits for %s", self.holder, self.key)
                waiting = True
            await asyncio.sleep(HEARTBEAT_S)

    async def _hold(self, kv: KeyValue, revision: int) -> None:
        """Renew until a renewal is refused because another holder took the key."""
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            try:
                revision = await kv.update(self.key, self.holder.encode(), last=revision)
            except KeyWrongLastSequenceError:
                return
            except NatsError as error:  # the broker is away: keep trying; the TTL decides
                log.warning("%s could not renew %s: %s", self.holder, self.key, error)
