"""The terminal tower fits any width without cutting position, number, laps, gaps or times."""

from __future__ import annotations

import io
import re

from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from schemas.events import Driver, EntryRegistered, Event, Flag, FlagChanged, SessionStarted
from schemas.results import Classification
from services.classification.labels import short_name
from services.classification.timefmt import (
    format_clock,
    format_gap,
    format_laptime,
    format_seconds,
    session_clock,
    since_start,
)
from services.classification.tower import DROP_ORDER, render_tower, table_width
from tests.factory import SessionWriter, classify

NAMES = st.text(alphabet="abcdefghij XYZ-'", min_size=1, max_size=40).map(str.strip).filter(bool)


def race(teams: list[str], drivers: list[str], laps: int, classes: int = 3) -> Classification:
    w = SessionWriter()
    events: list[Event] = [w.opened()]
    for n, (team, driver) in enumerate(zip(teams, drivers, strict=True), start=1):
        crew = [Driver(driver)]
        body = EntryRegistered(
            number=str(n * 7), class_name=f"C{n % classes}", team=team, car="GT3", manufacturer="M", crew=crew
        )
        events.append(w.event(body))
    events.append(w.event(SessionStarted(), 0))
    events += [
        w.lap(str(n * 7), lap, lap * 100_000 + n * 1_357, lap_time_ms=99_000 + n * 17)
        for lap in range(1, laps + 1)
        for n in range(1, len(teams) + 1)
        if lap <= laps - n % 3  # some cars a lap or two down
    ]
    return classify(events)


def rendered(classification: Classification, width: int) -> list[str]:
    """The lines a terminal ``width`` columns wide shows, nothing cropped."""
    console = Console(width=width, file=io.StringIO(), color_system=None, legacy_windows=False)
    console.print(render_tower(classification, width=width), crop=False)
    assert isinstance(console.file, io.StringIO)
    return console.file.getvalue().splitlines()


def car_lines(classification: Classification, lines: list[str]) -> list[str]:
    """The row of each car: the lines after the header rule, one per car."""
    rule = next(i for i, line in enumerate(lines) if set(line.strip()) == {"─"})
    return lines[rule + 1 : rule + 1 + len(classification.cars)]


@settings(max_examples=60, deadline=None)
@given(
    width=st.integers(min_value=20, max_value=220),
    names=st.lists(st.tuples(NAMES, NAMES), min_size=1, max_size=12),
    laps=st.integers(min_value=0, max_value=4),
)
def test_every_car_shows_position_number_laps_and_gap_whole_at_any_width(
    width: int, names: list[tuple[str, str]], laps: int
) -> None:
    classification = race([team for team, _ in names], [driver for _, driver in names], laps)
    rows = car_lines(classification, rendered(classification, width))
    for car, line in zip(classification.cars, rows, strict=True):
        cells = line.split()
        assert cells[0] == str(car.position), line
        assert car.number in cells and "…" not in line, line
        assert str(car.laps) in cells, line
        if car.gap is not None:
            assert format_gap(car.gap) in line, line


def test_at_80_columns_the_team_goes_first_and_times_stay() -> None:
    long = ["Iron Lynx Valley Motorsport Racing Team"] * 6
    classification = race(long, ["Kévin Estre Longname"] * 6, laps=3)
    lines = rendered(classification, 80)
    assert max(len(line) for line in lines) <= 80
    assert "Team" not in lines[1] and "Iron Lynx" not in "\n".join(lines)
    for car, line in zip(classification.cars, car_lines(classification, lines), strict=True):
        assert format_laptime(car.best_lap_ms) in line and format_laptime(car.last_lap_ms) in line
    assert any(line.startswith("not shown, to fit: team") for line in lines)


def test_a_wide_terminal_shows_every_column() -> None:
    classification = race(["Apex"], ["Ann Driver"], laps=2)
    table = render_tower(classification, width=200)
    assert [column.header for column in table.columns][:6] == ["Pos", "Class", "PIC", "No", "Team", "Driver"]
    assert table.caption is None


def test_the_drop_order_never_gives_up_position_number_laps_or_gap() -> None:
    assert not {"pos", "no", "laps", "gap"} & set(DROP_ORDER)
    classification = race(["A very long team name indeed"] * 3, ["Somebody Withalongname"] * 3, laps=2)
    narrowest = render_tower(classification, width=1)
    assert [column.header for column in narrowest.columns] == ["Pos", "No", "Laps", "Gap"]
    assert table_width(narrowest) > 1  # longer than the width rather than cut


def test_limit_says_how_many_cars_are_not_shown() -> None:
    classification = race(["T"] * 5, ["D"] * 5, laps=1)
    table = render_tower(classification, width=200, limit=2)
    assert table.row_count == 2 and table.caption == "… and 3 more cars"


def test_short_names() -> None:
    assert short_name("Kévin Estre") == "K. Estre"
    assert short_name("Nyck de Vries") == "N. de Vries"
    assert short_name("Senna") == "Senna"


def test_a_penalty_reads_as_on_the_page() -> None:
    """The graphics data and the page give a penalty's time alike: never rounded to whole seconds."""
    assert [format_seconds(ms) for ms in (5_000, 2_500, 12_340, 1, 60_000)] == [
        "5 s", "2.5 s", "12.34 s", "0.001 s", "60 s"
    ]  # fmt: skip


def ansi_codes(classification: Classification, limit: int | None) -> list[str]:
    """The colours of the first car's line, as a terminal with colours shows it."""
    console = Console(width=400, file=io.StringIO(), color_system="truecolor", legacy_windows=False)
    console.print(render_tower(classification, limit=limit), crop=False)
    assert isinstance(console.file, io.StringIO)
    first = car_lines(classification, console.file.getvalue().splitlines())[0]
    return re.findall(r"\x1b\[[0-9;]*m", first)


def test_a_class_keeps_its_colour_when_the_others_are_off_screen() -> None:
    """The colours come from every class of the session, as on the page, not from the rows that fit."""
    value = race([f"T{n}" for n in range(1, 7)], [f"D{n}" for n in range(1, 7)], laps=2, classes=2)
    assert value.cars[0].class_name != min(car.class_name for car in value.cars)  # the first class by name is lower
    assert ansi_codes(value, limit=1) == ansi_codes(value, limit=None)


def test_the_title_clock_is_the_timing_clock_not_a_stamp_from_another_clock() -> None:
    """A race-control input stamped 5,255 hours into a replayed race leaves the clock at the latest crossing."""
    w = SessionWriter()
    events: list[Event] = [w.opened(), w.entry("7"), w.event(SessionStarted(), 0), w.lap("7", 1, 100_000)]
    events.append(w.event(FlagChanged(flag=Flag.YELLOW), 5255 * 3_600_000))
    value = classify(events)
    assert value.as_of - (value.started_at or 0) > 5000 * 3_600_000
    assert session_clock(value) == 100_000
    title = render_tower(value).title
    assert isinstance(title, str) and format_clock(100_000) in title and "5255:" not in title
    assert since_start(value.started_at, value.as_of) is None
