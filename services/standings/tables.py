"""The standings: every round's points added up per table, with drops, decisions and ties.

Rebuilt whole from the rounds' points (a correction rescored one round); the
running round's lap-by-lap table takes the shorter road in ``live``. Sums are
exact: whole numbers of a denominator every amount of the table divides.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fractions import Fraction

from schemas.standings import (
    DropUnit,
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
from services.standings.drops import Item, dropped
from services.standings.rounds import RoundEntry, RoundPoints
from services.standings.rulebook import Rulebook, TableKey
from services.standings.ties import Record, order
from services.standings.units import denominator, display, display_units, exact, units


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


def amounts(entries: Mapping[str, Mapping[int, RoundEntry]], adjustments: Sequence[PointsAdjustment]) -> list[Fraction]:
    """Every amount a table adds up: what its common denominator must divide."""
    return [
        *(p for by_round in entries.values() for e in by_round.values() for p in (e.points, *e.result_points)),
        *(exact(a.points) for a in adjustments),
    ]


def items(book: Rulebook, by_round: Mapping[int, RoundEntry], over: int) -> dict[Item, int]:
    """A competitor's results as drops count them (a round each, or every result), in units of 1/``over``."""
    if book.config.drops.unit is DropUnit.ROUND:
        return {(index, 0): units(entry.points, over) for index, entry in by_round.items()}
    return {
        (index, k): units(points, over)
        for index, entry in by_round.items()
        for k, points in enumerate(entry.result_points)
    }


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
    over = denominator(amounts(entries, [a for listed in touching.values() for a in listed]))
    totals: list[tuple[str, int]] = []
    scores: dict[str, list[RoundScore]] = {}
    excluded_by: dict[str, dict[int, PointsAdjustment]] = {}
    out_of: dict[str, PointsAdjustment] = {}
    for name, by_round in entries.items():
        own = touching.get(name, ())
        excluded = excluded_by[name] = {i: a for i, a in decisions.exclusions(book, own).items() if i in by_round}
        results = items(book, by_round, over)
        drops = dropped(book.parts, results, excluded)
        expelled = decisions.excluded_from_championship(own)
        if expelled is not None:
            out_of[name] = expelled
        else:
            counted = sum(u for item, u in results.items() if item not in drops and item[0] not in excluded)
            totals.append((name, counted - units(decisions.deducted(own), over)))
        gone: dict[int, list[int]] = {}
        for index, k in sorted(drops):
            gone.setdefault(index, []).append(k)
        scores[name] = [
            _score(book, events[i], i, by_round[i], gone.get(i, []), drops, excluded.get(i) or expelled)
            for i in sorted(by_round)
        ]
    count = len(book.rounds)
    placed = order(totals, lambda name: record(name, entries[name], excluded_by[name], count), book.ties, over)
    rows = [
        StandingsRow(
            position=position,
            competitor=p.name,
            points=display_units(p.units, over),
            rounds=scores[p.name],
            deductions=decisions.deductions(touching.get(p.name, ())),
            tie=p.tie,
        )
        for position, p in enumerate(placed, start=1)
    ]
    rows += [
        StandingsRow(
            position=position,
            competitor=name,
            points=0.0,
            rounds=scores[name],
            deductions=decisions.deductions(touching.get(name, ())),
            excluded=decisions.why_excluded(out_of[name]),
        )
        for position, name in enumerate(sorted(out_of, key=lambda name: (name.casefold(), name)), start=len(rows) + 1)
    ]
    return StandingsTable(kind=key[0], class_name=key[1], label=book.label(key), rows=rows)


def _score(
    book: Rulebook,
    event: str,
    index: int,
    entry: RoundEntry,
    gone: list[int],
    drops: Mapping[Item, str],
    exclusion: PointsAdjustment | None,
) -> RoundScore:
    """A competitor's round as the standings explain it; ``gone``: its dropped results."""
    results = 1 if book.config.drops.unit is DropUnit.ROUND else len(entry.result_points)
    why = drops[index, gone[0]] if gone else ""
    if exclusion is not None:
        state = ScoreState.EXCLUDED
        why = (
            decisions.why_excluded(exclusion)
            if exclusion.round is None
            else (f"excluded by decision {exclusion.decision}" + (f": {exclusion.reason}" if exclusion.reason else ""))
        )
    elif not gone:
        state = ScoreState.COUNTED
    else:
        state = ScoreState.DROPPED if len(gone) == results else ScoreState.PARTLY_DROPPED
    return RoundScore(
        round=event,
        index=index,
        points=display(entry.points),
        state=state,
        why=why,
        results=entry.results,
        awards=entry.awards,
        ineligible=entry.ineligible,
        result_points=[display(p) for p in entry.result_points],
        dropped=gone if state is ScoreState.PARTLY_DROPPED else [],
    )
