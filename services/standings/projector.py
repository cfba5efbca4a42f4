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

A championship's ``championship_configured`` event (the TOML text) builds its
rulebook and rescores every round, so a replay always scores with the
configuration that was in force; ``points_adjusted`` and ``decision_withdrawn``
in its own session change the decisions in force. Like the classification
projector it refolds from the log when it starts (the same log gives the same
bytes), and it never stops on a bad event or configuration: it logs the reason
and goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from nats.errors import Error as NatsError
from nats.js.kv import KeyValue

from schemas.events import ChampionshipConfigured, DecisionWithdrawn, Event, PointsAdjusted, decode_event
from schemas.results import Classification, SessionPhase
from schemas.standings import RoundState, encode_standings
from services.broker.follower import LogFollower
from services.broker.reader import StoredMsg
from services.broker.topology import STANDINGS_BUCKET, Topology
from services.classification.fold import ClassificationProjection
from services.standings.config import ConfigError, decode_config
from services.standings.live import LiveRound, Season
from services.standings.rounds import score_round
from services.standings.rulebook import Rulebook
from services.standings.timeline import classifications_at, crews_of

log = logging.getLogger("chequered.standings")

PROJECTION = "standings"


@dataclass
class Championship:
    """What the projector holds for one championship."""

    season: Season | None = None
    events: dict[str, list[tuple[int, Event]]] = field(default_factory=dict)
    """Round (event slug) -> its events, for crews and the classifications at intermediate instants."""
    live: dict[str, LiveRound] = field(default_factory=dict)
    intermediates: dict[str, dict[int, Classification]] = field(default_factory=dict)
    """Session key -> instant -> the classification as it stood then (computed once the race passes it)."""


def live_key(championship: str) -> str:
    return f"{championship}.live"


class StandingsProjector(LogFollower):
    projection_name = PROJECTION

    def __init__(self, nats_url: str, topology: Topology | None = None) -> None:
        super().__init__(nats_url, topology)
        self.classification = ClassificationProjection()
        self.championships: dict[str, Championship] = {}
        self.errors = 0
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
        touched: set[tuple[str, str]] = set()
        rescore: set[str] = set()
        for stored in batch:
            try:
                event = decode_event(stored.data)
            except ValueError:
                continue  # the classification projector dead-letters it with the reason
            championship = self.championships.setdefault(event.session.championship, Championship())
            if event.session.is_championship:
                if self._decide(event, championship):
                    rescore.add(event.session.championship)
                continue
            if self.classification.apply(stored.seq, event) is None:
                championship.events.setdefault(event.session.event, []).append((stored.seq, event))
                touched.add((event.session.championship, event.session.event))
        for name in sorted(rescore):
            await self._rescore(name)
        for name, round_slug in sorted(touched):
            if name not in rescore:
                await self._update_round(name, round_slug)

    def _decide(self, event: Event, championship: Championship) -> bool:
        """A configuration or a points decision; True when the championship must be rescored."""
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
        except (ConfigError, ValueError) as error:
            self.errors += 1
            log.error("%s of %s not applied: %s", type(body).__name__, event.session.championship, error)
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

    async def _update_round(self, name: str, round_slug: str) -> None:
        championship = self.championships[name]
        season = championship.season
        if season is None or round_slug not in season.book.rounds:
            return
        sessions = self._round_sessions(name, round_slug)
        crews = crews_of(championship.events.get(round_slug, []))
        intermediates = self._intermediates(championship, season, round_slug, sessions)
        points = score_round(season.book, round_slug, sessions, crews, intermediates)
        if points.state is RoundState.RUNNING:
            # a session opened with its entries but none started yet scores nothing: its "order" is the entry list
            if any(c.phase is not SessionPhase.SCHEDULED for c in sessions.values()):
                round_live = championship.live.setdefault(round_slug, LiveRound(season, round_slug))
                await self._put(live_key(name), encode_standings(round_live.update(sessions, crews, intermediates)))
            return
        championship.live.pop(round_slug, None)
        season.put(points)
        await self._put(name, encode_standings(season.standings()))
        await self._put(live_key(name), encode_standings(season.live(points)))

    async def _rescore(self, name: str) -> None:
        season = self.championships[name].season
        if season is None:
            return
        for round_slug in sorted(self.championships[name].events):
            await self._update_round(name, round_slug)
        await self._put(name, encode_standings(season.standings()))

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
