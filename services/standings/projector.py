"""The standings projector: the log, in order, through one :class:`~services.standings.fold.ChampionshipFold` per
championship, into KV.

It reads every event (one ordered consumer) and applies it to its championship's fold; after each batch it
settles every fold the batch touched and writes what the fold reports as changed:

- ``<championship>.live`` in ``chequered_standings``: "as it stands", updated on every lap of a running round;
- ``<championship>``: the full standings, every row explained, when a round's results are declared (or a
  correction to one, a configuration or a points decision changed them).

A championship's ``championship_configured`` event (the TOML text) builds its rulebook and rescores every round,
so a replay always scores with the configuration that was in force; ``points_adjusted`` and
``decision_withdrawn`` in its own session change the decisions in force. Like the classification projector it
refolds from the log when it starts (the same log gives the same bytes), and it never stops on a bad event or
configuration: it logs the reason and goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from nats.errors import Error as NatsError
from nats.js.kv import KeyValue

from schemas.events import decode_event
from schemas.standings import encode_standings
from services.broker.follower import LogFollower
from services.broker.reader import StoredMsg
from services.broker.topology import STANDINGS_BUCKET, Topology
from services.standings.fold import ChampionshipFold

log = logging.getLogger("chequered.standings")

PROJECTION = "standings"


def live_key(championship: str) -> str:
    return f"{championship}.live"


class StandingsProjector(LogFollower):
    projection_name = PROJECTION

    def __init__(self, nats_url: str, topology: Topology | None = None) -> None:
        super().__init__(nats_url, topology)
        self.championships: dict[str, ChampionshipFold] = {}
        self.errors = 0
        self.folded = 0
        """The stream sequence of the last event folded, its batch's writes done."""
        self._kv: KeyValue | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.connect()
        self._kv = await self.js.key_value(STANDINGS_BUCKET)
        await self.broker.start()
        self._task = asyncio.create_task(self.follow(), name="standings-projector")

    async def stop(self) -> None:
        if self._task is None:
            return
        self.stopping.set()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        await self.disconnect()

    async def fold_batch(self, batch: list[StoredMsg]) -> None:
        touched: set[str] = set()
        for stored in batch:
            try:
                event = decode_event(stored.data)
            except ValueError:
                continue  # the classification projector dead-letters it with the reason
            name = event.session.championship
            fold = self.championships.get(name)
            if fold is None:
                fold = self.championships[name] = ChampionshipFold(name)
            refused = fold.apply(stored.seq, event)
            if refused is not None and event.session.is_championship:
                self.errors += 1
                log.error("%s: %s", event.session.championship, refused.reason)
            touched.add(name)  # a timing event the fold refused is the classification projector's dead letter
        for name in sorted(touched):
            settled = self.championships[name].settle()
            if settled.standings is not None:
                await self._put(name, encode_standings(settled.standings))
            if settled.live is not None:
                await self._put(live_key(name), encode_standings(settled.live))
        self.folded = batch[-1].seq

    async def _put(self, key: str, value: bytes) -> None:
        assert self._kv is not None
        delay = 0.05
        while True:
            try:
                await self._kv.put(key, value)
                return
            except NatsError as error:  # the broker is restarting: keep the value, try again
                log.warning("KV write of %s failed (%s); retrying", key, error)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
