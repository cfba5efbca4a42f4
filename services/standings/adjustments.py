"""Decisions on championship points: deductions off a total, results excluded from a round, a competitor
excluded from the championship."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from fractions import Fraction

from schemas.standings import AdjustmentKind, ChampionshipConfig, PointsAdjustment
from services.standings.rulebook import Rulebook, TableKey
from services.standings.units import ZERO, exact


def problems(
    config: ChampionshipConfig, adjustment: PointsAdjustment, rounds: Collection[str] | None = None
) -> list[str]:
    """What is wrong with a decision, field by field (empty: it can apply). ``rounds``: the championship's rounds
    (the calendar's); None: the config's, when it lists them."""
    out = []
    known = rounds if rounds is not None else {r.event for r in config.rounds} or None
    if adjustment.round is not None and known is not None and adjustment.round not in known:
        out.append(f"round: {adjustment.round!r} is not a round of {config.championship}")
    if adjustment.kind is AdjustmentKind.EXCLUSION and adjustment.round is None:
        out.append(
            "round: an exclusion needs the round it excludes a result from "
            "(championship_exclusion excludes from the whole championship)"
        )
    if adjustment.kind is AdjustmentKind.CHAMPIONSHIP_EXCLUSION and adjustment.round is not None:
        out.append("round: a championship exclusion is from every round: leave the round out")
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


def excluded_from_championship(adjustments: Iterable[PointsAdjustment]) -> PointsAdjustment | None:
    """The decision excluding the competitor from the championship, if any."""
    return next((a for a in adjustments if a.kind is AdjustmentKind.CHAMPIONSHIP_EXCLUSION), None)


def why_excluded(decision: PointsAdjustment) -> str:
    return f"excluded from the championship by decision {decision.decision}" + (
        f": {decision.reason}" if decision.reason else ""
    )


def deductions(adjustments: Iterable[PointsAdjustment]) -> list[PointsAdjustment]:
    return [a for a in adjustments if a.kind is AdjustmentKind.DEDUCTION]


def deducted(adjustments: Iterable[PointsAdjustment]) -> Fraction:
    """Points deducted."""
    return sum((exact(a.points) for a in deductions(adjustments)), ZERO)
