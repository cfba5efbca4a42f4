"""Al Kamel analysis CSV reader and mapper, on small charts written here (every quirk of docs/feeds.md)."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import msgspec
import pytest

from schemas import events
from schemas.results import CarState
from services.feeds.alkamel.options import AlKamelOptions
from services.feeds.alkamel.parser import (
    AnalysisError,
    analysis_events,
    car_number,
    parse_analysis,
    parse_time_ms,
    read_analysis,
    start_time_of_day,
)
from services.feeds.ids import event_id
from tests.factory import classify
from tests.feeds.contract import SESSION as CONTRACT_SESSION
from tests.feeds.contract import FeedContract, Mapped
from tests.feeds.typed import of

SESSION = events.SessionRef(championship="wec", event="test", session="race")
HEADER = (
    "NUMBER; DRIVER_NUMBER; LAP_NUMBER; LAP_TIME; LAP_IMPROVEMENT; CROSSING_FINISH_LINE_IN_PIT; S1; S1_IMPROVEMENT;"
    " S2; S2_IMPROVEMENT; S3; S3_IMPROVEMENT; KPH; ELAPSED; HOUR;S1_LARGE;S2_LARGE;S3_LARGE;TOP_SPEED;DRIVER_NAME;"
    "PIT_TIME;CLASS;GROUP;TEAM;MANUFACTURER;FLAG_AT_FL;S1_SECONDS;S2_SECONDS;S3_SECONDS;"
)
CARS = {
    "7": ("HYPERCAR", "Toyota Gazoo Racing", "Toyota"),
    "51": ("HYPERCAR", "Ferrari AF Corse", "Ferrari"),
    "007": ("LMGT3", "Aston Martin THOR Team", "Aston Martin"),
}
START = 23 * 3600 + 50 * 60  # 23:50:00.000 local: HOUR wraps at midnight during the race


def clock(ms: int, hours: bool = False) -> str:
    """``M:SS.sss`` (or ``H:MM:SS.sss``) as the chart writes times."""
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, milli = divmod(rest, 1000)
    if h or hours:
        return f"{h}:{m:02d}:{s:02d}.{milli:03d}"
    return f"{m}:{s:02d}.{milli:03d}"


def row(
    number: str,
    lap: int,
    lap_ms: int,
    elapsed_ms: int,
    driver: tuple[int, str],
    flag: str = "GF",
    pit: str = "",
    pit_ms: int | None = None,
) -> str:
    cls, team, make = CARS[number]
    third = lap_ms // 3
    sectors = [third, third, lap_ms - 2 * third]
    hour = (START * 1000 + elapsed_ms) % 86_400_000
    return ";".join(
        [
            number,
            str(driver[0]),
            str(lap),
            clock(lap_ms),
            "0",
            pit,
            clock(sectors[0]) if sectors[0] >= 60_000 else f"{sectors[0] / 1000:.3f}",
            "0",
            clock(sectors[1]),
            "0",
            clock(sectors[2]),
            "0",
            "160.7",
            clock(elapsed_ms),
            clock(hour, hours=True),
            clock(sectors[0]),
            clock(sectors[1]),
            clock(sectors[2]),
            "",
            driver[1],
            clock(pit_ms, hours=True) if pit_ms else "",
            cls,
            "H",
            team,
            make,
            flag,
            "",
            "",
            "",
            "",
        ]
    )


A, B, C, D, E = (1, "Kamui KOBAYASHI"), (2, "Nyck DE VRIES"), (1, "Antonio FUOCO"), (1, "Alex RIBERIRO"), (2, "Mo ALI")


def chart_lines() -> list[str]:
    """Three cars, four laps; #7 pits at lap 2 and changes driver; FCY then SC; #007 is lapped; FF at the end."""
    return [
        row("7", 1, 95_000, 95_000, A),
        row("51", 1, 96_000, 96_000, C),
        row("007", 1, 105_000, 105_000, D),
        row("7", 2, 100_000, 195_000, A, flag="FCY", pit="B"),
        row("51", 2, 101_000, 197_000, C, flag="FCY"),
        row("007", 2, 110_000, 215_000, D, flag="SF"),
        row("7", 3, 180_000, 375_000, B, flag="SF", pit_ms=70_000),
        row("51", 3, 120_000, 317_000, C, flag="SF"),
        row("007", 3, 130_000, 345_000, D, flag="SF"),
        row("51", 4, 90_000, 407_000, C),
        row("7", 4, 90_000, 465_000, B, flag="FF"),
        row("51", 5, 90_000, 497_000, C, flag="FF"),
        row("007", 4, 3_700_123, 4_045_123, E, flag="FF"),  # a lap longer than an hour: H:MM:SS.sss
    ]


def write(tmp_path: Path, lines: list[str], bom: bool = True) -> Path:
    path = tmp_path / "analysis.csv"
    text = "\r\n".join([HEADER, *lines]) + "\r\n"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode())
    return path


