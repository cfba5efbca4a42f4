"""A timing tower for the terminal: a classification rendered as a rich table."""

from __future__ import annotations

from rich import box
from rich.cells import cell_len
from rich.table import Table
from rich.text import Text

from schemas.results import CarState, Classification, ClassifiedCar, Gap, HourClassification, HourRow, ResultStatus
from services.classification.palette import class_swatches

PENALTY_MARK = "*"
"""After a gap that includes time penalties (the car's or the one it is measured against): every gap does, as the
order does; the mark says that this one is not the gap on the road."""
PENALTY_NOTE = f"{PENALTY_MARK} includes time penalties"

STATE_LABELS = {
    CarState.NOT_STARTED: Text("DNS?", "dim"),
    CarState.RUNNING: Text(""),
    CarState.IN_PIT: Text("PIT", "bold yellow"),
    CarState.OUT_LAP: Text("OUT", "yellow"),
    CarState.RETIRED: Text("RET", "bold red"),
    CarState.FINISHED: Text("🏁", "bold"),
    CarState.STOPPED: Text("STOP", "bold yellow"),
}
STATUS_LABELS = {
    ResultStatus.NOT_CLASSIFIED: Text("NC", "bold yellow"),
    ResultStatus.DID_NOT_FINISH: Text("DNF", "bold red"),
    ResultStatus.DID_NOT_START: Text("DNS", "dim"),
    ResultStatus.DISQUALIFIED: Text("DSQ", "bold red"),
    ResultStatus.EXCLUDED: Text("EXCL", "bold red"),
}
"""A result outside the classified group is shown instead of the car's state."""


def status_label(car: ClassifiedCar | HourRow) -> Text:
    return STATUS_LABELS.get(car.status) or STATE_LABELS[car.state]


def format_laptime(ms: int | None) -> str:
    if ms is None:
        return ""
    minutes, rest = divmod(ms, 60_000)
    return f"{minutes}:{rest // 1000:02d}.{rest % 1000:03d}"


def format_gap(gap: Gap | None) -> str:
    if gap is None:
        return ""
    if gap.laps:
        return f"+{gap.laps} lap{'s' if gap.laps > 1 else ''}"
    sign, ms = ("+", gap.ms) if gap.ms >= 0 else ("-", -gap.ms)  # behind in the order, ahead on time: a drop
    return f"{sign}{ms // 1000}.{ms % 1000:03d}" if ms < 60_000 else f"{sign}{format_laptime(ms)}"


def penalty_gap(gap: Gap | None, car: ClassifiedCar, other: ClassifiedCar | None) -> str:
    """:func:`format_gap`, marked when the gap includes a time penalty of ``car`` or of ``other``."""
    text = format_gap(gap)
    if text and (car.penalty_time_ms or (other is not None and other.penalty_time_ms)):
        return text + PENALTY_MARK
    return text


def format_clock(ms: int) -> str:
    hours, rest = divmod(max(ms, 0) // 1000, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


WIDE = 110
"""Narrower than this, a tower leaves out the driver, the interval and the last lap, so it reads at 80 columns."""


Cell = str | Text
GUTTER = 2
"""Spaces between two columns."""


def _table(title: str, columns: list[tuple[str, str]], rows: list[list[Cell]], width: int | None) -> Table:
    """``(header, justify)`` columns sized to their widest cell; the team column takes what the others leave of
    ``width`` (its names cut with an ellipsis), so the table fits the console."""
    natural = [len(header) for header, _ in columns]
    for row in rows:
        for i, cell in enumerate(row):
            natural[i] = max(natural[i], cell.cell_len if isinstance(cell, Text) else cell_len(cell))
    others = sum(w for (header, _), w in zip(columns, natural, strict=True) if header != "Team")
    room = None if width is None else max(8, width - others - GUTTER * (len(columns) - 1))
    table = Table(
        title=title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True, header_style="bold"
    )
    for (header, justify), minimum in zip(columns, natural, strict=True):
        team = header == "Team"
        table.add_column(
            header,
            justify=justify,  # type: ignore[arg-type]
            no_wrap=True,
            overflow="ellipsis",
            min_width=None if team else minimum,
            max_width=room if team else None,
        )
    for row in rows:
        table.add_row(*row)
    return table


def class_cell(class_name: str, sub_class: str | None, style: str = "") -> Text:
    return Text(class_name if sub_class is None else f"{class_name} {sub_class}", style)


def in_class(class_position: int, sub_class_position: int | None) -> str:
    """The class position, and the sub-class position after a slash (``12/3``)."""
    return str(class_position) if sub_class_position is None else f"{class_position}/{sub_class_position}"


def render_tower(classification: Classification, limit: int | None = None, width: int | None = None) -> Table:
    """The timing tower; ``width``: the console's, so a narrow terminal gets the columns that fit."""
    elapsed = classification.as_of - classification.started_at if classification.started_at else 0
    title = (
        f"{classification.name} — {classification.phase.value} — flag {classification.flag.value} — "
        f"{format_clock(elapsed)} — seq {classification.last_seq}"
    )
    wide = width is None or width >= WIDE
    columns = [("Pos", "right"), ("Class", "left"), ("PIC", "right"), ("No", "right"), ("Team", "left")]
    columns += [("Driver", "left")] if wide else []
    columns += [("Laps", "right"), ("Gap", "right")]
    columns += [("Int", "right"), ("Last", "right")] if wide else []
    columns += [("Best", "right"), ("Pit", "right"), ("", "left")]
    swatches = class_swatches(car.class_name for car in classification.cars)
    styles = {name: f"bold {s.text} on {s.colour}" for name, s in swatches.items()}
    best = min((car.best_lap_ms for car in classification.cars if car.best_lap_ms), default=None)
    leader = classification.cars[0] if classification.cars else None
    rows: list[list[Cell]] = []
    ahead: ClassifiedCar | None = None
    for car in classification.cars[:limit]:
        best_style = "bold magenta" if car.best_lap_ms is not None and car.best_lap_ms == best else ""
        row: list[Cell] = [
            str(car.position),
            class_cell(car.class_name, car.sub_class, styles[car.class_name]),
            in_class(car.class_position, car.sub_class_position),
            car.number,
            car.team,
        ]
        row += [car.driver or ""] if wide else []
        row += [str(car.laps), penalty_gap(car.gap, car, leader)]
        row += [penalty_gap(car.interval, car, ahead), format_laptime(car.last_lap_ms)] if wide else []
        row += [Text(format_laptime(car.best_lap_ms), best_style), str(car.pit_stops), status_label(car)]
        rows.append(row)
        ahead = car
    table = _table(title, columns, rows, width)
    if any(car.penalty_time_ms for car in classification.cars):
        table.caption = PENALTY_NOTE
    return table


def render_hour(hour: HourClassification, width: int | None = None) -> Table:
    """One hour of an hourly classification: the columns the official timekeeper prints."""
    columns = [("Pos", "right"), ("Class", "left"), ("PIC", "right"), ("No", "right"), ("Team", "left")]
    columns += [("Laps", "right"), ("Gap", "right"), ("Int", "right"), ("Pit", "right"), ("", "left")]
    rows: list[list[Cell]] = [
        [
            str(car.position),
            class_cell(car.class_name, car.sub_class),
            in_class(car.class_position, car.sub_class_position),
            car.number,
            car.team,
            str(car.laps),
            format_gap(car.gap),
            format_gap(car.interval),
            str(car.pit_stops),
            status_label(car),
        ]
        for car in hour.cars
    ]
    return _table(f"Classification at hour {hour.hour} — seq {hour.last_seq}", columns, rows, width)
