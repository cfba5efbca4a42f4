"""One championship, folded: its points configuration, its points decisions, its rounds' sessions, the points.

:class:`ChampionshipFold` is the one path from a championship's events to its standings: the standings projector
feeds it the log as it comes, ``chequered standings`` feeds it race logs, ``chequered at`` and the offline tools
the log as it stood (:func:`standings_until`). Pure: no clock, no I/O; the same events give the same bytes.

- :meth:`~ChampionshipFold.apply` folds one stored event: a configuration (the rulebook from then on), a calendar
  event (the season's rounds from then on: a rulebook need not list them), a points decision, or a timing event
  of a round (its session folded with the classification fold; the classes it can move noted: while a race runs,
  a car's event moves only its class and the overall order).
- :meth:`~ChampionshipFold.settle` scores what the events since the last settle touched and reports what changed:
  the declared standings when a round's results are declared (or a configuration or decision changed them), and
  the "as it stands" standings of the round scored. A running round rescores only the classes its events touched
  and recomputes only the tables whose points or finishes changed (``LiveRound``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from schemas.events import (
    CALENDAR_BODIES,
    CalendarBody,
    CarBody,
    ChampionshipConfigured,
    DecisionWithdrawn,
    EntryRegistered,
    Event,
    PenaltyIssued,
    PointsAdjusted,
    SessionRef,
    SessionStarted,
)
from schemas.results import Classification, SessionPhase
from schemas.standings import LiveStandings, RoundState, Standings
from services.calendar.local import CalendarError
from services.calendar.schedule import Schedule
from services.calendar.schedule import apply as apply_calendar
from services.classification.fold import ClassificationProjection, Refused, classification_until
from services.standings.config import ConfigError, decode_config
from services.standings.live import LiveRound, Season
from services.standings.rounds import RoundPoints, round_state, score_round
from services.standings.rulebook import Rulebook
from services.standings.title import chances

Pairs = Sequence[tuple[int, Event]]
"""``(stream sequence, event)``, in stream order."""


@dataclass(frozen=True, slots=True)
class Settled:
    """What one :meth:`ChampionshipFold.settle` changed: the values a projector writes."""

    standings: Standings | None = None
    """The declared standings, when they changed."""
    live: LiveStandings | None = None
    """"As it stands", when a round was scored."""


@dataclass(slots=True)
class _Round:
    """A round's timing events as the fold keeps them, and what changed since the last settle."""

    events: list[tuple[int, Event]] = field(default_factory=list)
    """For the classifications at intermediate instants."""
    crews: dict[str, list[str]] = field(default_factory=dict)
    """Car number to its drivers, as last registered. A registration replaces the mapping (never changes it in
    place): a live round compares the crews it scored with against the next ones."""
    classes: dict[str, str] = field(default_factory=dict)
    """Car number to its class, as last registered."""
    guests: frozenset[str] = frozenset()
    """Entries not eligible for points, as last registered."""
    intermediates: dict[str, dict[int, Classification]] = field(default_factory=dict)
    """Session key -> instant -> the classification as it stood then (computed once the race passes it)."""
    missed: dict[str, set[int]] = field(default_factory=dict)
    """Session key -> instants the log passed with the race no longer running (it ended early): never looked
    for again."""
    live: LiveRound | None = None
    dirty: bool = False
    touched: set[str] | None = field(default_factory=set)
    """Classes whose scoring the events since the last settle can have changed; None: any."""

    def note(self, seq: int, event: Event, running: bool) -> None:
        """A timing event folded into one of the round's sessions (``running``: a race not over yet)."""
        self.events.append((seq, event))
        self.dirty = True
        body = event.body
        if isinstance(body, EntryRegistered):
            self.crews = {**self.crews, body.number: [driver.name for driver in body.crew]}
            self.classes[body.number] = body.class_name
            self.guests = self.guests - {body.number} | ({body.number} if not body.eligible_for_points else set())
            self.touched = None
        elif (
            isinstance(body, CarBody)
            and not isinstance(body, PenaltyIssued)
            and running
            and self.touched is not None
            and body.number in self.classes
        ):
            self.touched.add(self.classes[body.number])
        else:  # a session's event, a penalty (a disqualification voids what was decided), anything once over
            self.touched = None


