"""The chronological analysis CSV in the Al Kamel layout: what chequered exports, its importer reads back to the
same classification."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import msgspec
import pytest

from schemas.events import Event, SessionOpened, SessionRef
from schemas.results import Classification, ResultStatus
from services.analysis.analyst import analyse
from services.classification.fold import SessionFold, fold_log
from services.documents.alkamel import HEADER, chronological_csv
from services.feeds.alkamel.options import AlKamelOptions
from services.feeds.alkamel.parser import parse_analysis, parse_time_ms
from services.simulator.endurance import RaceSpec, simulate

OUT = {ResultStatus.DID_NOT_FINISH, ResultStatus.NOT_CLASSIFIED}


def fold(events: list[Event]) -> SessionFold:
    return next(iter(fold_log(enumerate(events, start=1)).sessions.values()))


def imported(data: bytes, state: SessionFold) -> SessionFold:
    """The chart read back for the same session, day and zone, under the source's rules (the importer's default
    rules are those of the series whose charts it reads)."""
    assert state.opened is not None and state.started_at is not None
    zone = state.opened.time_zone
    day = datetime.fromtimestamp(state.started_at / 1000, ZoneInfo(zone)).date()
    events = parse_analysis(data, state.session, AlKamelOptions(day=day, time_zone=zone))
    rules = state.opened.rules
    return fold(
        [
            msgspec.structs.replace(e, body=msgspec.structs.replace(e.body, rules=rules))
            if isinstance(e.body, SessionOpened)
            else e
            for e in events
        ]
    )


def result(classification: Classification) -> list[tuple[object, ...]]:
    """What a chart carries of a classification. A retirement is not in a chart: the importer infers one from a
    missing chequered-flag row (or, before that rule, leaves the car not classified): both are out of the result
    at the same place."""
    return [
        (
            c.position, c.number, c.class_name, c.class_position, c.team, c.laps, c.total_time_ms, c.gap,
            c.interval, c.class_gap, c.best_lap_ms, c.best_lap, c.pit_stops, c.took_flag, c.driver,
            "out" if c.status in OUT else c.status,
        )
        for c in classification.cars
    ]  # fmt: skip


def test_a_simulated_race_exported_and_imported_again_gives_the_same_classification() -> None:
    source = fold(simulate(RaceSpec(seed=11, cars=20, duration_ms=2 * 3_600_000)))
    data = chronological_csv(analyse(source))
    back = imported(data, source)
    assert (back.started_at, back.chequered_at) == (source.started_at, source.chequered_at)
    assert result(back.classification()) == result(source.classification())
    assert {n: [stop.pit_out for stop in car.stops] for n, car in back.cars.items()} == {
        n: [stop.pit_out for stop in car.stops] for n, car in source.cars.items()
    }, "pit exits come back to the millisecond"


def test_the_layout_is_the_official_one() -> None:
    source = fold(simulate(RaceSpec(seed=4, cars=6, duration_ms=2 * 3_600_000)))
    data = chronological_csv(analyse(source))
    assert data.startswith(b"\xef\xbb\xbf" + HEADER.encode() + b"\r\n")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    header = [name.strip() for name in rows[0]]
    body = [dict(zip(header, row, strict=False)) for row in rows[1:]]
    assert all(row[""] == "" for row in body), "every row ends with the separator"
    assert sum(row["LAP_IMPROVEMENT"] == "3" for row in body) == 1
    assert sum(row["LAP_IMPROVEMENT"] == "2" for row in body) == 5  # every other car's best lap
    assert sum(row["FLAG_AT_FL"] == "FF" for row in body) == sum(c.took_flag for c in source.classification().cars)
    assert {row["CROSSING_FINISH_LINE_IN_PIT"] for row in body} == {"", "B"}
    first = body[0]
    assert first["LAP_NUMBER"] == "1" and first["HOUR"].startswith("15:0")  # 15:00 local at Monza, plus a lap
    sectors = sum(parse_time_ms(first[f"S{i}_SECONDS"]) or 0 for i in (1, 2, 3))
    assert sectors == parse_time_ms(first["LAP_TIME"])


CHARTS = (
    ("wec-2024-fuji-6h.csv", date(2024, 9, 15), "Asia/Tokyo"),
    ("wec-2025-spa-6h.csv", date(2025, 5, 10), "Europe/Brussels"),
    ("wec-2025-le-mans-24h.csv", date(2025, 6, 14), "Europe/Paris"),
)


@pytest.mark.parametrize(("name", "day", "zone"), CHARTS)
def test_a_real_chart_imported_exported_and_imported_again(shared_data: Path, name: str, day: date, zone: str) -> None:
    """The official WEC lap charts of Fuji 2024, Spa 2025 and Le Mans 2025 (Al Kamel, as collected in
    y047aka/elm-motorsport-analysis; ../shared/data/alkamel): chequered's export of each keeps every lap of every
    car, with its time, driver and flag-taking row, and reads back to the same classification."""
    original = (shared_data / "alkamel" / name).read_bytes()
    session = SessionRef("wec", "round", "race")
    state = fold(parse_analysis(original, session, AlKamelOptions(day=day, time_zone=zone)))
    exported = chronological_csv(analyse(state))
    back = imported(exported, state)
    assert result(back.classification()) == result(state.classification())

    def laps(data: bytes) -> set[tuple[str, ...]]:
        rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
        header = [name.strip() for name in rows[0]]
        keep = [header.index(c) for c in ("NUMBER", "LAP_NUMBER", "LAP_TIME", "DRIVER_NAME", "ELAPSED")]
        flag = header.index("FLAG_AT_FL")
        return {(*(row[i].strip() for i in keep), str(row[flag] == "FF")) for row in rows[1:] if len(row) > flag}

    assert laps(exported) == laps(original)
