"""Properties of the standings over generated seasons: totals, order, drops, and live against full."""

from __future__ import annotations

from itertools import combinations

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.standings import (
    AdjustmentKind,
    PointsAdjustment,
    RoundState,
    ScoreState,
    TableKind,
)
from services.standings.config import decode_config
from services.standings.live import Season
from services.standings.rounds import RoundEntry, RoundPoints
from services.standings.rulebook import Rulebook
from services.standings.tables import standings
from services.standings.units import UNIT
from tests.standings.season import BASE_CONFIG

NAMES = ("Ann", "Bob", "Cy", "Dee", "Eve")
KEY = (TableKind.DRIVERS, "Pro")


@st.composite
def seasons(draw: st.DrawFn) -> tuple[Rulebook, list[RoundPoints], list[PointsAdjustment]]:
    rounds = draw(st.integers(1, 6))
    drops = draw(st.sampled_from(["none", "best", "parts"] if rounds > 1 else ["none", "best"]))
    text = ('ties = ["countback", "latest_result"]\n' if draw(st.booleans()) else "") + BASE_CONFIG
    if drops == "best":
        text += f"[drops]\nbest = {draw(st.integers(1, rounds))}\n"
    elif drops == "parts":
        first = draw(st.integers(1, rounds - 1))
        for size in (first, rounds - first):
            text += f"[[drops.parts]]\nrounds = {size}\nbest = {draw(st.integers(1, size))}\n"
    text += "\n".join(f'[[rounds]]\nevent = "r{i}"\n' for i in range(1, rounds + 1))
    book = Rulebook(decode_config(text))
    points = []
    for index in range(1, rounds + 1):
        entries = {
            name: RoundEntry(
                units=draw(st.integers(0, 20)) * UNIT // 2,
                finishes=draw(st.lists(st.integers(1, 4), max_size=2)),
            )
            for name in NAMES
            if draw(st.booleans())
        }
        points.append(
            RoundPoints(event=f"r{index}", index=index, state=RoundState.FINAL, sequences={}, tables={KEY: entries})
        )
    adjustments = [
        PointsAdjustment(
            decision=f"D{i}",
            kind=kind,
            table=TableKind.DRIVERS,
            competitor=draw(st.sampled_from(NAMES)),
            round=f"r{draw(st.integers(1, rounds))}",
            points=draw(st.integers(1, 10)) / 2 if kind is AdjustmentKind.DEDUCTION else 0,
        )
        for i, kind in enumerate(draw(st.lists(st.sampled_from(list(AdjustmentKind)), max_size=3)))
    ]
    return book, points, adjustments


def _best_possible(book: Rulebook, results: dict[int, float], excluded: set[int]) -> float:
    """Brute force: the most points any choice of counted rounds allowed by the drop rules gives."""
    best = 0.0
    rounds = sorted(results)
    for size in range(len(rounds) + 1):
        for chosen in combinations(rounds, size):
            if not excluded <= set(chosen):
                continue
            if all(p.best is None or sum(1 for i in chosen if p.holds(i)) <= p.best for p in book.parts):
                best = max(best, sum(results[i] for i in chosen if i not in excluded))
    return best


@settings(max_examples=150, deadline=None)
@given(seasons())
def test_totals_are_the_counted_points_and_the_order_follows_them(
    season: tuple[Rulebook, list[RoundPoints], list[PointsAdjustment]],
) -> None:
    book, rounds, adjustments = season
    table = next(t for t in standings(book, rounds, adjustments).tables if (t.kind, t.class_name) == KEY)
    assert [row.position for row in table.rows] == list(range(1, len(table.rows) + 1))
    assert all(a.points >= b.points for a, b in zip(table.rows, table.rows[1:], strict=False))
    for row in table.rows:
        counted = sum(s.points for s in row.rounds if s.state is ScoreState.COUNTED)
        assert row.points == counted - sum(d.points for d in row.deductions)
        results = {s.index: s.points for s in row.rounds}
        excluded = {s.index for s in row.rounds if s.state is ScoreState.EXCLUDED}
        assert counted == _best_possible(book, results, excluded)  # drops keep the best allowed


@settings(max_examples=150, deadline=None)
@given(seasons(), st.data())
def test_live_tables_equal_the_full_standings(
    season: tuple[Rulebook, list[RoundPoints], list[PointsAdjustment]], data: st.DataObject
) -> None:
    book, rounds, adjustments = season
    running = data.draw(st.sampled_from(rounds))
    state = Season(book)
    for points in rounds:
        if points is not running:
            state.put(points)
    for adjustment in adjustments:
        state.adjust(adjustment)
    live = state.live(running)
    full = standings(book, rounds, adjustments)
    for live_table, table in zip(live.tables, full.tables, strict=True):
        assert [(r.position, r.competitor, r.points) for r in live_table.rows] == [
            (r.position, r.competitor, r.points) for r in table.rows
        ]
    assert state.standings() == full
