"""The season's rounds from its calendar: one rulebook for an era, the rounds and the split of dropped scores from
each season's calendar, a cancelled round with no rewrite of the rules."""

from __future__ import annotations

from datetime import UTC, datetime

from schemas.events import (
    AdjustmentKind,
    CalendarPublished,
    Event,
    PointsAdjusted,
    PointsRole,
    ScheduledRound,
    ScheduledSession,
    SessionCancelled,
    SessionKind,
    SessionRef,
    TableKind,
)
from schemas.standings import ScoreState
from services.standings.config import decode_config
from services.standings.fold import ChampionshipFold
from services.standings.rulebook import Rulebook
from services.standings.title import chances
from tests.standings.season import BASE_CONFIG, CHAMPIONSHIP, Session, cars, points, row

ERA = (
    BASE_CONFIG
    + """
[bonus]
pole = 1

[[drops.parts]]
best = 1

[[drops.parts]]
best = 1

[[rounds]]
event = "finale"
multiplier = 2
"""
)
"""An era's rulebook: no rounds of its own but the rules of the one it names; best 1 of each half of the season."""


def _at(day: int, hour: int) -> int:
    return int(datetime(2026, 4, day, hour, tzinfo=UTC).timestamp() * 1000)


def _round(event: str, day: int, *, sprint: bool = False) -> ScheduledRound:
    sessions = [
        ScheduledSession(
            session="practice", name="Practice", kind=SessionKind.PRACTICE, start=_at(day, 8), end=_at(day, 9)
        ),
        ScheduledSession(
            session="qualifying", name="Qualifying", kind=SessionKind.QUALIFYING, start=_at(day, 10),
            end=_at(day, 11), points=PointsRole.POLE,
        ),
        ScheduledSession(
            session="race", name="Race", kind=SessionKind.RACE, start=_at(day, 14), end=_at(day, 16),
            points=PointsRole.POINTS,
        ),
    ]  # fmt: skip
    if sprint:
        sessions.append(
            ScheduledSession(
                session="sprint", name="Sprint", kind=SessionKind.RACE, start=_at(day, 12), end=_at(day, 13),
                points=PointsRole.NONE,
            )
        )  # fmt: skip
    return ScheduledRound(event=event, name=event.title(), circuit="Monza", time_zone="Europe/Rome", sessions=sessions)


SEASON = CalendarPublished(
    name="Test Series 2026",
    rounds=[_round("opener", 5), _round("middle", 12, sprint=True), _round("spare", 19), _round("finale", 26)],
)


def calendar_event(body: object, at: int = 1, id: str = "cal") -> Event:
    return Event(id=id, session=SessionRef.calendar_of(CHAMPIONSHIP), producer="ops", at=at, body=body)  # type: ignore[arg-type]


def test_the_rounds_and_the_halves_of_the_season_are_the_calendars() -> None:
    book = Rulebook(decode_config(ERA, "era.toml"), SEASON)
    assert [(r.index, r.event, r.name) for r in book.rounds.values()] == [
        (1, "opener", "Opener"),
        (2, "middle", "Middle"),
        (3, "spare", "Spare"),
        (4, "finale", "Finale"),
    ]
    assert [(p.first, p.last) for p in book.parts] == [(1, 2), (3, 4)]
    assert book.round("finale").multiplier == 2 and book.round("opener").multiplier == 1  # the rules it names
    middle = book.round("middle")
    assert middle.rule_for("sprint", SessionKind.RACE) is None  # the calendar: scores nothing
    scored = middle.rule_for("race", SessionKind.RACE)
    assert scored is not None and (scored.kind, scored.scale.name) == (SessionKind.RACE, "main")
    assert [(c.session, c.race, c.pole) for c in chances(book, "middle")] == [
        ("qualifying", False, True),
        ("race", True, False),
    ]  # what is still on offer there: the pole and the race (not the practice, not the sprint)
    assert list(Rulebook(decode_config(ERA, "era.toml")).rounds) == ["finale"]  # without a calendar: the config's


def test_a_cancelled_round_needs_no_rewrite_of_the_rules() -> None:
    fold = ChampionshipFold(CHAMPIONSHIP, Rulebook(decode_config(ERA, "era.toml")))
    grid = cars("1", "2")
    log = [
        calendar_event(SEASON),
        *Session("opener", grid, ["1", "2"]).events(),
        *Session("middle", grid, ["2", "1"]).events(),
        *Session("middle", grid, ["1", "2"], name="sprint").events(),  # scores nothing: the calendar says so
        *Session("spare", grid, ["2", "1"]).events(),
    ]
    for seq, event in enumerate(log, start=1):
        assert fold.apply(seq, event) is None
    fold.settle()
    ruling = PointsAdjusted(
        decision="D1", kind=AdjustmentKind.DEDUCTION, table=TableKind.DRIVERS, competitor="Driver 1", points=1
    )
    fold.apply(len(log) + 1, Event(id="d1", session=SessionRef.championship_of(CHAMPIONSHIP), producer="ops", at=2,
                                   body=ruling))  # fmt: skip
    standings = fold.settle().standings
    assert standings is not None
    assert [s.points for s in row(standings, "Driver 1").rounds] == [10, 6, 6]
    assert points(standings) == {"Driver 1": 10 + 6 - 1, "Driver 2": 10 + 10}  # best 1 of rounds 1-2 and of 3-4
    cancelled = [
        calendar_event(SessionCancelled(event="spare", session=s.session, reason="flooding"), at=3, id=f"c{i}")
        for i, s in enumerate(SEASON.rounds[2].sessions)
    ]
    for seq, event in enumerate(cancelled, start=len(log) + 2):
        assert fold.apply(seq, event) is None
    standings = fold.settle().standings
    assert standings is not None
    assert [r.event for r in standings.rounds] == ["opener", "middle", "finale"]
    assert [(p.first, p.last) for p in fold.season.book.parts] == [(1, 2), (3, 3)]  # type: ignore[union-attr]
    driver = row(standings, "Driver 1")
    assert [(s.round, s.state) for s in driver.rounds] == [
        ("opener", ScoreState.COUNTED),
        ("middle", ScoreState.DROPPED),
    ]
    assert points(standings) == {"Driver 1": 10 - 1, "Driver 2": 10}  # the deduction carried over
