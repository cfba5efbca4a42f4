"""The standings: every round's points added up per table, with drops, decisions and ties.

Rebuilt whole from the rounds' points (a correction rescored one round); the
running round's lap-by-lap table takes the shorter road in ``live``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from schemas.standings import (
    PointsAdjustment,
    RoundInfo,
    RoundScore,
    RoundState,
    ScoreState,
    Standings,
    StandingsRow,
    StandingsTable,
)
from services.standings import adjustments as decisions
from services.standings.drops import dropped
from services.standings.rounds import RoundEntry, RoundPoints
from services.standings.rulebook import Rulebook, TableKey
from services.standings.ties import Record, order
from services.standings.units import as_points


def standings(book: Rulebook, rounds: Sequence[RoundPoints], adjustments: Sequence[PointsAdjustment] = ()) -> Standings:
    """The championship standings from the points of the rounds held so far (in any order)."""
    by_event: dict[str, RoundPoints] = {}
    for points in rounds:
        if points.event in by_event:
            raise ValueError(f"round {points.event!r} given twice")
        by_event[points.event] = points
    ordered = sorted(rounds, key=lambda points: points.index)
    infos = [
        RoundInfo(
            index=rules.index,
            event=event,
            name=rules.name,
            state=by_event[event].state if event in by_event else RoundState.SCHEDULED,
        )
        for event, rules in book.rounds.items()
    ]
    return Standings(
        championship=book.config.championship,
        name=book.config.name,
        rounds=infos,
        tables=[table(book, key, ordered, adjustments) for key in book.table_keys],
        sequences={key: seq for points in ordered for key, seq in points.sequences.items()},
        live=any(info.state is RoundState.RUNNING for info in infos),
    )


def record(name: str, by_round: Mapping[int, RoundEntry], excluded: Mapping[int, object], rounds: int) -> Record:
    """Count-back and latest-result facts; an excluded result has no finish."""
    return Record.of(name, {i: e.finishes for i, e in by_round.items() if i not in excluded}, rounds)


def table(
    book: Rulebook, key: TableKey, rounds: Sequence[RoundPoints], adjustments: Sequence[PointsAdjustment]
) -> StandingsTable:
    entries: dict[str, dict[int, RoundEntry]] = {}
    events: dict[int, str] = {}
    for points in rounds:
        events[points.index] = points.event
        for name, entry in points.tables.get(key, {}).items():
            entries.setdefault(name, {})[points.index] = entry
    touching = decisions.for_table(adjustments, key)
    totals: list[tuple[str, int]] = []
    scores: dict[str, list[RoundScore]] = {}
    excluded_by: dict[str, dict[int, PointsAdjustment]] = {}
    for name, by_round in entries.items():
        excluded = excluded_by[name] = {
            i: a for i, a in decisions.exclusions(book, touching.get(name, ())).items() if i in by_round
        }
        units = {index: entry.units for index, entry in by_round.items()}
        drops = dropped(book.parts, units, excluded)
        counted = sum(u for i, u in units.items() if i not in drops and i not in excluded)
        totals.append((name, counted - decisions.deducted(touching.get(name, ()))))
        scores[name] = [_score(events[i], i, by_round[i], drops.get(i), excluded.get(i)) for i in sorted(by_round)]
    count = len(book.rounds)
    placed = order(totals, lambda name: record(name, entries[name], excluded_by[name], count), book.ties)
    rows = [
        StandingsRow(
            position=position,
            competitor=p.name,
            points=as_points(p.units),
            rounds=scores[p.name],
            deductions=decisions.deductions(touching.get(p.name, ())),
            tie=p.tie,
        )
        for position, p in enumerate(placed, start=1)
    ]
    return StandingsTable(kind=key[0], class_name=key[1], label=book.label(key), rows=rows)


def _score(
    event: str, index: int, entry: RoundEntry, dropped_why: str | None, exclusion: PointsAdjustment | None
) -> RoundScore:
    if exclusion is not None:
        state = ScoreState.EXCLUDED
        why = f"excluded by decision {exclusion.decision}" + (f": {exclusion.reason}" if exclusion.reason else "")
    elif dropped_why is not None:
        state, why = ScoreState.DROPPED, dropped_why
    else:
        state, why = ScoreState.COUNTED, ""
    return RoundScore(
        round=event,
        index=index,
        points=as_points(entry.units),
        state=state,
        why=why,
        results=entry.results,
        awards=entry.awards,
        ineligible=entry.ineligible,
    )
