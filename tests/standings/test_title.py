"""Title permutations: who can still win, who has won, and what each contender needs in the last race.

The hand-made finale is shaped like the 2013 GT endurance series' (three Pro crews within three points of the
leaders, 33 points on offer, the Gentlemen title already decided); the properties check every declaration against
the results that could still come.
"""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.events import Event, SessionKind
from schemas.standings import Contender, Standings, TableKind, TitleFight, TitleStatus
from services.standings.config import decode_config
from services.standings.fold import ChampionshipFold, fold_championship
from services.standings.rulebook import Rulebook
from tests.standings.season import CHAMPIONSHIP, CLASSES, Car, Session, table

FINALE = f"""
championship = "{CHAMPIONSHIP}"
name = "Finale"
ties = ["countback", "latest_result", "name"]
{CLASSES}
[scales]
opening = [50, 48, 48, 47, 10]
opening-am = [50, 10, 5]
thousand-km = [33, 24, 19, 15, 12, 9, 6, 4, 2, 1]

[[points]]
kind = "race"
scale = "opening"
class_scales = {{ Am = "opening-am" }}

[[rounds]]
event = "r1"

[[rounds]]
event = "r2"

[[rounds.points]]
kind = "race"
scale = "thousand-km"
"""
PRO = [Car(str(n), crew=(f"P{n}a", f"P{n}b")) for n in range(1, 6)]
AM = [Car("71", "Am", crew=("G1",)), Car("72", "Am", crew=("G2",)), Car("73", "Am", crew=("G3",))]
GRID = [*PRO, *AM]
OPENING = Session("r1", GRID, ["1", "2", "3", "4", "5", "71", "73", "72"])


def fight(standings: Standings, class_name: str = "Pro") -> TitleFight:
    title = table(standings, TableKind.DRIVERS, class_name).title
    assert title is not None
    return title


def crew(number: str) -> list[str]:
    return [f"P{number}a", f"P{number}b"]


def contender(title: TitleFight, number: str) -> Contender:
    return next(c for c in title.contenders if c.number == number)


def test_before_the_finale_three_crews_can_still_win_and_the_gentlemen_title_is_decided() -> None:
    standings = fold_championship(
        enumerate(OPENING.events(), start=1), CHAMPIONSHIP, Rulebook(decode_config(FINALE))
    ).standings()
    assert standings is not None
    pro = fight(standings)
    assert not pro.decided and pro.remaining == 1
    assert [(c.competitors, c.points, c.max_points, c.status) for c in pro.contenders] == [
        (crew("1"), 50, 83, TitleStatus.CONTENDER),
        (crew("2"), 48, 81, TitleStatus.CONTENDER),
        (crew("3"), 48, 81, TitleStatus.CONTENDER),
        (crew("4"), 47, 80, TitleStatus.CONTENDER),
    ]  # car 5 (10 points, at most 43) is out; crew-mates are one contender
    assert pro.contenders[0].leads and not pro.contenders[1].leads
    leader = contender(pro, "1")
    assert leader.condition == (
        "wins the title if 1st; or 2nd with #2, #3 and #4 lower than 1st; or 3rd with #2, #3 and #4 lower than 2nd"
        "; or ..."
    )
    fifth = next(c for c in leader.conditions if c.position == 5)  # 62 points: level with #4 fourth, ahead on wins
    assert {(r.number, r.lower_than) for r in fifth.rivals} == {("2", 4), ("3", 4), ("4", 3)}
    assert contender(pro, "2").condition.startswith("wins the title if 1st; or 2nd with #1, #3 and #4 lower than 1st")
    gentlemen = fight(standings, "Am")
    assert gentlemen.decided and [(c.competitors, c.status) for c in gentlemen.contenders] == [
        (["G1"], TitleStatus.CHAMPION)
    ]
    assert gentlemen.contenders[0].condition == "has won the title"


