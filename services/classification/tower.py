"""A timing tower for the terminal: a classification rendered as a rich table that fits the width it is given.

What matters is never cut: position, number, laps, gaps and lap times keep their full width. To fit a narrow
terminal the tower leaves columns out, in a fixed order (:data:`DROP_ORDER`): the team first, then the driver
(shortened to an initial and surname before it goes), pit stops, class position, interval, class, state, last
lap, best lap; the caption says what was left out. Position, number, laps and gap are always shown: narrower
than those four, lines are longer than the width rather than cut.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

from rich import box
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from schemas.results import CarState, Classification, ClassifiedCar
from services.classification.timefmt import format_clock, format_gap, format_laptime

CLASS_STYLES = ("bold white on dark_blue", "bold black on gold3", "bold white on dark_red", "bold black on green3")

STATE_LABELS = {
    CarState.NOT_STARTED: Text("DNS?", "dim"),
    CarState.RUNNING: Text(""),
    CarState.IN_PIT: Text("PIT", "bold yellow"),
    CarState.OUT_LAP: Text("OUT", "yellow"),
    CarState.RETIRED: Text("RET", "bold red"),
    CarState.FINISHED: Text("🏁", "bold"),
}


def short_name(name: str) -> str:
    """``Kévin Estre`` -> ``K. Estre``, ``Nyck de Vries`` -> ``N. de Vries``: the first name as an initial."""
    first, _, rest = name.strip().partition(" ")
    return f"{first[0]}. {rest.strip()}" if rest.strip() else name


@dataclass(frozen=True)
class _Rows:
    """What the cells of one classification need besides the car."""

    class_styles: dict[str, str]
    best_lap_ms: int | None
    short_drivers: bool


Cell = Callable[[ClassifiedCar, _Rows], "str | Text"]


@dataclass(frozen=True)
class Column:
    name: str
    header: str
    justify: str
    cell: Cell
    label: str
    """What the caption calls it when it is left out."""


def _driver(car: ClassifiedCar, rows: _Rows) -> str:
    driver = car.driver or ""
    return short_name(driver) if rows.short_drivers else driver


def _best(car: ClassifiedCar, rows: _Rows) -> Text:
    session_best = car.best_lap_ms is not None and car.best_lap_ms == rows.best_lap_ms
    return Text(format_laptime(car.best_lap_ms), "bold magenta" if session_best else "")


COLUMNS = (
    Column("pos", "Pos", "right", lambda car, _: str(car.position), "position"),
    Column(
        "cls",
        "Cls",
        "center",
        lambda car, rows: Text(f" {car.class_name} ", rows.class_styles[car.class_name]),
        "class",
    ),
    Column("pic", "PIC", "right", lambda car, _: str(car.class_position), "class position"),
    Column("no", "No", "right", lambda car, _: car.number, "number"),
    Column("team", "Team", "left", lambda car, _: car.team, "team"),
    Column("driver", "Driver", "left", _driver, "driver"),
    Column("laps", "Laps", "right", lambda car, _: str(car.laps), "laps"),
    Column("gap", "Gap", "right", lambda car, _: format_gap(car.gap), "gap"),
    Column("int", "Int", "right", lambda car, _: format_gap(car.interval), "interval"),
    Column("last", "Last", "right", lambda car, _: format_laptime(car.last_lap_ms), "last lap"),
    Column("best", "Best", "right", _best, "best lap"),
    Column("pit", "Pit", "right", lambda car, _: str(car.pit_stops), "pit stops"),
    Column("state", "", "left", lambda car, _: STATE_LABELS[car.state], "state"),
)

SHORT_DRIVERS = "driver names shortened"
DROP_ORDER = ("team", SHORT_DRIVERS, "driver", "pit", "pic", "int", "cls", "state", "last", "best")
"""What the tower gives up, first to last, until it fits; position, number, laps and gap are never given up."""

_LABELS = {column.name: column.label for column in COLUMNS}


def _table(classification: Classification, shown: set[str], rows: _Rows, limit: int | None) -> Table:
    elapsed = classification.as_of - classification.started_at if classification.started_at else 0
    title = (
        f"{classification.name} — {classification.phase.value} — flag {classification.flag.value} — "
        f"{format_clock(elapsed)} — seq {classification.last_seq}"
    )
    table = Table(title=title, header_style="bold", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=0)
    columns = [column for column in COLUMNS if column.name in shown]
    for column in columns:
        table.add_column(column.header, justify=column.justify, no_wrap=True)  # type: ignore[arg-type]
    for car in classification.cars[:limit]:
        table.add_row(*(column.cell(car, rows) for column in columns))
    return table


def render_tower(
    classification: Classification, width: int | None = None, limit: int | None = None, caption: str | None = None
) -> Table:
    """The tower as a table ``width`` columns wide at most (None: every column, however wide); ``limit``: only
    the first cars, the caption saying how many more there are."""
    classes = sorted({car.class_name for car in classification.cars})
    styles = {name: CLASS_STYLES[i % len(CLASS_STYLES)] for i, name in enumerate(classes)}
    best = min((car.best_lap_ms for car in classification.cars if car.best_lap_ms), default=None)
    shown = {column.name for column in COLUMNS}
    left_out: list[str] = []
    drops = iter(DROP_ORDER)
    while True:
        rows = _Rows(styles, best, SHORT_DRIVERS in left_out)
        table = _table(classification, shown, rows, limit)
        if width is None or table_width(table) <= width:
            break
        dropped = next(drops, None)
        if dropped is None:
            break
        left_out.append(dropped)
        shown.discard(dropped)
    notes = []
    hidden = len(classification.cars) - len(classification.cars[:limit])
    if hidden:
        notes.append(f"… and {hidden} more car{'s' * (hidden > 1)}")
    not_shown = [_LABELS[name] for name in left_out if name != SHORT_DRIVERS]
    if SHORT_DRIVERS in left_out and "driver" not in left_out:
        notes.append("driver names shortened to fit")
    if not_shown:
        notes.append(f"not shown, to fit: {', '.join(not_shown)}")
    if caption:
        notes.append(caption)
    if notes:
        table.caption = "\n".join(notes)
        table.caption_justify = "left"
    return table


def table_width(table: Table) -> int:
    """The width the table takes when nothing is cut."""
    console = Console(file=io.StringIO(), width=1_000_000)
    return Measurement.get(console, console.options, table).maximum
