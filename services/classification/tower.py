"""A timing tower for the terminal: a classification rendered as a rich table."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from schemas.results import CarState, Classification, ClassifiedCar, Gap, HourClassification, HourRow, ResultStatus

CLASS_STYLES = ("bold white on dark_blue", "bold black on gold3", "bold white on dark_red", "bold black on green3")

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
    if 0 <= gap.ms < 60_000:
        return f"+{gap.ms // 1000}.{gap.ms % 1000:03d}"
    return f"+{format_laptime(gap.ms)}"


def format_clock(ms: int) -> str:
    hours, rest = divmod(max(ms, 0) // 1000, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


def render_tower(classification: Classification, limit: int | None = None) -> Table:
    elapsed = classification.as_of - classification.started_at if classification.started_at else 0
    title = (
        f"{classification.name} — {classification.phase.value} — flag {classification.flag.value} — "
        f"{format_clock(elapsed)} — seq {classification.last_seq}"
    )
    table = Table(title=title, expand=False, header_style="bold")
    for column, justify in (
        ("Pos", "right"),
        ("Cls", "center"),
        ("PIC", "right"),
        ("No", "right"),
        ("Team", "left"),
        ("Driver", "left"),
        ("Laps", "right"),
        ("Gap", "right"),
        ("Int", "right"),
        ("Last", "right"),
        ("Best", "right"),
        ("Pit", "right"),
        ("", "left"),
    ):
        table.add_column(column, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    classes = sorted({car.class_name for car in classification.cars})
    styles = {name: CLASS_STYLES[i % len(CLASS_STYLES)] for i, name in enumerate(classes)}
    best = min((car.best_lap_ms for car in classification.cars if car.best_lap_ms), default=None)
    for car in classification.cars[:limit]:
        best_style = "bold magenta" if car.best_lap_ms is not None and car.best_lap_ms == best else ""
        table.add_row(
            str(car.position),
            Text(f" {car.class_name} ", styles[car.class_name]),
            str(car.class_position),
            car.number,
            car.team,
            car.driver or "",
            str(car.laps),
            format_gap(car.gap),
            format_gap(car.interval),
            format_laptime(car.last_lap_ms),
            Text(format_laptime(car.best_lap_ms), best_style),
            str(car.pit_stops),
            status_label(car),
        )
    return table


def render_hour(hour: HourClassification) -> Table:
    """One hour of an hourly classification: the columns the official timekeeper prints."""
    table = Table(title=f"Classification at hour {hour.hour} — seq {hour.last_seq}", header_style="bold")
    for column, justify in (
        ("Pos", "right"),
        ("Cls", "left"),
        ("PIC", "right"),
        ("No", "right"),
        ("Team", "left"),
        ("Laps", "right"),
        ("Gap", "right"),
        ("Int", "right"),
        ("Pit", "right"),
        ("", "left"),
    ):
        table.add_column(column, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for car in hour.cars:
        in_class = (
            f"{car.class_position}" if car.sub_class is None else f"{car.class_position}/{car.sub_class_position}"
        )
        table.add_row(
            str(car.position),
            car.class_name if car.sub_class is None else f"{car.class_name} {car.sub_class}",
            in_class,
            car.number,
            car.team,
            str(car.laps),
            format_gap(car.gap),
            format_gap(car.interval),
            str(car.pit_stops),
            status_label(car),
        )
    return table
