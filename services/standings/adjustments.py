"""Decisions on championship points: deductions off a total, results excluded from a round."""

from __future__ import annotations

from collections.abc import Iterable

from schemas.standings import AdjustmentKind, ChampionshipConfig, PointsAdjustment
from services.standings.rulebook import Rulebook, TableKey
from services.standings.units import bonus, hundredths


def problems(config: ChampionshipConfig, adjustment: PointsAdjustment) -> list[str]:
    """What is wrong with a decision, field by field (empty: it can apply)."""
    out = []
    if adjustment.round is not None and adjustment.round not in {r.event for r in config.rounds}:
        out.append(f"round: {adjustment.round!r} is not a round of {config.championship}")
    if adjustment.kind is AdjustmentKind.EXCLUSION and adjustment.round is None:
        out.append("round: an exclusion needs the round it excludes a result from")
    if adjustment.kind is AdjustmentKind.DEDUCTION and not adjustment.points:
        out.append("points: a deduction needs points to deduct")
    if adjustment.class_name is not None and adjustment.class_name not in {c.name for c in config.classes}:
        out.append(f"class_name: {adjustment.class_name!r} is not a class of the championship")
    return out


def for_table(adjustments: Iterable[PointsAdjustment], key: TableKey) -> dict[str, list[PointsAdjustment]]:
    """Competitor to the decisions that touch it in this table."""
    kind, class_key = key
    out: dict[str, list[PointsAdjustment]] = {}
    for adjustment in adjustments:
        if adjustment.table is kind and adjustment.class_name in (None, class_key):
            out.setdefault(adjustment.competitor, []).append(adjustment)
    return out


def exclusions(book: Rulebook, adjustments: Iterable[PointsAdjustment]) -> dict[int, PointsAdjustment]:
    """Round index to the decision excluding the result of that round."""
    return {
        book.rounds[a.round].index: a
        for a in adjustments
        if a.kind is AdjustmentKind.EXCLUSION and a.round is not None and a.round in book.rounds
    }


def deductions(adjustments: Iterable[PointsAdjustment]) -> list[PointsAdjustment]:
    return [a for a in adjustments if a.kind is AdjustmentKind.DEDUCTION]


def deducted(adjustments: Iterable[PointsAdjustment]) -> int:
    """Points deducted, in units."""
    return sum(bonus(hundredths(a.points)) for a in deductions(adjustments))
