"""Whole seasons: late corrections, totals, dropped results, live standings against final ones, and speed."""

from __future__ import annotations

import random

import pytest

from schemas.events import (
    LapCompleted,
    PenaltyIssued,
    PenaltyKind,
    ResultsDeclared,
    ResultsStatus,
    SessionKind,
)
from schemas.results import SessionPhase
from schemas.standings import (
    AdjustmentKind,
    LiveStandings,
    PointsAdjustment,
    ScoreState,
    Standings,
    TableKind,
)
from services.standings.config import decode_config
from services.standings.fold import ChampionshipFold, Settled
from services.standings.live import Season
from services.standings.rounds import score_round
from services.standings.rulebook import Rulebook
from services.standings.tables import standings
from tests.standings.season import (
    BASE_CONFIG,
    CHAMPIONSHIP,
    LAP,
    Car,
    Session,
    book,
    classification,
    live_table,
    order,
    points,
    run,
)

RIVALS = [Car("1", crew=("Zed",)), Car("2", crew=("Amy",)), Car("3", crew=("Cal",))]


@pytest.mark.parametrize(
    "penalty",
    [
        PenaltyIssued(number="1", decision="D12", kind=PenaltyKind.DISQUALIFICATION, reason="underweight"),
        PenaltyIssued(number="1", decision="D12", kind=PenaltyKind.TIME, time_ms=5_000, reason="pit lane speeding"),
    ],
    ids=["disqualification", "time"],
)
def test_a_late_penalty_in_the_final_race_changes_the_champion(penalty: PenaltyIssued) -> None:
    b = book()
    opener = Session("r1", RIVALS, ["1", "2", "3"])
    final = Session("r2", RIVALS, ["1", "2", "3"], declared=ResultsStatus.PROVISIONAL)
    before = run(b, opener, final)
    assert order(before)[0] == "Zed" and points(before) == {"Zed": 20, "Amy": 12, "Cal": 8}
    after = run(b, opener, final.events(after=[penalty, ResultsDeclared(status=ResultsStatus.FINAL)]))
    assert order(after)[0] == "Amy"
    expected = (
        {"Amy": 16, "Zed": 10, "Cal": 10}
        if penalty.kind is PenaltyKind.DISQUALIFICATION
        else {
            "Amy": 16,
            "Zed": 14,
            "Cal": 10,
        }
    )
    assert points(after) == expected


def test_a_correction_rescores_one_round_and_the_season_follows() -> None:
    b = book()
    season = Season(b)
    season.put(score_round(b, "r1", {"race": classification(Session("r1", RIVALS, ["1", "2", "3"]).events())}, {}))
    final = Session("r2", RIVALS, ["1", "2", "3"], declared=ResultsStatus.PROVISIONAL)
    season.put(score_round(b, "r2", {"race": classification(final.events())}, {}))
    assert order(season.standings())[0] == "Zed"
    penalty = PenaltyIssued(number="1", decision="D1", kind=PenaltyKind.DISQUALIFICATION)
    corrected = classification(final.events(after=[penalty]))
    season.put(score_round(b, "r2", {"race": corrected}, {}))
    assert order(season.standings())[0] == "Amy"
    assert season.standings().sequences[corrected.session.key] == corrected.last_seq


RICH = BASE_CONFIG.replace('scale = "main"\n', 'scale = "main"\nclass_scales = { Am = "big" }\n') + (
    "[bonus]\npole = 1\nbeyond_position = 4\nbeyond_points = 0.5\n[drops]\nbest = 4\n"
    '[standings]\nteams = "best_car"\nmanufacturer_cars = 2\noverall = true\n'
    + "\n".join(f'[[rounds]]\nevent = "r{i}"\n' for i in range(1, 7))
)


def rich_season() -> tuple[Rulebook, Standings]:
    b = Rulebook(decode_config(RICH))
    rng = random.Random(7)
    grid = [
        Car(str(n), "Pro" if n <= 6 else "Am", crew=(f"P{n}", f"Q{n}"), team=f"T{n % 4}", manufacturer=f"M{n % 3}")
        for n in range(1, 11)
    ]
    sessions = []
    for i in range(1, 7):
        finish = [c.number for c in grid]
        rng.shuffle(finish)
        grid_order = sorted(finish, key=lambda n: rng.random())
        sessions.append(Session(f"r{i}", grid, grid_order, name="qualifying", kind=SessionKind.QUALIFYING))
        sessions.append(Session(f"r{i}", grid, finish, retire={finish[-1]: 2}))
    fine = PointsAdjustment(
        decision="D3", kind=AdjustmentKind.DEDUCTION, table=TableKind.TEAMS, competitor="T1", points=2.5
    )
    return b, run(b, *sessions, adjustments=[fine])