def events_of(path: Path, **options: object) -> list[events.Event]:
    options.setdefault("day", date(2025, 6, 14))
    options.setdefault("time_zone", "Europe/Paris")
    log = parse_analysis(path, SESSION, msgspec.structs.replace(AlKamelOptions(producer="alkamel-test"), **options))
    for event in log:
        assert events.decode_event(events.encode_event(event)) == event
    return log


def start_instant() -> int:
    return int(datetime(2025, 6, 14, 23, 50, tzinfo=ZoneInfo("Europe/Paris")).timestamp() * 1000)


# -- reading -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("23.155", 23_155),
        ("1:35.365", 95_365),
        ("0:01:22.086", 82_086),
        ("5:58:13.830", 21_493_830),
        ("24:00:01.5", 86_401_500),
        ("1:00:00:01.500", 86_401_500),
        ("", None),
    ],
)
def test_time_formats(text: str, ms: int | None) -> None:
    assert parse_time_ms(text) == ms


def test_reads_bom_spaced_header_and_trailing_separator(tmp_path: Path) -> None:
    chart = read_analysis(write(tmp_path, chart_lines()))
    assert chart.skipped == []
    assert len(chart.rows) == 13
    first = chart.rows[0]
    assert (first.number, first.lap, first.lap_ms, first.elapsed_ms) == ("7", 1, 95_000, 95_000)
    assert (first.driver_slot, first.driver, first.class_name, first.team) == (
        1,
        "Kamui KOBAYASHI",
        "HYPERCAR",
        "Toyota Gazoo Racing",
    )
    assert first.hour_ms == (START + 95) * 1000
    assert chart.rows[3].in_pit and chart.rows[6].pit_ms == 70_000
    assert chart.rows[-1].lap_ms == 3_700_123


def test_reads_without_bom_and_from_bytes(tmp_path: Path) -> None:
    path = write(tmp_path, chart_lines(), bom=False)
    assert read_analysis(path) == read_analysis(path.read_bytes())


def test_unreadable_rows_are_skipped_with_their_line(tmp_path: Path) -> None:
    lines = chart_lines()
    lines.insert(1, lines[1].replace("1:36.000", "soon", 1).replace(";1:36.000;", ";later;"))
    lines.insert(2, ";;;;;")
    chart = read_analysis(write(tmp_path, lines))
    assert len(chart.rows) == 13
    assert [line for line, _ in chart.skipped] == [3]


def test_missing_columns_are_an_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("NUMBER;LAP_TIME;\n7;1:35.000;\n")
    with pytest.raises(AnalysisError, match="ELAPSED"):
        read_analysis(path)


def test_start_time_of_day_wraps_at_midnight(tmp_path: Path) -> None:
    rows = read_analysis(write(tmp_path, chart_lines())).rows
    assert start_time_of_day(rows) == START * 1000
    assert any(r.hour_ms is not None and r.hour_ms < START * 1000 for r in rows)  # HOUR did wrap


def test_car_numbers() -> None:
    assert car_number("007") == "007"
    assert car_number(" 12 ") == "12"
    assert car_number("12-X") == "12X"
    with pytest.raises(ValueError):
        car_number("--")


# -- mapping ------------------------------------------------------------------------------------------


def test_session_entries_and_start(tmp_path: Path) -> None:
    log = events_of(write(tmp_path, chart_lines()), name="6 Hours", length=events.SessionLength(time_ms=6 * 3_600_000))
    opened, *_ = log
    assert isinstance(opened.body, events.SessionOpened)
    assert (opened.body.name, opened.body.kind, opened.body.time_zone) == (
        "6 Hours",
        events.SessionKind.RACE,
        "Europe/Paris",
    )
    assert opened.body.scheduled_start == "2025-06-14T23:50:00+02:00"
    start = start_instant()
    assert opened.at == start
    assert [e.at for e in of(log, events.SessionStarted)] == [start]
    entries = {e.body.number: e.body for e in of(log, events.EntryRegistered)}
    assert set(entries) == {"7", "51", "007"}
    assert [d.name for d in entries["7"].crew] == ["Kamui KOBAYASHI", "Nyck DE VRIES"]
    assert [d.name for d in entries["007"].crew] == ["Alex RIBERIRO", "Mo ALI"]
    assert (entries["51"].class_name, entries["51"].team, entries["51"].manufacturer) == (
        "HYPERCAR",
        "Ferrari AF Corse",
        "Ferrari",
    )


def test_laps_are_start_plus_elapsed(tmp_path: Path) -> None:
    log = events_of(write(tmp_path, chart_lines()))
    start = start_instant()
    laps = [(e.body.number, e.body.lap, e.at - start) for e in of(log, events.LapCompleted)]
    assert laps[:4] == [("7", 1, 95_000), ("51", 1, 96_000), ("007", 1, 105_000), ("7", 2, 195_000)]
    assert [e.at for e in log] == sorted(e.at for e in log)
    first = of(log, events.LapCompleted)[0].body
    assert (first.lap_time_ms, first.sectors_ms, first.driver, first.in_pit) == (
        95_000,
        [31_666, 31_666, 31_668],
        "Kamui KOBAYASHI",
        False,
    )
    assert [e.id for e in of(log, events.LapCompleted)][:2] == [
        event_id(SESSION, "lap-7-1"),
        event_id(SESSION, "lap-51-1"),
    ]


