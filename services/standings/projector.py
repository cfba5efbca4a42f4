"""The standings projector: the log, in order, through the classification fold and the points engine, into KV.

It reads every event (one ordered consumer), folds timing sessions with the
same :class:`~services.classification.fold.ClassificationProjection` the
classification projector uses, and keeps one :class:`~services.standings.live.Season`
per configured championship. After each batch, for every round it touched:

- a round still running is followed with :class:`~services.standings.live.LiveRound`:
  ``<championship>.live`` in ``chequered_standings`` is "as it stands", updated on every lap;
- a round whose scoring races have declared results (or a correction to one) is
  put into the season and ``<championship>`` gets the full standings, every row
  explained.

It also folds every championship's calendar (``services.calendar.fold``) and
writes it to ``<championship>.calendar`` when it changes: the schedule, its
changes, and what each scheduled session's timing events say; its ``/metrics``
count the scheduled sessions live now with no data or a stalled feed
(``chequered_calendar_feeds_missing``).

A championship's ``championship_configured`` event (the TOML text) builds its
rulebook and rescores every round, so a replay always scores with the
configuration that was in force; ``points_adjusted`` and ``decision_withdrawn``
in its own session change the decisions in force. Like the classification
projector it refolds from the log when it starts (the same log gives the same
bytes), and it never stops on a bad event, configuration or scoring failure:
any exception from the pure engine is a dead letter in ``chequered.dlq.standings``
with the reason, and the projector goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from nats.js.kv import KeyValue

from schemas.calendar import encode_calendar
from schemas.events import (
    CALENDAR_BODIES,
    ChampionshipConfigured,
    DecisionWithdrawn,
    EntryRegistered,
    Event,
    PointsAdjusted,
    decode_event,
)
from schemas.results import Classification, SessionPhase
from schemas.standings import LiveStandings, RoundState, encode_standings
from services.broker.follower import LogFollower
from services.broker.reader import StoredMsg
from services.broker.topology import STANDINGS_BUCKET, Topology
from services.calendar.fold import CalendarFold, calendar_key
from services.calendar.views import alerts
from services.classification.fold import ClassificationProjection
from services.observability import FEEDS_MISSING
from services.standings.config import decode_config
from services.standings.live import LiveRound, Season
from services.standings.rounds import RoundPoints, round_state, score_round
from services.standings.rulebook import Rulebook
from services.standings.timeline import classifications_at

log = logging.getLogger("chequered.standings")

PROJECTION = "standings"


@dataclass
class Championship:
    """What the projector holds for one championship."""

    season: Season | None = None
    events: dict[str, list[tuple[int, Event]]] = field(default_factory=dict)
    """Round (event slug) -> its events, for the classifications at intermediate instants."""
    crews: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    """Round -> car number -> its drivers, as last registered: ``crews_of`` the round's events, kept as they come.
    A registration replaces the round's mapping (never changes it in place): a live round compares the crews it
    scored with against the next ones."""
    live: dict[str, LiveRound] = field(default_factory=dict)
    intermediates: dict[str, dict[int, Classification]] = field(default_factory=dict)
    """Session key -> instant -> the classification as it stood then (computed once the race passes it)."""

    def add(self, seq: int, event: Event) -> None:
        """An event of one of the championship's rounds, folded."""
        round_slug = event.session.event
        self.events.setdefault(round_slug, []).append((seq, event))
        if isinstance(event.body, EntryRegistered):
            crew = [driver.name for driver in event.body.crew]
            self.crews[round_slug] = {**self.crews.get(round_slug, {}), event.body.number: crew}


def live_key(championship: str) -> str:
    return f"{championship}.live"


