"""A timing tower for the terminal: a classification (or one hour of an hourly classification) rendered as a
rich table that fits the width it is given.

What matters is never cut: position, number, laps, gaps and lap times keep their full width. To fit a narrow
terminal the tower leaves columns out, in a fixed order (:data:`DROP_ORDER`): the team first, then the driver
(shortened to an initial and surname before it goes), pit stops, class position, interval, class, state, last
lap, best lap; the caption says what was left out. Position, number, laps and gap are always shown: narrower
than those four, lines are longer than the width rather than cut.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rich import box
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from schemas.results import CarState, Classification, ClassifiedCar, HourClassification, HourRow, ResultStatus
from services.classification.labels import STATE_WORDS, STATUS_WORDS, short_name
from services.classification.palette import class_swatches
from services.classification.timefmt import (
    PENALTY_NOTE,
    format_clock,
    format_gap,
    format_laptime,
    penalty_gap,
    session_clock,
)

STATE_STYLES = {
    CarState.NOT_STARTED: "dim",
    CarState.IN_PIT: "bold yellow",
    CarState.OUT_LAP: "yellow",
    CarState.RETIRED: "bold red",
    CarState.FINISHED: "bold",
    CarState.STOPPED: "bold yellow",
}
STATUS_STYLES = {ResultStatus.DID_NOT_START: "dim", ResultStatus.NOT_CLASSIFIED: "bold yellow"}
"""Other results outside the classified group are bold red."""

Row = ClassifiedCar | HourRow
Cell = str | Text


def status_label(car: Row) -> Text:
    if car.status in STATUS_WORDS:
        return Text(STATUS_WORDS[car.status], STATUS_STYLES.get(car.status, "bold red"))
    return Text(STATE_WORDS[car.state], STATE_STYLES.get(car.state, ""))


def class_cell(class_name: str, sub_class: str | None, style: str = "") -> Text:
    return Text(class_name if sub_class is None else f"{class_name} {sub_class}", style)


def in_class(class_position: int, sub_class_position: int | None) -> str:
    """The class position, and the sub-class position after a slash (``12/3``)."""
    return str(class_position) if sub_class_position is None else f"{class_position}/{sub_class_position}"


@dataclass(frozen=True)
class _Rows:
    """What the cells of one classification need besides the car."""

    class_styles: dict[str, str]
    best_lap_ms: int | None
    short_drivers: bool
    leader: Row | None
    ahead: dict[str, Row]
    """The car ahead of each car, by number."""


@dataclass(frozen=True)
class Column:
    name: str
    header: str
    justify: str
    cell: Callable[[Row, _Rows], Cell]
    label: str
    """What the caption calls it when it is left out."""


def _driver(car: Row, rows: _Rows) -> str:
    driver = car.driver or ""
    return short_name(driver) if rows.short_drivers else driver


def _gap(car: Row, rows: _Rows) -> str:
    """To the leader, marked when it includes a time penalty (an hour's row carries none)."""
    if isinstance(car, ClassifiedCar) and isinstance(rows.leader, ClassifiedCar | None):
        return penalty_gap(car.gap, car, rows.leader)
    return format_gap(car.gap)


def _interval(car: Row, rows: _Rows) -> str:
    ahead = rows.ahead.get(car.number)
    if isinstance(car, ClassifiedCar) and isinstance(ahead, ClassifiedCar | None):
        return penalty_gap(car.interval, car, ahead)
    return format_gap(car.interval)


def _last(car: Row, _: _Rows) -> str:
    return format_laptime(car.last_lap_ms) if isinstance(car, ClassifiedCar) else ""


def _best(car: Row, rows: _Rows) -> Text:
    session_best = car.best_lap_ms is not None and car.best_lap_ms == rows.best_lap_ms
    return Text(format_laptime(car.best_lap_ms), "bold magenta" if session_best else "")


COLUMNS = {
    column.name: column
    for column in (
        Column("pos", "Pos", "right", lambda car, _: str(car.position), "position"),
        Column(
            "cls",
            "Class",
            "left",
            lambda car, rows: class_cell(car.class_name, car.sub_class, rows.class_styles.get(car.class_name, "")),
            "class",
        ),
        Column("pic", "PIC", "right", lambda car, _: in_class(car.class_position, car.sub_class_position), "PIC"),
        Column("no", "No", "right", lambda car, _: car.number, "number"),
        Column("team", "Team", "left", lambda car, _: car.team, "team"),
        Column("driver", "Driver", "left", _driver, "driver"),
        Column("laps", "Laps", "right", lambda car, _: str(car.laps), "laps"),
        Column("gap", "Gap", "right", _gap, "gap"),
        Column("int", "Int", "right", _interval, "interval"),
        Column("last", "Last", "right", _last, "last lap"),
        Column("best", "Best", "right", _best, "best lap"),
        Column("pit", "Pit", "right", lambda car, _: str(car.pit_stops), "pit stops"),
        Column("state", "", "left", lambda car, _: status_label(car), "state"),
    )
}

TOWER = ("pos", "cls", "pic", "no", "team", "driver", "laps", "gap", "int", "last", "best", "pit", "state")
HOUR = ("pos", "cls", "pic", "no", "team", "laps", "gap", "int", "pit", "state")
"""An hour of an hourly classification: the columns the official timekeeper prints."""

SHORT_DRIVERS = "driver names shortened"
DROP_ORDER = ("team", SHORT_DRIVERS, "driver", "pit", "pic", "int", "cls", "state", "last", "best")
"""What the tower gives up, first to last, until it fits; position, number, laps and gap are never given up."""


def _table(title: str, names: Sequence[str], cars: Sequence[Row], rows: _Rows) -> Table:
    table = Table(title=title, header_style="bold", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=0)
    columns = [COLUMNS[name] for name in names]
    for column in columns:
        table.add_column(column.header, justify=column.justify, no_wrap=True)  # type: ignore[arg-type]
    for car in cars:
        table.add_row(*(column.cell(car, rows) for column in columns))
    return table


def _fitted(
    title: str, names: Sequence[str], cars: Sequence[Row], width: int | None, notes: list[str], all_cars: Sequence[Row]
) -> Table:
    """The table of ``names`` columns, giving columns up in :data:`DROP_ORDER` until it is ``width`` wide at most,
    with a caption saying what it left out (and ``notes``); ``cars`` are the first of ``all_cars``, which give the
    class colours and the session's best lap (as the page's: whatever is off screen)."""
    classes = (car.class_name for car in all_cars)
    styles = {name: f"bold {s.text} on {s.colour}" for name, s in class_swatches(classes).items()}
    best = min((car.best_lap_ms for car in all_cars if car.best_lap_ms), default=None)
    leader = cars[0] if cars else None
    ahead = {car.number: before for before, car in itertools.pairwise(cars)}
    if any(isinstance(car, ClassifiedCar) and car.penalty_time_ms for car in cars):
        notes.append(PENALTY_NOTE)
    shown = list(names)
    left_out: list[str] = []
    drops = iter(d for d in DROP_ORDER if d in names or (d == SHORT_DRIVERS and "driver" in names))
    while True:
        table = _table(title, shown, cars, _Rows(styles, best, SHORT_DRIVERS in left_out, leader, ahead))
        dropped = next(drops, None) if width is not None and table_width(table) > width else None
        if dropped is None:
            break
        left_out.append(dropped)
        shown = [name for name in shown if name != dropped]
    if len(cars) < len(all_cars):
        hidden = len(all_cars) - len(cars)
        notes.insert(0, f"… and {hidden} more car{'s' * (hidden > 1)}")
    if SHORT_DRIVERS in left_out and "driver" not in left_out:
        notes.append("driver names shortened to fit")
    not_shown = [COLUMNS[name].label for name in left_out if name != SHORT_DRIVERS]
    if not_shown:
        notes.append(f"not shown, to fit: {', '.join(not_shown)}")
    if notes:
        table.caption = "\n".join(notes)
        table.caption_justify = "left"
    return table


def render_tower(
    classification: Classification, limit: int | None = None, width: int | None = None, caption: str | None = None
) -> Table:
    """The tower as a table ``width`` columns wide at most (None: every column, however wide); ``limit``: only
    the first cars, the caption saying how many more there are."""
    elapsed = session_clock(classification)
    title = (
        f"{classification.name} — {classification.phase.value} — flag {classification.flag.value} — "
        f"{'--:--:--' if elapsed is None else format_clock(elapsed)} — seq {classification.last_seq}"
    )
    cars = classification.cars[:limit]
    return _fitted(title, TOWER, cars, width, [caption] if caption else [], classification.cars)


def render_hour(hour: HourClassification, width: int | None = None) -> Table:
    """One hour of an hourly classification, fitted like the tower."""
    title = f"Classification at hour {hour.hour} — seq {hour.last_seq}"
    return _fitted(title, HOUR, hour.cars, width, [], hour.cars)


def table_width(table: Table) -> int:
    """The width the table takes when nothing is cut."""
    console = Console(file=io.StringIO(), width=1_000_000)
    return Measurement.get(console, console.options, table).maximum
