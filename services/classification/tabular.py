"""A classification for programs and spreadsheets: the read model as JSON, the cars as CSV rows. Pure.

JSON is the read model exactly as the gateway serves it (``schemas/json/classification.schema.json``); CSV has
one row per car in result order, times in milliseconds, a gap as milliseconds on the same lap or whole laps.
"""

from __future__ import annotations

import csv
import io

import msgspec

from schemas.results import Classification, ClassifiedCar, Gap

CSV_COLUMNS = (
    "position",
    "class_position",
    "number",
    "class",
    "team",
    "driver",
    "laps",
    "gap_ms",
    "gap_laps",
    "interval_ms",
    "interval_laps",
    "last_lap_ms",
    "best_lap_ms",
    "pit_stops",
    "status",
    "state",
)


def gap_cells(gap: Gap | None) -> tuple[int | str, int | str]:
    """A gap as two CSV cells, milliseconds and laps; both empty for none (the car ahead of all)."""
    return ("", "") if gap is None else (gap.ms, gap.laps)


def _row(car: ClassifiedCar) -> tuple[object, ...]:
    return (
        car.position,
        car.class_position,
        car.number,
        car.class_name,
        car.team,
        car.driver or "",
        car.laps,
        *gap_cells(car.gap),
        *gap_cells(car.interval),
        "" if car.last_lap_ms is None else car.last_lap_ms,
        "" if car.best_lap_ms is None else car.best_lap_ms,
        car.pit_stops,
        car.status.value,
        car.state.value,
    )


def to_csv(classification: Classification) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(_row(car) for car in classification.cars)
    return out.getvalue()


def to_json(classification: Classification) -> str:
    return msgspec.json.format(msgspec.json.encode(classification), indent=2).decode() + "\n"
