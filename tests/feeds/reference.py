"""The feed's own scoreboard as the reference for a classification: what Orbits showed last for every car.

:func:`last_rows` reads a capture's records as the feed follows them (the rows of a run it does not follow do not
count) and keeps each car's last ``$G`` and ``$H``; :func:`differences` lists
where a classification disagrees with them: laps, best lap, a car missing, and the order (by ``$G`` position in a
race, by ``$H`` position in practice and qualifying) of the cars that agree; :func:`cut` makes a capture joined late
with a hole in it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from schemas.events import SessionKind
from schemas.results import Classification
from services.feeds.rmonitor.pace import Line
from services.feeds.rmonitor.parser import PracticePosition, RacePosition, RMonitorRecord, RunInfo

IDLE_RUNS = (95,)


@dataclass
class Row:
    position: int | None = None
    laps: int | None = None
    total_ms: int | None = None
    best_position: int | None = None
    best_ms: int | None = None


def last_rows(records: Iterable[RMonitorRecord]) -> dict[str, Row]:
    """Each car's last ``$G``/``$H`` in the run followed (the first that is not idle)."""
    rows: dict[str, Row] = {}
    followed: int | None = None
    following = True
    for record in records:
        if isinstance(record, RunInfo):
            if followed is None and record.run not in IDLE_RUNS:
                followed = record.run
            following = record.run == followed
        elif not following:
            continue
        elif isinstance(record, RacePosition):
            row = rows.setdefault(record.registration, Row())
            row.position, row.laps, row.total_ms = record.position, record.laps, record.total_ms
        elif isinstance(record, PracticePosition):
            row = rows.setdefault(record.registration, Row())
            row.best_position, row.best_ms = record.position, record.best_ms
    return rows


def differences(result: Classification, rows: dict[str, Row]) -> set[tuple[str, str]]:
    """``(car, what)`` where the classification and the feed's last rows disagree: ``laps``, ``best``,
    ``missing`` (a car with laps on the scoreboard, not classified), ``order``."""
    ours = {car.number: car for car in result.cars}
    found: set[tuple[str, str]] = set()
    for number, row in rows.items():
        car = ours.get(number)
        if car is None:
            if row.laps:
                found.add((number, "missing"))
            continue
        if row.laps is not None and car.laps != row.laps:
            found.add((number, "laps"))
        if row.best_ms != car.best_lap_ms and (row.best_ms is not None or car.laps):
            found.add((number, "best"))
    race = result.kind is SessionKind.RACE

    def place(number: str) -> int | None:
        row = rows[number]
        return row.position if race else row.best_position

    def ahead(first: str, second: str) -> bool:
        """The feed's rows put ``first`` ahead of ``second``, and agree with each other on it (a row not re-sent
        after a hole in a capture can be out of date: two rows then contradict each other)."""
        a, b = rows[first], rows[second]
        if race:
            order = (-(a.laps or 0), a.total_ms or 0) <= (-(b.laps or 0), b.total_ms or 0)
            return place(first) < place(second) and order  # type: ignore[operator]
        return place(first) < place(second) and (a.best_ms or 0) <= (b.best_ms or 0)  # type: ignore[operator]

    agreeing = [
        car.number
        for car in result.cars
        if car.number in rows
        and not {(car.number, "laps"), (car.number, "best")} & found
        and place(car.number) is not None
        and (car.laps if race else car.best_lap_ms)
    ]
    for i, first in enumerate(agreeing):
        for second in agreeing[i + 1 :]:
            if ahead(second, first):
                found |= {(first, "order"), (second, "order")}
    return found


CUT_START = 0.4
"""Share of a capture's lines a cut drops at its start."""
HOLE_S = 300
"""Seconds of a capture a cut drops in the middle of what is left (a third of it, for a shorter capture)."""


def cut(lines: list[Line]) -> list[Line]:
    """A capture joined late, with a hole: the first :data:`CUT_START` of its lines dropped, then
    :data:`HOLE_S` seconds in the middle of the rest (by the ``##`` stamps, else by the ``$F`` heartbeats,
    one a second)."""
    lines = lines[int(len(lines) * CUT_START) :]
    stamps = [arrival for _, arrival, _ in lines if arrival is not None]
    if stamps:
        span = stamps[-1] - stamps[0]
        hole = min(HOLE_S, span / 3)
        start = stamps[0] + (span - hole) / 2
        return [line for line in lines if line[1] is None or not start <= line[1] < start + hole]
    beats = [i for i, (_, _, text) in enumerate(lines) if text.startswith("$F")]
    hole = min(HOLE_S, len(beats) // 3)
    first = (len(beats) - hole) // 2
    return lines[: beats[first]] + lines[beats[first + hole] :]