class ChampionshipFold:
    """A championship's events in, its standings out."""

    def __init__(self, championship: str, book: Rulebook | None = None) -> None:
        """``book``: score with this rulebook (``chequered standings --config``) until a configuration event
        replaces it; without one, nothing is scored before the log configures the championship."""
        self.championship = championship
        self.config = book.config if book is not None else None
        self.schedule: Schedule | None = None
        """The season's calendar as its events leave it: the rounds, when there is one."""
        self.season = Season(book) if book is not None else None
        self.rulings: dict[str, PointsAdjusted | None] = {}
        """The points decisions of the log, in order (None: withdrawn): a new rulebook takes them over."""
        self.sessions = ClassificationProjection()
        self.rounds: dict[str, _Round] = {}
        self._decided = False

    # -- applying events ---------------------------------------------------------

    def apply(self, seq: int, event: Event) -> Refused | None:
        """Fold one stored event of this championship; a refusal (with the reason) changes nothing."""
        if event.session.championship != self.championship:
            return Refused(seq, f"{event.session.key} is not a session of championship {self.championship}")
        if isinstance(event.body, CALENDAR_BODIES):
            return self._schedule(seq, event, event.body)
        if event.session.is_championship:
            return self._decide(seq, event)
        refused = self.sessions.apply(seq, event)
        if refused is not None:
            return refused
        state = self.sessions.sessions[event.session.key]
        running = state.chequered_at is None and state.results is None
        self.rounds.setdefault(event.session.event, _Round()).note(seq, event, running)
        return None

    def _decide(self, seq: int, event: Event) -> Refused | None:
        body = event.body
        try:
            if isinstance(body, ChampionshipConfigured):
                self.config = decode_config(body.toml, body.source or event.id)
                self._rulebook()
                return None
            if self.season is None:
                raise ValueError("no points configuration yet: publish championship_configured first")
            if isinstance(body, PointsAdjusted):
                self.season.adjust(body)
                self.rulings[body.decision] = body
                self._decided = True
            elif isinstance(body, DecisionWithdrawn) and self.season.withdraw(body.decision):
                self.rulings[body.decision] = None
                self._decided = True
            return None
        except (ConfigError, ValueError) as error:
            return Refused(seq, f"{type(body).__name__} not applied: {error}")

    def _schedule(self, seq: int, event: Event, body: CalendarBody) -> Refused | None:
        """A calendar event: the season's rounds from now on (ingest judged it with the same pure function)."""
        try:
            self.schedule = apply_calendar(self.schedule, body, event.at)
        except CalendarError as error:
            return Refused(seq, f"{type(body).__name__} not applied: {error}")
        if self.config is not None:
            self._rulebook()
        return None

    def _rulebook(self) -> None:
        """The season again from the configuration and the calendar in force, the log's decisions taken over (one
        that no longer applies, to a round no longer held, is left out); every round is scored again."""
        assert self.config is not None
        season = Season(Rulebook(self.config, self.schedule.season if self.schedule is not None else None))
        for decision, ruling in self.rulings.items():
            with contextlib.suppress(ValueError):
                if ruling is not None:
                    season.adjust(ruling)
                else:
                    season.withdraw(decision)
        self.season = season
        for round_ in self.rounds.values():
            round_.live = None
        self._decided = True

    # -- scoring -----------------------------------------------------------------

    def settle(self) -> Settled:
        """Score every round the events since the last settle touched (every round after a configuration or a
        decision), in calendar order; report what changed."""
        season = self.season
        if season is None:
            return Settled()
        decided, self._decided = self._decided, False
        due = [slug for slug, round_ in self.rounds.items() if decided or round_.dirty]
        declared = decided
        last: LiveStandings | RoundPoints | None = None
        for slug in sorted(due, key=lambda slug: season.book.rounds[slug].index if slug in season.book.rounds else 0):
            scored = self.score(slug)
            if scored is not None:
                last = scored
                declared = declared or isinstance(scored, RoundPoints)
        if isinstance(last, RoundPoints):
            last = season.live(last)
        return Settled(season.standings() if declared else None, last)

    def score(self, slug: str) -> LiveStandings | RoundPoints | None:
        """Score one round into the season: a running round's "as it stands" standings, the points of a round whose
        results are declared (put into the season), None when there is nothing to score."""
        season = self.season
        round_ = self.rounds.get(slug)
        if round_ is None:
            return None
        touched, round_.touched, round_.dirty = round_.touched, set(), False
        if season is None or slug not in season.book.rounds:
            return None
        sessions = self.classifications(slug)
        intermediates, reached = self._intermediates(slug, sessions)
        rules = season.book.round(slug)
        if round_state(rules, sessions) is RoundState.RUNNING:
            # a session opened with its entries but none started yet scores nothing: its "order" is the entry list
            if all(c.phase is SessionPhase.SCHEDULED for c in sessions.values()):
                return None
            keys = None if touched is None or reached else {k for c in touched for k in season.book.keys_of(c)}
            if round_.live is None:
                round_.live, keys = LiveRound(season, slug), None
            if keys is None:  # a session opened, started or ended, an intermediate reached: what is left changed
                season.open = {rules.index: chances(season.book, slug, sessions)}
            return round_.live.update(sessions, round_.crews, intermediates, keys, guests=round_.guests)
        round_.live = None
        season.open.pop(rules.index, None)
        points = score_round(season.book, slug, sessions, round_.crews, intermediates, guests=round_.guests)
        season.put(points)
        return points

    def classifications(self, slug: str) -> dict[str, Classification]:
        """The round's opened sessions (session slug to its classification now)."""
        prefix = f"{self.championship}.{slug}."
        return {
            state.session.session: state.classification()
            for key, state in self.sessions.sessions.items()
            if key.startswith(prefix) and state.opened is not None
        }

    def _intermediates(
        self, slug: str, sessions: dict[str, Classification]
    ) -> tuple[dict[str, dict[int, Classification]], bool]:
        """The classifications at the intermediate instants each race has passed, and whether one was reached
        since the last settle."""
        assert self.season is not None
        rules = self.season.book.round(slug)
        round_ = self.rounds[slug]
        out: dict[str, dict[int, Classification]] = {}
        reached = False
        for session, classification in sessions.items():
            rule = rules.rule_for(session, classification.kind)
            if rule is None or not rule.intermediates or classification.started_at is None:
                continue
            held = round_.intermediates.setdefault(classification.session.key, {})
            missed = round_.missed.setdefault(classification.session.key, set())
            due = [
                i.at_ms
                for i in rule.intermediates
                if i.at_ms not in held
                and i.at_ms not in missed
                and classification.as_of >= classification.started_at + i.at_ms
            ]
            if due:
                found = classifications_at(round_.events, classification.session, due)
                reached = reached or bool(found)
                held.update(found)
                missed.update(at for at in due if at not in found)  # passed, the race no longer running
            out[session] = held
        return out, reached

    def standings(self) -> Standings | None:
        """The standings as folded so far (None before any configuration)."""
        return self.season.standings() if self.season is not None else None


