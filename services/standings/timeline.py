"""From a log to the rounds' points: sessions grouped by event, folded, their crews, and the classifications as
they stood at the intermediate instants. Pure: the offline command and the projector read the log for it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from schemas.events import (
    ChampionshipConfigured,
    DecisionWithdrawn,
    EntryRegistered,
    Event,
    PointsAdjusted,
    SessionRef,
    SessionStarted,
)
from schemas.results import Classification, SessionPhase
from schemas.standings import ChampionshipConfig, Standings
from services.classification.fold import fold_log, fold_until
from services.standings.config import decode_config
from services.standings.rounds import RoundPoints, score_round
from services.standings.rulebook import Rulebook
from services.standings.tables import standings

Pairs = Sequence[tuple[int, Event]]
"""``(stream sequence, event)``, in stream order."""


def crews_of(events: Iterable[tuple[int, Event]]) -> dict[str, list[str]]:
    """Car number to its drivers, as last registered."""
    return {
        event.body.number: [driver.name for driver in event.body.crew]
        for _, event in events
        if isinstance(event.body, EntryRegistered)
    }


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
        instant = started + ms
        if last < instant:
            continue
        fold = fold_until(own, at=instant).sessions.get(session.key)
        if fold is not None and fold.opened is not None:
            classification = fold.classification()
            if classification.phase is SessionPhase.RUNNING:
                out[ms] = classification
    return out


def rounds_from_events(book: Rulebook, events: Pairs) -> list[RoundPoints]:
    """Every round of the championship the log holds a session of, scored, in calendar order."""
    championship = book.config.championship
    by_round: dict[str, list[tuple[int, Event]]] = {}
    for seq, event in events:
        if event.session.championship == championship and event.session.event in book.rounds:
            by_round.setdefault(event.session.event, []).append((seq, event))
    out = []
    for event_slug, pairs in by_round.items():
        rules = book.round(event_slug)
        projection = fold_log(pairs)
        sessions: dict[str, Classification] = {}
        intermediates: dict[str, dict[int, Classification]] = {}
        for fold in projection.sessions.values():
            if fold.opened is None:
                continue
            slug = fold.session.session
            sessions[slug] = classification = fold.classification()
            rule = rules.rule_for(slug, classification.kind)
            if rule is not None and rule.intermediates:
                at = [i.at_ms for i in rule.intermediates]
                intermediates[slug] = classifications_at(pairs, fold.session, at)
        out.append(score_round(book, event_slug, sessions, crews_of(pairs), intermediates))
    return sorted(out, key=lambda points: points.index)


def standings_from_log(events: Pairs, championship: str) -> Standings | None:
    """The championship's standings from its own log: the configuration and the points decisions in force
    in it, every round it holds scored. None when the log configures no points."""
    config: ChampionshipConfig | None = None
    decisions: dict[str, PointsAdjusted] = {}
    for _, event in events:
        if event.session.championship != championship or not event.session.is_championship:
            continue
        body = event.body
        if isinstance(body, ChampionshipConfigured):
            config = decode_config(body.toml, body.source or event.id)
        elif isinstance(body, PointsAdjusted):
            decisions[body.decision] = body
        elif isinstance(body, DecisionWithdrawn):
            decisions.pop(body.decision, None)
    if config is None:
        return None
    book = Rulebook(config)
    return standings(book, rounds_from_events(book, events), [*config.adjustments, *decisions.values()])