def test_pit_stop_and_driver_change(tmp_path: Path) -> None:
    log = events_of(write(tmp_path, chart_lines()))
    start = start_instant()
    in_lap = next(e for e in of(log, events.LapCompleted) if e.body.number == "7" and e.body.lap == 2)
    assert in_lap.body.in_pit
    assert [(e.body.number, e.at - start) for e in of(log, events.PitIn)] == [("7", 195_000)]
    assert [(e.body.number, e.at - start) for e in of(log, events.PitOut)] == [("7", 195_000 + 70_000)]
    changes = [(e.body.number, e.body.driver, e.at - start) for e in of(log, events.DriverChanged)]
    assert changes == [("7", "Nyck DE VRIES", 265_000), ("007", "Mo ALI", 345_001)]
    order = [type(e.body).__name__ for e in log if e.at - start == 265_000]
    assert order == ["PitOut", "DriverChanged"]
    result = classify(log)
    seven = next(car for car in result.cars if car.number == "7")
    assert (seven.pit_stops, seven.driver) == (1, "Nyck DE VRIES")


def test_flags_follow_the_crossings(tmp_path: Path) -> None:
    log = events_of(write(tmp_path, chart_lines()))
    start = start_instant()
    flags = [(e.body.flag, e.at - start) for e in of(log, events.FlagChanged)]
    assert flags == [
        (events.Flag.FULL_COURSE_YELLOW, 195_000),
        (events.Flag.SAFETY_CAR, 215_000),
        (events.Flag.GREEN, 407_000),
    ]
    assert [e.at - start for e in of(log, events.SessionFinished)] == [465_000]  # the leader's FF crossing


def test_unknown_flags_are_kept_as_unknown(tmp_path: Path) -> None:
    lines = chart_lines()
    lines[1] = lines[1].replace(";GF;", ";XYZ;")
    log = events_of(write(tmp_path, lines))
    assert of(log, events.FlagChanged)[0].body.flag is events.Flag.UNKNOWN


def test_final_classification(tmp_path: Path) -> None:
    log = events_of(write(tmp_path, chart_lines()))
    result = classify(log)
    rows = [(c.position, c.number, c.laps, c.class_position, c.state) for c in result.cars]
    assert rows == [
        (1, "51", 5, 1, CarState.FINISHED),
        (2, "7", 4, 2, CarState.FINISHED),
        (3, "007", 4, 1, CarState.FINISHED),
    ]


def test_elapsed_past_24_hours(tmp_path: Path) -> None:
    lines = [
        row("7", 1, 95_000, 86_300_000, A),
        row("7", 2, 95_000, 86_395_000, A),
        row("7", 3, 95_000, 86_490_000, A, flag="FF"),
    ]
    assert ";24:01:30.000;" in lines[-1]
    log = events_of(write(tmp_path, lines))
    laps = of(log, events.LapCompleted)
    assert laps[-1].at - laps[0].at == 190_000
    assert of(log, events.SessionFinished)[0].at == laps[-1].at


def test_same_chart_same_ids(tmp_path: Path) -> None:
    path = write(tmp_path, chart_lines())
    first, second = events_of(path), events_of(path)
    assert first == second
    assert len({e.id for e in first}) == len(first)
    other = parse_analysis(
        path,
        events.SessionRef(championship="wec", event="test", session="race2"),
        AlKamelOptions(producer="alkamel-test"),
    )
    assert not {e.id for e in other} & {e.id for e in first}  # one producer, two sessions: no id in common


def test_analysis_events_defaults(tmp_path: Path) -> None:
    log = analysis_events(read_analysis(write(tmp_path, chart_lines())), SESSION)
    opened = log[0].body
    assert isinstance(opened, events.SessionOpened)
    assert (opened.name, opened.time_zone, opened.scheduled_start) == ("Race", "UTC", "2000-01-01T23:50:00+00:00")
    assert {e.producer for e in log} == {"alkamel"}


# -- the feed contract ---------------------------------------------------------------------------


class TestAlKamelContract(FeedContract):
    """The feed contract (tests/feeds/contract.py) kept by the Al Kamel chart reader and mapper."""

    def race(self) -> list[str]:
        return chart_lines()

    def glitches(self) -> list[str]:
        good = chart_lines()[1]
        return [good.replace("1:36.000", "soon"), good.replace(";1;1;", ";1;one;", 1), "garbage"]

    def mapped(self, lines: list[str], session: events.SessionRef = CONTRACT_SESSION) -> Mapped:
        text = "\r\n".join([HEADER, *lines]) + "\r\n"
        chart = read_analysis(text.encode())
        log = analysis_events(
            chart, session, AlKamelOptions(producer="alkamel-test", day=date(2025, 6, 14), time_zone="Europe/Paris")
        )
        return Mapped(log, [line - 1 for line, _ in chart.skipped])  # line 1 of the file is its header