def classifications_at(events: Pairs, session: SessionRef, at_ms: Iterable[int]) -> dict[int, Classification]:
    """The session's classification as it stood at each race time (ms after the start), by folding the log up to
    that instant. Instants the log has not passed yet, or that the race did not run to, are left out."""
    own = [(seq, event) for seq, event in events if event.session == session]
    started = next((event.at for _, event in own if isinstance(event.body, SessionStarted)), None)
    if started is None:
        return {}
    last = max(event.at for _, event in own)
    out = {}
    for ms in at_ms:
        if last < started + ms:
            continue
        classification = classification_until(own, session, at=started + ms)
        if classification is not None and classification.phase is SessionPhase.RUNNING:
            out[ms] = classification
    return out


def as_it_stood(events: Iterable[tuple[int, Event]], *, seq: int | None, at: int | None) -> list[tuple[int, Event]]:
    """The log as it stood after stream sequence ``seq`` and/or at instant ``at``: every event stored by then
    that happened by then. A points configuration applies whenever it was published (a replay scores with it)."""
    return [
        (s, event)
        for s, event in events
        if (seq is None or s <= seq)
        and (at is None or event.at <= at or isinstance(event.body, ChampionshipConfigured))
    ]


def fold_championship(
    events: Iterable[tuple[int, Event]], championship: str, book: Rulebook | None = None
) -> ChampionshipFold:
    """Every event of the championship folded and settled."""
    fold = ChampionshipFold(championship, book)
    for seq, event in events:
        if event.session.championship == championship:
            fold.apply(seq, event)
    fold.settle()
    return fold


def standings_until(
    events: Iterable[tuple[int, Event]], championship: str, *, seq: int | None = None, at: int | None = None
) -> Standings | None:
    """Time travel for a championship: its standings as they stood (see :func:`as_it_stood`); None when the log
    configured no points by then."""
    return fold_championship(as_it_stood(events, seq=seq, at=at), championship).standings()