def test_the_finale_lap_by_lap_and_the_champion_at_the_end() -> None:
    book = Rulebook(decode_config(FINALE))
    fold = ChampionshipFold(CHAMPIONSHIP, book)
    finale = Session("r2", GRID, ["3", "5", "1", "2", "4", "72", "71", "73"], retire={"3": 6})  # #3 leads, retires
    log = [*OPENING.events(), *finale.events()]
    leaders: list[str] = []
    for seq, event in enumerate(log, start=1):
        fold.apply(seq, event)
        live = fold.settle().live
        if live is not None and event.session.event == "r2":
            title = next(t for t in live.tables if t.kind is TableKind.DRIVERS and t.class_name == "Pro").title
            assert title is not None
            leaders += [c.competitors[0] for c in title.contenders if c.leads]
    assert "P3a" in leaders and leaders[-1] == "P1a"  # as it stands, #3 (81) while it leads, then #1 (50 + 24)
    final = fold.standings()
    assert final is not None and not final.live
    pro = fight(final)
    assert pro.decided and pro.remaining == 0
    assert [(c.competitors, c.points, c.status) for c in pro.contenders] == [(crew("1"), 74, TitleStatus.CHAMPION)]


def test_a_tie_on_the_maximum_is_decided_as_the_rules_say() -> None:
    """#2 can reach 17 + 33 = 50, #1's total: count-back (a win and a second against a win) keeps #2 in it; with
    only the name to separate them, #1 has won."""
    text = FINALE.replace("opening = [50, 48, 48, 47, 10]", "opening = [50, 17, 10, 10, 10]")
    events = list(enumerate(OPENING.events(), start=1))
    counted_back = fold_championship(events, CHAMPIONSHIP, Rulebook(decode_config(text))).standings()
    assert counted_back is not None
    assert [(c.number, c.status) for c in fight(counted_back).contenders] == [
        ("1", TitleStatus.CONTENDER),
        ("2", TitleStatus.CONTENDER),
    ]
    by_name = text.replace('ties = ["countback", "latest_result", "name"]', 'ties = ["name"]')
    named = fold_championship(events, CHAMPIONSHIP, Rulebook(decode_config(by_name))).standings()
    assert named is not None
    assert [(c.number, c.status) for c in fight(named).contenders] == [("1", TitleStatus.CHAMPION)]


# -- properties: every declaration against the results that could still come ---------------------------------------

PROPERTY_CONFIG = f"""
championship = "{CHAMPIONSHIP}"
name = "Properties"
shared_drive = "{{shared}}"
ties = {{ties}}

[[classes]]
name = "Pro"

[scales]
main = {{scale}}

[[points]]
kind = "race"
scale = "main"

[bonus]
pole = {{pole}}
fastest_lap = {{fastest}}
{{drops}}
"""


@st.composite
def seasons(draw: st.DrawFn) -> tuple[Rulebook, list[Car], int, int, bool]:
    rounds = draw(st.integers(2, 4))
    size = draw(st.integers(2, 5))
    best = draw(st.one_of(st.none(), st.integers(1, rounds)))
    text = PROPERTY_CONFIG.format(
        shared=draw(st.sampled_from(["full", "split"])),
        scale=draw(st.sampled_from(["[10, 6, 4, 3, 2, 1]", "[3, 2, 1]", "[1]"])),
        ties=draw(st.sampled_from(['["countback", "name"]', '["countback", "latest_result", "name"]'])),
        pole=draw(st.sampled_from([0, 1])),
        fastest=draw(st.sampled_from([0, 1, 0.5])),
        drops=f'[drops]\nbest = {best}\nunit = "{draw(st.sampled_from(["round", "result"]))}"' if best else "",
    ) + "\n".join(f'[[rounds]]\nevent = "r{i}"\n' for i in range(1, rounds + 1))
    book = Rulebook(decode_config(text))
    cars = [Car(str(n), crew=tuple(f"D{n}{c}" for c in "ab"[: draw(st.integers(1, 2))])) for n in range(1, size + 1)]
    done = draw(st.integers(0, rounds - 1))
    seed = draw(st.integers(0, 2**16))
    return book, cars, done, seed, draw(st.booleans())


