"""Properties of the standings over generated seasons: totals, order, drops, and live against full."""

from __future__ import annotations

from fractions import Fraction
from itertools import combinations, pairwise

from hypothesis import given, settings
from hypothesis import strategies as st
from msgspec import structs

from schemas.standings import (
    AdjustmentKind,
    DropUnit,
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
from tests.standings.season import BASE_CONFIG

NAMES = ("Ann", "Bob", "Cy", "Dee", "Eve")
KEY = (TableKind.DRIVERS, "Pro")


@st.composite
def seasons(draw: st.DrawFn) -> tuple[Rulebook, list[RoundPoints], list[PointsAdjustment]]:
    rounds = draw(st.integers(1, 6))
    drops = draw(st.sampled_from(["none", "best", "parts"] if rounds > 1 else ["none", "best"]))
    text = ('ties = ["countback", "latest_result"]\n' if draw(st.booleans()) else "") + BASE_CONFIG
    if drops != "none":
        text += f'[drops]\nunit = "{draw(st.sampled_from(["round", "result"]))}"\n'
    if drops == "best":
        text += f"best = {draw(st.integers(1, rounds))}\n"
    elif drops == "parts":
        first = draw(st.integers(1, rounds - 1))
        for size in (first, rounds - first):
            text += f"[[drops.parts]]\nrounds = {size}\nbest = {draw(st.integers(1, size))}\n"
    text += "\n".join(f'[[rounds]]\nevent = "r{i}"\n' for i in range(1, rounds + 1))
    book = Rulebook(decode_config(text))
    points = []
    for index in range(1, rounds + 1):
        entries = {}
        for name in NAMES:
            if draw(st.booleans()):
                results = [Fraction(n, 2) for n in draw(st.lists(st.integers(0, 20), min_size=1, max_size=2))]
                finishes = draw(st.lists(st.integers(1, 4), max_size=2))
                entries[name] = RoundEntry(points=sum(results, Fraction(0)), result_points=results, finishes=finishes)
        points.append(
            RoundPoints(event=f"r{index}", index=index, state=RoundState.FINAL, sequences={}, tables={KEY: entries})
        )
    adjustments = [
        PointsAdjustment(
            decision=f"D{i}",
            kind=kind,
            table=TableKind.DRIVERS,
            competitor=draw(st.sampled_from(NAMES)),
            round=None if kind is AdjustmentKind.CHAMPIONSHIP_EXCLUSION else f"r{draw(st.integers(1, rounds))}",
            points=draw(st.integers(1, 10)) / 2 if kind is AdjustmentKind.DEDUCTION else 0,
        )
        for i, kind in enumerate(draw(st.lists(st.sampled_from(list(AdjustmentKind)), max_size=3)))
    ]
    return book, points, adjustments


def _best_possible(book: Rulebook, results: dict[tuple[int, int], float], excluded: set[int]) -> float:
    """Brute force: the most points any choice of counted results allowed by the drop rules gives (the results of
    an excluded round count, with nothing, even beyond a part's best N)."""
    best = 0.0
    items = sorted(results)
    forced = {item for item in items if item[0] in excluded}
    for size in range(len(items) + 1):
        for chosen in combinations(items, size):
            if not forced <= set(chosen):
                continue
            if all(
                p.best is None
                or sum(1 for i in chosen if p.holds(i[0])) <= max(p.best, sum(1 for i in forced if p.holds(i[0])))
                for p in book.parts
            ):
                best = max(best, sum(results[i] for i in chosen if i[0] not in excluded))
    return best


@settings(max_examples=150, deadline=None)
@given(seasons())
def test_totals_are_the_counted_points_and_the_order_follows_them(
    season: tuple[Rulebook, list[RoundPoints], list[PointsAdjustment]],
) -> None:
    book, rounds, adjustments = season
    table = next(t for t in standings(book, rounds, adjustments).tables if (t.kind, t.class_name) == KEY)
    assert [row.position for row in table.rows] == list(range(1, len(table.rows) + 1))
    ranked = [row for row in table.rows if not row.excluded]
    assert table.rows[: len(ranked)] == ranked  # competitors excluded from the championship last
    assert all(a.points >= b.points for a, b in pairwise(ranked))
    by_result = book.config.drops.unit is DropUnit.RESULT
    for row in table.rows:
        if row.excluded:
            assert row.points == 0 and {s.state for s in row.rounds} == {ScoreState.EXCLUDED}
            continue
        results = {
            (s.index, k): points
            for s in row.rounds
            for k, points in (enumerate(s.result_points) if by_result else [(0, s.points)])
        }
        dropped = {(s.index, k) for s in row.rounds for k in s.dropped} | {
            (s.index, k) for s in row.rounds if s.state is ScoreState.DROPPED for k in range(len(s.result_points))
        }
        excluded = {s.index for s in row.rounds if s.state is ScoreState.EXCLUDED}
        counted = sum(p for item, p in results.items() if item not in dropped and item[0] not in excluded)
        assert row.points == counted - sum(d.points for d in row.deductions)
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
    with_titles = state.standings()
    assert structs.replace(with_titles, tables=[structs.replace(t, title=None) for t in with_titles.tables]) == full
    for live_table, table in zip(live.tables, with_titles.tables, strict=True):
        assert live_table.title == table.title  # the same fight, as it stands
