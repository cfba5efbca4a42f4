"""What every projector shell shares: the whole log, in order, batch by batch, measured.

A subclass names its ``projection_name`` and folds a batch in ``fold_batch``;
:meth:`LogFollower.follow` reads the stream with the ordered consumer from
``start_seq`` and stops between batches when asked, so a batch's writes (and
snapshot) are never cut in half by a clean stop.
"""

from __future__ import annotations

import asyncio

from schemas.subjects import EVENTS_PREFIX
from services.broker.reader import StoredMsg, StreamTail
from services.broker.shell import NatsShell
from services.broker.topology import Topology
from services.observability import BATCH_SECONDS, EVENTS_APPLIED, LAG

STOP_POLL_S = 0.2
"""How often an idle projector looks up from the log to see whether it is asked to stop."""


class LogFollower(NatsShell):
    projection_name = "projection"

    def __init__(self, nats_url: str, topology: Topology | None = None) -> None:
        super().__init__(nats_url, topology)
        self.caught_up = asyncio.Event()
        """Set once the projector has folded the log as it was when it started."""
        self.stopping = asyncio.Event()

    @property
    def ready(self) -> bool:
        return self.caught_up.is_set()

    async def follow(self, start_seq: int = 1) -> None:
        async with StreamTail(self.js, f"{EVENTS_PREFIX}.>", start_seq=start_seq) as tail:
            if not tail.backlog_at_open:
                self.caught_up.set()
            while not self.stopping.is_set():
                batch = await tail.next_batch(timeout=STOP_POLL_S)
                if not batch:
                    continue
                await self.apply_batch(batch)
                if batch[-1].pending == 0:
                    self.caught_up.set()

    async def apply_batch(self, batch: list[StoredMsg]) -> None:
        with BATCH_SECONDS.labels(self.projection_name).time():
            await self.fold_batch(batch)
        EVENTS_APPLIED.labels(self.projection_name).inc(len(batch))
        LAG.labels(self.projection_name).set(batch[-1].pending)

    async def fold_batch(self, batch: list[StoredMsg]) -> None:
        raise NotImplementedError
