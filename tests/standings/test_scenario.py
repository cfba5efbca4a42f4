"""The title-fight scenario: the season before its finale is the one the issue describes, the finale changes who
would be champion lap by lap, and ``chequered demo --scenario title-fight`` plays it through the whole stack."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from schemas.events import EntryRegistered, Event, ResultsDeclared, ResultsStatus, TableKind
from schemas.standings import Standings, TitleFight, TitleStatus
from services.simulator import titlefight
from services.standings.config import load_rulebook
from services.standings.fold import ChampionshipFold, fold_championship


def fight(standings: Standings, class_name: str) -> TitleFight:
    title = next(t for t in standings.tables if t.kind is TableKind.DRIVERS and t.class_name == class_name).title
    assert title is not None
    return title


def test_before_the_finale_four_crews_within_three_points_and_the_gentlemen_decided() -> None:
    prelude = titlefight.prelude()
    standings = fold_championship(
        enumerate(prelude, start=1), titlefight.CHAMPIONSHIP, load_rulebook(titlefight.CONFIG)
    )
    standings = standings.standings()  # type: ignore[assignment]
    assert isinstance(standings, Standings) and not standings.live
    pro = fight(standings, "Pro")
    assert [(c.number, c.points, c.max_points, c.status) for c in pro.contenders] == [
        ("1", 50, 84, TitleStatus.CONTENDER),
        ("3", 48, 82, TitleStatus.CONTENDER),
        ("2", 48, 82, TitleStatus.CONTENDER),
        ("4", 47, 81, TitleStatus.CONTENDER),
    ]  # 33 for the win and the pole still on offer; every other Pro driver is out of reach
    assert pro.contenders[0].competitors == sorted(titlefight.CONTENDERS["1"][2])  # one crew, one contender
    gentlemen = fight(standings, "Am")
    assert gentlemen.decided and [c.number for c in gentlemen.contenders] == ["71"]
    cars: dict[str, set[str]] = {}
    for event in [*prelude, *titlefight.finale()]:
        if isinstance(event.body, EntryRegistered):
            for driver in event.body.crew:
                cars.setdefault(driver.name, set()).add(event.body.number)
    assert all(len(numbers) == 1 for numbers in cars.values())  # no driver in two cars


def test_the_finale_changes_the_champion_as_it_stands_and_ends_with_one_declared() -> None:
    prelude, finale = titlefight.prelude(), titlefight.finale()
    fold = ChampionshipFold(titlefight.CHAMPIONSHIP, load_rulebook(titlefight.CONFIG))
    for seq, event in enumerate(prelude, start=1):
        fold.apply(seq, event)
    fold.settle()
    leaders: list[str] = []
    start = len(prelude)
    for seq, event in enumerate(finale, start=start + 1):
        fold.apply(seq, event)
        if seq % 50 == 0:
            live = fold.settle().live
            assert live is not None
            leader = next(c.number or "" for c in fight(live, "Pro").contenders if c.leads)  # type: ignore[arg-type]
            if not leaders or leaders[-1] != leader:
                leaders.append(leader)
    assert len(leaders) >= 5 and set(leaders) >= {"1", "2", "4"}  # the title changes hands as it stands
    declared = Event(
        id="results", session=finale[0].session, producer="ops", at=finale[-1].at + 60_000,
        body=ResultsDeclared(status=ResultsStatus.FINAL),
    )  # fmt: skip
    fold.apply(start + len(finale) + 1, declared)
    final = fold.settle().standings
    assert final is not None and not final.live
    pro = fight(final, "Pro")
    assert pro.decided and pro.remaining == 0
    [champion] = pro.contenders
    table = next(t for t in final.tables if t.kind is TableKind.DRIVERS and t.class_name == "Pro")
    assert champion.status is TitleStatus.CHAMPION and champion.competitors[0] == table.rows[0].competitor


def test_the_demo_plays_the_title_fight(tmp_path: Path) -> None:
    """``chequered demo --scenario title-fight`` as a user runs it: the fight before the finale, the finale, the
    champion. On a home of its own: a ``chequered serve all`` running in the checkout would otherwise be used."""
    chequered = Path(sys.executable).parent / "chequered"
    done = subprocess.run(
        [str(chequered), "demo", "--scenario", "title-fight", "--max", "--gateway-port", "0", "--home", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "100"},
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr
    out = done.stdout
    before = out.index("Drivers — Pro — title fight (2 scoring sessions left)")
    after = out.index("Drivers — Pro — title fight (decided)")
    assert before < after and "has won the title" in out[after:]
    assert "Drivers — Gentlemen — title fight (decided)" in out[:after]
    assert f"{len(titlefight.finale()):,} events accepted, 0 rejected" in out