def test_every_total_is_the_sum_of_its_counted_rounds_and_dropped_results_are_marked() -> None:
    b, result = rich_season()
    assert len(result.tables) == len(b.table_keys) == 9
    deducted = 0
    for table in result.tables:
        assert [r.position for r in table.rows] == list(range(1, len(table.rows) + 1))
        assert [r.points for r in table.rows] == sorted((r.points for r in table.rows), reverse=True)
        for row in table.rows:
            counted = [s for s in row.rounds if s.state is ScoreState.COUNTED]
            dropped = [s for s in row.rounds if s.state is ScoreState.DROPPED]
            assert row.points == pytest.approx(sum(s.points for s in counted) - sum(d.points for d in row.deductions))
            assert len(counted) == min(4, len(row.rounds)) and len(dropped) == max(0, len(row.rounds) - 4)
            assert all(s.why == "not among the best 4" for s in dropped)
            assert min((s.points for s in counted), default=0) >= max((s.points for s in dropped), default=0)
            deducted += len(row.deductions)
    assert deducted == 3  # team T1 races in both classes: its teams' tables Pro, Am and overall


def _compare(live: LiveStandings, full: Standings) -> None:
    assert [t.label for t in live.tables] == [t.label for t in full.tables]
    for held, table in zip(live.tables, full.tables, strict=True):
        assert [(r.position, r.competitor, r.points) for r in held.rows] == [
            (r.position, r.competitor, r.points) for r in table.rows
        ]


def test_live_standings_during_the_last_race_become_the_final_standings() -> None:
    b = book("[eligibility]\nmin_drive_ms = 150_000\n[bonus]\npole = 1\n[standings]\nmanufacturer_cars = 1\n")
    grid = [
        Car("1", crew=("Ann", "Bob"), manufacturer="Ferrari"),
        Car("2", crew=("Cy",), manufacturer="Porsche"),
        Car("3", crew=("Dee",), manufacturer="Ferrari"),
        Car("7", "Am", crew=("Eve",)),
        Car("8", "Am", crew=("Fay",)),
    ]
    opener = [Session("r1", grid, ["2", "1", "3", "8", "7"])]
    final = Session("r2", grid, ["1", "7", "3", "2", "8"], swap={"1": 1}, retire={"3": 4})
    qualifying = Session("r2", grid, ["3", "1", "2", "8", "7"], name="qualifying", kind=SessionKind.QUALIFYING)
    fold = ChampionshipFold(CHAMPIONSHIP, b)
    log = [*opener[0].events(), *qualifying.events(), *final.events()]
    updates: list[LiveStandings] = []
    racing: list[LiveStandings] = []
    for seq, event in enumerate(log, start=1):
        assert fold.apply(seq, event) is None
        update = fold.settle().live
        if event.session.event != "r2":
            continue
        sessions = fold.classifications("r2")
        if update is None:  # opened with its entries, not started: nothing to score yet
            assert all(c.phase is SessionPhase.SCHEDULED for c in sessions.values())
            continue
        assert fold.season is not None
        _compare(update, fold.season.standings())
        fresh = score_round(b, "r2", sessions, fold.rounds["r2"].crews)
        _compare(update, standings(b, [fold.season.rounds["r1"], fresh]))  # partial rescoring = rescoring all
        updates.append(update)
        if "race" in sessions and sessions["race"].phase is SessionPhase.RUNNING and sessions["race"].cars[0].laps > 2:
            racing.append(update)
    assert updates[len(updates) // 2].live and not updates[-1].live
    assert isinstance(log[-1].body, ResultsDeclared)
    final_standings = run(b, *opener, qualifying, final)
    _compare(updates[-1], final_standings)
    assert points(final_standings)["Ann"] == 6  # short of the minimum drive time in the final: judged at the end
    assert racing and all(u.live for u in racing)
    assert {r.competitor: r.live_points for r in racing[-1].tables[0].rows}["Ann"] == 10  # not judged yet


def test_a_lap_rescores_only_its_class_and_a_settle_with_nothing_new_reports_nothing() -> None:
    """What the fold reports as changed: a Pro car's lap recomputes no Gentlemen table (the same table object is
    kept), an overtake changes the Pro tables, and nothing new since the last settle writes nothing."""
    grid = [Car("1"), Car("2"), Car("7", "Am"), Car("8", "Am")]
    race = Session("r1", grid, ["1", "2", "7", "8"], finished=False, declared=None).events()
    fold = ChampionshipFold(CHAMPIONSHIP, book())
    for seq, event in enumerate(race, start=1):
        fold.apply(seq, event)
    before = fold.settle().live
    assert before is not None and fold.settle() == Settled()
    lead = max(e.body.lap for e in race if isinstance(e.body, LapCompleted) and e.body.number == "1")
    lap = LapCompleted(number="2", lap=lead + 1, lap_time_ms=LAP - 510)  # car 2 completes a lap first: an overtake
    pass_ = Session("r1", grid, []).writer().event(lap, (lead + 1) * LAP - 500, id="pass")
    fold.apply(len(race) + 1, pass_)
    after = fold.settle().live
    assert after is not None
    pro, am = (live_table(after, c) for c in ("Pro", "Am"))
    assert [r.competitor for r in pro.rows] == ["Driver 2", "Driver 1"]
    assert am is live_table(before, "Am")  # not recomputed
