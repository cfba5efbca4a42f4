"""Al Kamel adapter against the official WEC lap charts (read in place from ../shared/data, skipped when absent).

The check: fold the events of the whole chart; the final order, laps and
class positions must be those of the chart ordered by laps, then by the time
the last lap ended (``ELAPSED``), which reproduces the official result; and
the cars that took the chequered flag (state ``finished``) must be exactly
those with an ``FF`` row. Both files agree on every car (36 each).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path

import pytest

from schemas.events import Event, SessionLength, SessionRef, decode_event, encode_event
from schemas.results import CarState, Classification
from services.classification.fold import ClassificationProjection, fold_log
from services.feeds.alkamel.parser import AnalysisChart, LapRow, car_number, parse_analysis, read_analysis

ALKAMEL = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "alkamel"
SESSION = SessionRef(championship="wec", event="real", session="race")


@dataclass(frozen=True)
class Chart:
    day: date
    time_zone: str
    cars: int
    flagged: int
    winner: str


CHARTS = {
    "wec-2024-fuji-6h.csv": Chart(date(2024, 9, 15), "Asia/Tokyo", cars=36, flagged=29, winner="6"),
    "wec-2025-spa-6h.csv": Chart(date(2025, 5, 10), "Europe/Brussels", cars=36, flagged=30, winner="51"),
}


def chart_path(name: str) -> Path:
    path = ALKAMEL / name
    if not path.is_file():
        pytest.skip(f"real chart not available: {path}")
    return path


@cache
def chart(name: str) -> AnalysisChart:
    return read_analysis(chart_path(name))


@cache
def events(name: str) -> tuple[Event, ...]:
    spec = CHARTS[name]
    return tuple(
        parse_analysis(
            chart_path(name),
            SESSION,
            "alkamel",
            name="6 Hours",
            day=spec.day,
            time_zone=spec.time_zone,
            length=SessionLength(time_ms=6 * 3_600_000),
        )
    )


@cache
def classification(name: str) -> Classification:
    return fold_log(enumerate(events(name), 1)).sessions[SESSION.key].classification()


def last_laps(rows: list[LapRow]) -> list[LapRow]:
    last: dict[str, LapRow] = {}
    for row in rows:
        if row.number not in last or row.lap > last[row.number].lap:
            last[row.number] = row
    return sorted(last.values(), key=lambda row: (-row.lap, row.elapsed_ms))


@pytest.mark.parametrize("name", sorted(CHARTS))
def test_every_row_is_read_and_every_event_is_valid(name: str) -> None:
    read = chart(name)
    assert read.skipped == []
    lines = chart_path(name).read_bytes().count(b"\n")
    assert len(read.rows) == lines - 1
    projection = ClassificationProjection()
    for seq, event in enumerate(events(name), 1):
        assert decode_event(encode_event(event)) == event
        assert projection.apply(seq, event) is None


@pytest.mark.parametrize("name", sorted(CHARTS))
def test_final_order_laps_and_class_positions_match_the_chart(name: str) -> None:
    expected = []
    per_class: dict[str, int] = {}
    for row in last_laps(chart(name).rows):
        per_class[row.class_name] = per_class.get(row.class_name, 0) + 1
        expected.append((car_number(row.number), row.lap, row.class_name, per_class[row.class_name]))
    result = classification(name)
    got = [(car.number, car.laps, car.class_name, car.class_position) for car in result.cars]
    assert got == expected
    assert len(got) == CHARTS[name].cars
    assert result.cars[0].number == CHARTS[name].winner
    assert [car.position for car in result.cars] == list(range(1, len(got) + 1))


@pytest.mark.parametrize("name", sorted(CHARTS))
def test_the_cars_that_took_the_flag_are_the_ff_rows(name: str) -> None:
    flagged = {car_number(row.number) for row in chart(name).rows if row.flag == "FF"}
    assert len(flagged) == CHARTS[name].flagged
    finished = {car.number for car in classification(name).cars if car.state is CarState.FINISHED}
    assert finished == flagged
    assert {car.number for car in classification(name).cars if car.took_flag} == flagged


@pytest.mark.parametrize("name", sorted(CHARTS))
def test_reading_a_chart_twice_gives_the_same_ids(name: str) -> None:
    spec = CHARTS[name]
    again = parse_analysis(chart_path(name), SESSION, "alkamel", day=spec.day, time_zone=spec.time_zone)
    assert [e.id for e in again] == [e.id for e in events(name)]


@pytest.mark.parametrize("name", sorted(CHARTS))
def test_pit_stops_driver_changes_and_flags(name: str) -> None:
    rows = chart(name).rows
    kinds: dict[str, int] = {}
    for event in events(name):
        kinds[type(event.body).__name__] = kinds.get(type(event.body).__name__, 0) + 1
    assert kinds["PitIn"] == sum(row.in_pit for row in rows)
    assert kinds["PitOut"] == sum(row.pit_ms is not None and row.lap > 1 for row in rows)
    assert kinds["LapCompleted"] == len(rows)
    assert kinds["SessionFinished"] == 1
    assert kinds["DriverChanged"] > 0
    assert kinds["FlagChanged"] >= 2
    stops = {car.number: car.pit_stops for car in classification(name).cars}
    assert sum(stops.values()) == kinds["PitIn"]