class StandingsProjector(LogFollower):
    projection_name = PROJECTION

    def __init__(self, nats_url: str, topology: Topology | None = None) -> None:
        super().__init__(nats_url, topology)
        self.classification = ClassificationProjection()
        self.championships: dict[str, Championship] = {}
        self.calendars = CalendarFold()
        FEEDS_MISSING.set_function(self.missing_feeds)  # counted when /metrics is read, with the wall clock
        self.folded = 0
        """The stream sequence of the last event folded, its batch's writes done."""
        self._kv: KeyValue | None = None
        self._task: asyncio.Task[None] | None = None

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
        touched: dict[tuple[str, str], StoredMsg] = {}
        """(championship, round) -> the last event of the batch that touched it."""
        rescore: dict[str, StoredMsg] = {}
        calendars: set[str] = set()
        for stored in batch:
            try:
                event = decode_event(stored.data)
            except ValueError:
                continue  # the classification projector dead-letters it with the reason
            if (changed := await self._calendar(stored, event)) is not None:
                calendars.add(changed)
            if isinstance(event.body, CALENDAR_BODIES):
                continue
            championship = self.championships.setdefault(event.session.championship, Championship())
            if event.session.is_championship:
                if await self._decide(stored, event, championship):
                    rescore[event.session.championship] = stored
                continue
            if self.classification.apply(stored.seq, event) is None:
                championship.add(stored.seq, event)
                touched[(event.session.championship, event.session.event)] = stored
        for name, stored in sorted(rescore.items()):
            await self._scoring(stored, name, self._rescore(name))
        for (name, round_slug), stored in sorted(touched.items()):
            if name not in rescore:
                await self._scoring(stored, f"{name} round {round_slug}", self._update_round(name, round_slug))
        for name in sorted(calendars):
            await self._put(calendar_key(name), encode_calendar(self.calendars.read_model(name)))
        self.folded = batch[-1].seq

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
        """Score (and write) one championship or round; if the points engine fails on it, the failure is a dead
        letter naming the event that led to it, and the other championships and rounds go on."""
        try:
            await scoring
        except Exception as error:
            await self.dead_letter(stored.seq, stored.subject, f"scoring {what} failed: {error!r}", stored.data)

    async def _decide(self, stored: StoredMsg, event: Event, championship: Championship) -> bool:
        """A configuration or a points decision; True when the championship must be rescored. One the engine
        cannot apply, for whatever reason, is dead-lettered."""
        body = event.body
        try:
            if isinstance(body, ChampionshipConfigured):
                championship.season = Season(Rulebook(decode_config(body.toml, body.source or event.id)))
                championship.live.clear()
                return True
            if championship.season is None:
                raise ValueError("no points configuration yet: publish championship_configured first")
            if isinstance(body, PointsAdjusted):
                championship.season.adjust(body)
                return True
            if isinstance(body, DecisionWithdrawn):
                return championship.season.withdraw(body.decision)
        except Exception as error:
            reason = f"{type(body).__name__} of {event.session.championship} not applied: {error}"
            await self.dead_letter(stored.seq, stored.subject, reason, stored.data)
        return False

    def _round_sessions(self, name: str, round_slug: str) -> dict[str, Classification]:
        prefix = f"{name}.{round_slug}."
        return {
            state.session.session: state.classification()
            for key, state in self.classification.sessions.items()
            if key.startswith(prefix) and state.opened is not None
        }

    def _intermediates(
        self, championship: Championship, season: Season, round_slug: str, sessions: dict[str, Classification]
    ) -> dict[str, dict[int, Classification]]:
        rules = season.book.round(round_slug)
        out: dict[str, dict[int, Classification]] = {}
        for slug, classification in sessions.items():
            rule = rules.rule_for(slug, classification.kind)
            if rule is None or not rule.intermediates or classification.started_at is None:
                continue
            key = classification.session.key
            held = championship.intermediates.setdefault(key, {})
            due = [
                i.at_ms
                for i in rule.intermediates
                if i.at_ms not in held and classification.as_of >= classification.started_at + i.at_ms
            ]
            if due:
                held.update(classifications_at(championship.events[round_slug], classification.session, due))
            out[slug] = held
        return out

    def _score(self, name: str, round_slug: str) -> LiveStandings | RoundPoints | None:
        """Score a round into its championship's season: a running round's live standings (its ``LiveRound``
        rescores only the classes whose scoring facts changed), the points of a round declared (put into the
        season; its live standings are ``season.live`` of them), None when there is nothing to write."""
        championship = self.championships[name]
        season = championship.season
        if season is None or round_slug not in season.book.rounds:
            return None
        sessions = self._round_sessions(name, round_slug)
        crews = championship.crews.get(round_slug, {})
        intermediates = self._intermediates(championship, season, round_slug, sessions)
        if round_state(season.book.round(round_slug), sessions) is RoundState.RUNNING:
            # a session opened with its entries but none started yet scores nothing: its "order" is the entry list
            if all(c.phase is SessionPhase.SCHEDULED for c in sessions.values()):
                return None
            round_live = championship.live.setdefault(round_slug, LiveRound(season, round_slug))
            return round_live.update(sessions, crews, intermediates)
        championship.live.pop(round_slug, None)
        points = score_round(season.book, round_slug, sessions, crews, intermediates)
        season.put(points)
        return points

    async def _update_round(self, name: str, round_slug: str) -> None:
        scored = self._score(name, round_slug)
        if isinstance(scored, RoundPoints):
            season = self.championships[name].season
            assert season is not None
            await self._put(name, encode_standings(season.standings()))
            scored = season.live(scored)
        if scored is not None:
            await self._put(live_key(name), encode_standings(scored))

    async def _rescore(self, name: str) -> None:
        """Every round put into the season first, then the standings and the live standings written once: the
        values the rounds written one by one would leave (the last round scored gives the live standings; no
        round after it changed the season)."""
        season = self.championships[name].season
        if season is None:
            return
        last: LiveStandings | RoundPoints | None = None
        for round_slug in sorted(self.championships[name].events):
            scored = self._score(name, round_slug)
            if scored is not None:
                last = scored
        await self._put(name, encode_standings(season.standings()))
        if isinstance(last, RoundPoints):
            last = season.live(last)
        if last is not None:
            await self._put(live_key(name), encode_standings(last))

    async def _put(self, key: str, value: bytes) -> None:
        kv = self._kv
        assert kv is not None

        async def write() -> None:
            await kv.put(key, value)

        await self.persist(STANDINGS_BUCKET, key, self.classification.last_seq, value, write)
