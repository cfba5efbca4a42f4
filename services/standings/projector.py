"""The standings projector: the log, in order, through one :class:`~services.standings.fold.ChampionshipFold` per
championship, into KV.

It reads every event (one ordered consumer) and applies it to its championship's fold; after each batch it
settles every fold the batch touched and writes what the fold reports as changed:

- ``<championship>.live`` in ``chequered_standings``: "as it stands", updated on every lap of a running round;
- ``<championship>``: the full standings, every row explained, when a round's results are declared (or a
  correction to one, a configuration or a points decision changed them).

It also folds every championship's calendar (``services.calendar.fold``; the championship fold takes the
season's rounds from it too) and writes it to ``<championship>.calendar`` when it changes: the schedule, its
changes, and what each scheduled session's timing events say; its ``/metrics``
count the scheduled sessions live now with no data or a stalled feed
(``chequered_calendar_feeds_missing``).

A championship's ``championship_configured`` event (the TOML text) builds its rulebook and rescores every round,
so a replay always scores with the configuration that was in force; ``points_adjusted`` and
``decision_withdrawn`` in its own session change the decisions in force. Like the classification projector it
refolds from the log when it starts (the same log gives the same bytes), and it never stops on a bad event,
configuration or scoring failure: a decision or configuration the fold refuses, and any exception from the pure
engine, is a dead letter in ``chequered.dlq.standings`` with the reason, and the projector goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine
from typing import Any

from nats.js.kv import KeyValue

from schemas.calendar import encode_calendar
from schemas.events import CALENDAR_BODIES, Event
from schemas.standings import encode_standings
from schemas.subjects import STANDINGS_BUCKET, STANDINGS_PROJECTION, calendar_key, live_key
from services.broker.bulkread import StoredMsg
from services.broker.follower import LogFollower
from services.broker.reader import decoded
from services.broker.topology import Topology
from services.calendar.fold import CalendarFold
from services.calendar.views import alerts
from services.observability import FEEDS_MISSING
from services.standings.fold import ChampionshipFold

log = logging.getLogger("chequered.standings")


class StandingsProjector(LogFollower):
    projection_name = STANDINGS_PROJECTION
    role = "standings"

    def __init__(self, nats_url: str, topology: Topology | None = None) -> None:
        super().__init__(nats_url, topology)
        self.championships: dict[str, ChampionshipFold] = {}
        self.calendars = CalendarFold()
        FEEDS_MISSING.set_function(self.missing_feeds)  # counted when /metrics is read, with the wall clock
        self.folded = 0
        """The stream sequence of the last event folded, its batch's writes done."""
        self._kv: KeyValue | None = None
        self._task: asyncio.Task[None] | None = None

    def flushed(self) -> str:
        return f"standings folded and written to seq {self.folded:,}"

    async def start(self) -> None:
        await self.connect()
        self._kv = await self.js.key_value(STANDINGS_BUCKET)
        await self.broker.start()
        self._task = self.spawn(self.follow(), "standings-projector")

    async def stop(self) -> None:
        if self._task is None:
            return
        self.stopping.set()
        with contextlib.suppress(Exception):  # one that died has said why
            await self._task
        self._task = None
        await self.disconnect()

    async def fold_batch(self, batch: list[StoredMsg]) -> None:
        touched: dict[str, StoredMsg] = {}
        """Championship -> the last event of the batch that touched it."""
        calendars: set[str] = set()
        for stored, event in decoded(batch):
            if (changed := await self._calendar(stored, event)) is not None:
                calendars.add(changed)
            name = event.session.championship
            fold = self.championships.get(name)
            if fold is None:
                fold = self.championships[name] = ChampionshipFold(name)
            try:
                refused = fold.apply(stored.seq, event)
            except Exception as error:
                await self.dead_letter(
                    stored.seq, stored.subject, f"folding into {name} failed: {error!r}", stored.data
                )
                continue
            # a timing event it refuses is the classification's dead letter, a calendar event the calendar's
            if refused is not None and event.session.is_championship and not isinstance(event.body, CALENDAR_BODIES):
                await self.dead_letter(stored.seq, stored.subject, f"{name}: {refused.reason}", stored.data)
            touched[name] = stored
        seq = batch[-1].seq
        for name, stored in sorted(touched.items()):
            await self._scoring(stored, name, self._settle(name, seq))
        for name in sorted(calendars):
            await self._put(calendar_key(name), seq, encode_calendar(self.calendars.read_model(name)))
        self.folded = seq

    def missing_feeds(self) -> int:
        """Scheduled sessions live now with no data yet or a stalled race feed, in every calendar."""
        now = int(time.time() * 1000)
        return sum(len(alerts(self.calendars.read_model(name), now)) for name in list(self.calendars.schedules))

    async def _calendar(self, stored: StoredMsg, event: Event) -> str | None:
        """Fold an event into the calendars; the championship whose calendar changed. A calendar event that cannot
        apply (ingest refuses those, so it came another way) is a dead letter, skipped as ingest's ledger skips it."""
        try:
            return self.calendars.apply(event)
        except Exception as error:
            reason = f"calendar of {event.session.championship}: {type(event.body).__name__} not applied: {error}"
            await self.dead_letter(stored.seq, stored.subject, reason, stored.data)
            return None

    async def _scoring(self, stored: StoredMsg, what: str, scoring: Coroutine[Any, Any, None]) -> None:
        """Score (and write) one championship; if the points engine fails on it, the failure is a dead letter
        naming the event that led to it, and the other championships go on."""
        try:
            await scoring
        except Exception as error:
            await self.dead_letter(stored.seq, stored.subject, f"scoring {what} failed: {error!r}", stored.data)

    async def _settle(self, name: str, seq: int) -> None:
        settled = self.championships[name].settle()
        if settled.standings is not None:
            await self._put(name, seq, encode_standings(settled.standings))
        if settled.live is not None:
            await self._put(live_key(name), seq, encode_standings(settled.live))

    async def _put(self, key: str, seq: int, value: bytes) -> None:
        kv = self._kv
        assert kv is not None

        async def write() -> None:
            await kv.put(key, value)

        await self.persist(STANDINGS_BUCKET, key, seq, value, write)
