"""A championship config compiled for scoring: resolved once, read on every lap.

The rounds are the season calendar's when there is one (``calendar_published``: a round whose every session is
cancelled is no round), each with the config's rules for it if it names it and its sessions' points roles; else
the config's own ``rounds``. So one rulebook file serves every season of an era, and a cancelled round needs no
rewrite of the rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction

from schemas.events import CalendarPublished, PointsRole, ScheduledSession, SessionKind
from schemas.standings import (
    AdjustmentKind,
    Bonus,
    ChampionshipConfig,
    PointsAdjustment,
    Round,
    TableKind,
    TeamStandings,
    TieBreak,
)
from services.standings.drops import SeasonPart, season_parts
from services.standings.scales import Band, SessionRule, compile_band, compile_rule, rule_for
from services.standings.units import exact

TableKey = tuple[TableKind, str | None]
"""A standings table: its kind and class (None: overall)."""

_KIND_LABELS = {TableKind.DRIVERS: "Drivers", TableKind.TEAMS: "Teams", TableKind.MANUFACTURERS: "Manufacturers"}


@dataclass(frozen=True, slots=True, eq=False)
class RoundRules:
    """A round's rules, compiled; compared and hashed by identity (one per round of a rulebook)."""

    index: int
    event: str
    name: str
    rules: tuple[SessionRule, ...]
    multiplier: Fraction
    bonus: Bonus
    pole: Fraction
    fastest_lap: Fraction
    beyond: Fraction
    """Bonus points."""
    min_drive_ms: int
    scheduled: Mapping[str, ScheduledSession] = field(default_factory=dict)
    """The calendar's sessions of the round, by slug (none without a calendar)."""

    def rule_for(self, session: str, kind: SessionKind) -> SessionRule | None:
        """The rule scoring a session's classification; None for a session the calendar says scores nothing
        (``none``) or only awards the pole."""
        listed = self.scheduled.get(session)
        if listed is not None and listed.points is not PointsRole.POINTS:
            return None
        return rule_for(self.rules, session, kind)

    def role(self, session: str) -> PointsRole | None:
        """What the calendar says the session does for the championship (None: not in a calendar)."""
        listed = self.scheduled.get(session)
        return listed.points if listed is not None else None

    def awards_fastest_lap(self, session: str) -> bool:
        return self.fastest_lap > 0 and (
            not self.bonus.fastest_lap_sessions or session in self.bonus.fastest_lap_sessions
        )


class Rulebook:
    """What ``score_round`` and ``standings`` read; build one per config (configs are checked by the loader)."""

    def __init__(self, config: ChampionshipConfig, calendar: CalendarPublished | None = None) -> None:
        self.config = config
        self.calendar = calendar
        self.labels = {c.name: c.label or c.name for c in config.classes}
        default_rules = tuple(compile_rule(rule, config.scales) for rule in config.points)
        named = {round_.event: round_ for round_ in config.rounds}
        if calendar is not None:
            held = [r for r in calendar.rounds if not r.sessions or any(not s.cancelled for s in r.sessions)]
            season = [(r.event, r.name, {s.session: s for s in r.sessions if not s.cancelled}) for r in held]
        else:
            season = [(r.event, r.name, {}) for r in config.rounds]
        self.rounds: dict[str, RoundRules] = {}
        for index, (event, name, scheduled) in enumerate(season, start=1):
            round_ = named.get(event) or Round(event=event)
            round_bonus = round_.bonus or config.bonus
            self.rounds[event] = RoundRules(
                index=index,
                event=event,
                name=round_.name or name or event,
                rules=default_rules
                if round_.points is None
                else tuple(compile_rule(rule, config.scales) for rule in round_.points),
                multiplier=exact(round_.multiplier),
                bonus=round_bonus,
                pole=exact(round_bonus.pole),
                fastest_lap=exact(round_bonus.fastest_lap),
                beyond=exact(round_bonus.beyond_points) if round_bonus.beyond_position else Fraction(0),
                min_drive_ms=config.eligibility.min_drive_ms if round_.min_drive_ms is None else round_.min_drive_ms,
                scheduled=scheduled,
            )
        self.bands: tuple[Band, ...] = tuple(compile_band(rule, config.scales) for rule in config.shortened)
        self.parts: tuple[SeasonPart, ...] = season_parts(config.drops, len(self.rounds))
        self.ties = (*config.ties, TieBreak.NAME) if TieBreak.NAME not in config.ties else tuple(config.ties)
        self.countback_sessions = frozenset(config.countback.sessions)
        self.decisions: tuple[PointsAdjustment, ...] = (
            *config.adjustments,
            *(
                PointsAdjustment(
                    decision=e.decision,
                    kind=AdjustmentKind.CHAMPIONSHIP_EXCLUSION,
                    table=e.table,
                    competitor=e.competitor,
                    class_name=e.class_name,
                    reason=e.reason,
                )
                for e in config.exclusions
            ),
        )
        """The decisions the config lists: its adjustments and its exclusions."""
        tables = config.standings
        class_keys: list[str | None] = [c.name for c in config.classes] + ([None] if tables.overall else [])
        kinds = [
            kind
            for kind, enabled in (
                (TableKind.DRIVERS, tables.drivers),
                (TableKind.TEAMS, tables.teams is not TeamStandings.NONE),
                (TableKind.MANUFACTURERS, tables.manufacturer_cars > 0),
            )
            if enabled
        ]
        self.table_keys: tuple[TableKey, ...] = tuple((kind, key) for kind in kinds for key in class_keys)
        self._keys: dict[str, tuple[str | None, ...]] = {}

    def round(self, event: str) -> RoundRules:
        rules = self.rounds.get(event)
        if rules is None:
            raise KeyError(f"{event!r} is not a round of {self.config.championship}")
        return rules

    def keys_of(self, class_name: str) -> tuple[str | None, ...]:
        """The class keys a car of this class scores in: its class if configured, and overall if kept."""
        keys = self._keys.get(class_name)
        if keys is None:
            keys = self._keys[class_name] = ((class_name,) if class_name in self.labels else ()) + (
                (None,) if self.config.standings.overall else ()
            )
        return keys

    def label(self, key: TableKey) -> str:
        kind, class_key = key
        return f"{_KIND_LABELS[kind]} — {self.labels[class_key] if class_key is not None else 'overall'}"
