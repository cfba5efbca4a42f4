"""The shipped configurations score seasons as their series do."""

from __future__ import annotations

from schemas.events import SessionKind
from schemas.standings import AwardKind, TableKind
from services.standings.config import CONFIGS, load_rulebook
from tests.standings.season import Car, Session, points, row, run

HOUR_LAPS = 36
"""Laps of 100 s in an hour."""


def test_gt_endurance_three_hours_and_the_24_hours_with_points_at_6_and_12_hours() -> None:
    book = load_rulebook(CONFIGS / "gt-endurance.toml")
    grid = [Car("1", "Pro"), Car("4", "Pro"), Car("2", "Pro-Am"), Car("3", "Am")]

    def session(event: str, finish: list[str], **kw: object) -> Session:
        return Session(event, grid, finish, championship="gtes-2026", **kw)  # type: ignore[arg-type]

    monza = [
        session("monza", ["4", "1", "2", "3"], name="qualifying", kind=SessionKind.QUALIFYING),
        session("monza", ["1", "4", "2", "3"], laps=3 * HOUR_LAPS),
    ]
    # car 4 leads the 24 hours until it retires after 8 hours: points at 6 h, none at 12 h or the finish
    spa = session("spa-24h", ["4", "1", "2", "3"], laps=24 * HOUR_LAPS, retire={"4": 8 * HOUR_LAPS})
    result = run(book, *monza, spa)
    assert points(result) == {"Driver 1": 25 + (9 + 12 + 25), "Driver 4": (18 + 1) + 12}
    assert points(result, class_name="Pro-Am") == {"Driver 2": (25 + 1) + (12 + 12 + 25)}  # alone: pole too
    assert points(result, class_name="Am") == {"Driver 3": (25 + 1) + (12 + 12 + 25)}
    spa_awards = row(result, "Driver 1").rounds[1].awards
    assert [(a.kind, a.points, a.detail) for a in spa_awards] == [
        (AwardKind.POSITION, 25, "class P1 (three-hours)"),
        (AwardKind.INTERMEDIATE, 9, "6 h: class P2 (intermediate)"),
        (AwardKind.INTERMEDIATE, 12, "12 h: class P1 (intermediate)"),
    ]
    assert [t.label for t in result.tables][:3] == ["Drivers — Pro", "Drivers — Pro-Am", "Drivers — Gentlemen"]
    finale = run(book, session("nurburgring", ["4", "1", "2", "3"], laps=60))
    assert points(finale) == {"Driver 4": 33, "Driver 1": 24}


def test_wec_le_mans_scale_pole_and_minimum_drive_time() -> None:
    book = load_rulebook(CONFIGS / "wec.toml")
    grid = [
        Car("7", "HYPERCAR", crew=("Ann", "Bob", "Cy"), manufacturer="Toyota"),
        Car("8", "HYPERCAR", crew=("Dee", "Eve"), manufacturer="Toyota"),
        Car("50", "HYPERCAR", crew=("Fay",), manufacturer="Ferrari"),
    ]

    def session(event: str, finish: list[str], **kw: object) -> Session:
        return Session(event, grid, finish, championship="wec-2024", **kw)  # type: ignore[arg-type]

    imola = [
        session("imola", ["8", "7", "50"], name="qualifying", kind=SessionKind.QUALIFYING),
        # Ann drives 100 laps, Bob the rest, Cy never: the minimum is an hour
        session("imola", ["7", "50", "8"], laps=6 * HOUR_LAPS, swap={"7": 100}),
    ]
    le_mans = session("le-mans", ["50", "7", "8"], laps=24 * HOUR_LAPS, swap={"7": 400, "8": 100})
    result = run(book, *imola, le_mans)
    drivers = points(result, class_name="HYPERCAR")
    assert drivers["Ann"] == drivers["Bob"] == 25 + 36
    assert drivers["Cy"] == 0
    assert drivers["Dee"] == (1 + 15) + 0  # under the 4 hours of Le Mans
    assert drivers["Eve"] == 1 + 30  # the pole, not the race she did not drive at Imola
    assert drivers["Fay"] == 18 + 50
    toyota = (25 + 15 + 1) + (36 + 30)  # both cars count
    assert points(result, TableKind.MANUFACTURERS, "HYPERCAR") == {"Toyota": toyota, "Ferrari": 68}