def _round(event: str, cars: list[Car], rng: random.Random, book: Rulebook) -> list[Session]:
    numbers = [c.number for c in cars]
    order = rng.sample(numbers, len(numbers))
    retire = {n: rng.randint(1, 9) for n in numbers if rng.random() < 0.25}
    sessions = []
    if book.config.bonus.pole:
        grid = rng.sample(numbers, len(numbers))
        sessions.append(Session(event, cars, grid, name="qualifying", kind=SessionKind.QUALIFYING))
    fastest = tuple(rng.sample(numbers, rng.randint(1, 2)))
    sessions.append(Session(event, cars, order, retire=retire, fastest=fastest))
    return sessions


def _champions(standings: Standings) -> str:
    return table(standings, TableKind.DRIVERS, "Pro").rows[0].competitor


def _events(book: Rulebook, cars: list[Car], rounds: range, rng: random.Random) -> list[Event]:
    return [e for i in rounds for s in _round(f"r{i}", cars, rng, book) for e in s.events()]


@settings(max_examples=80, deadline=None)
@given(seasons())
def test_nobody_declared_out_ever_wins_and_a_title_won_stays_won(
    season: tuple[Rulebook, list[Car], int, int, bool],
) -> None:
    """Declared after ``done`` rounds (and the next round's qualifying, when ``started``), then the rest of the
    season played out six different ways."""
    book, cars, done, seed, started = season
    rng = random.Random(seed)
    events = _events(book, cars, range(1, done + 1), rng)
    if started and book.config.bonus.pole:
        events += _round(f"r{done + 1}", cars, rng, book)[0].events()  # its qualifying: the pole is decided
    before = fold_championship(enumerate(events, start=1), CHAMPIONSHIP, book).standings()
    assert before is not None
    title = table(before, TableKind.DRIVERS, "Pro").title
    assert title is not None or not events
    contenders = title.contenders if title is not None else []
    in_it = {name for c in contenders for name in c.competitors}
    won = [c for c in contenders if c.status is TitleStatus.CHAMPION]
    assert not won or len(contenders) == 1, "a title won leaves nobody else in it"
    for _ in range(6):
        rest = _events(book, cars, range(done + 1, len(book.rounds) + 1), rng)
        if started and book.config.bonus.pole:
            rest = [e for e in rest if e.session.key != events[-1].session.key]  # that qualifying is done
        after = fold_championship(enumerate([*events, *rest], start=1), CHAMPIONSHIP, book).standings()
        assert after is not None
        champion = table(after, TableKind.DRIVERS, "Pro").rows[0].competitor
        if title is not None:
            assert champion in in_it, f"{champion} won after being declared out"
            assert not won or champion in won[0].competitors, f"{won[0].competitors} had won; {champion} took it"


@settings(max_examples=40, deadline=None)
@given(seasons())
def test_the_live_standings_are_the_declared_standings_once_results_are_declared(
    season: tuple[Rulebook, list[Car], int, int, bool],
) -> None:
    book, cars, done, seed, _ = season
    rng = random.Random(seed)
    fold = ChampionshipFold(CHAMPIONSHIP, book)
    settled = None
    for seq, event in enumerate(_events(book, cars, range(1, done + 2), rng), start=1):
        fold.apply(seq, event)
        settled = fold.settle()
    assert settled is not None and settled.standings is not None and settled.live is not None
    declared, live = settled.standings, settled.live
    assert not declared.live and not live.live
    for held, shown in zip(live.tables, declared.tables, strict=True):
        assert [(r.position, r.competitor, r.points) for r in held.rows] == [
            (r.position, r.competitor, r.points) for r in shown.rows
        ]
        assert held.title == shown.title
