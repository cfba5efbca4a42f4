"""The chronological lap analysis as an Al Kamel "analysis" CSV: the layout the WEC's timekeeper publishes.

One row per lap of every car, cars in classification order, laps in order;
the columns, separators and time formats of the real files (a byte-order
mark, ``;`` with a trailing one, CR LF, the header's odd spaces), so the
file reads back with :mod:`services.feeds.alkamel.parser` and with the tools
written for the real charts:

- ``ELAPSED`` is race time at the crossing (from the green flag), ``HOUR``
  the circuit's local time of day, ``LAP_TIME`` and sectors ``M:SS.sss``
  (``H:MM:SS.sss`` past an hour: a lap under a red flag);
- ``DRIVER_NUMBER`` is the driver's place in the crew as registered;
- ``LAP_IMPROVEMENT`` marks each car's best valid lap ``2`` and the session's
  fastest ``3`` (sectors the same way); every other lap is ``0``;
- ``CROSSING_FINISH_LINE_IN_PIT`` is ``B`` on an in-lap; ``PIT_TIME`` on the
  out-lap is from the in-lap's crossing to the pit exit (the importer's pit
  exit is that crossing plus ``PIT_TIME``);
- ``FLAG_AT_FL`` is the flag as the lap ended, ``FF`` on the lap a car took
  the chequered flag;
- ``GROUP`` is the sub-class (``P/A`` for Pro/Am, as the charts write it);
- ``KPH`` from the track length when the session has one; ``TOP_SPEED`` is
  left empty (chequered does not keep it); sectors only when a lap has
  exactly three.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from zoneinfo import ZoneInfo

from schemas.analysis import CarAnalysis, LapLine, SessionAnalysis
from schemas.events import Flag
from services.documents.times import elapsed, race_time, seconds
from services.feeds.alkamel.parser import GROUPS

HEADER = (
    "NUMBER; DRIVER_NUMBER; LAP_NUMBER; LAP_TIME; LAP_IMPROVEMENT; CROSSING_FINISH_LINE_IN_PIT; S1; S1_IMPROVEMENT;"
    " S2; S2_IMPROVEMENT; S3; S3_IMPROVEMENT; KPH; ELAPSED; HOUR;S1_LARGE;S2_LARGE;S3_LARGE;TOP_SPEED;DRIVER_NAME;"
    "PIT_TIME;CLASS;GROUP;TEAM;MANUFACTURER;FLAG_AT_FL;S1_SECONDS;S2_SECONDS;S3_SECONDS;"
)
FLAG_CODES = {
    Flag.GREEN: "GF",
    Flag.FULL_COURSE_YELLOW: "FCY",
    Flag.SAFETY_CAR: "SF",
    Flag.RED: "RF",
    Flag.YELLOW: "YF",
    Flag.CHEQUERED: "FF",
}
GROUP_CODES = {name: code for code, name in GROUPS.items() if name}
"""A sub-class as the charts write it in ``GROUP`` (Pro/Am as ``P/A``)."""
FINISHED = "FF"
BEST, FASTEST = "2", "3"
SECTORS = 3


def _best_index(lines: list[LapLine]) -> int | None:
    """The car's best valid lap (the first of equal times)."""
    best: int | None = None
    for i, line in enumerate(lines):
        if line.valid and (best is None or line.lap_ms < lines[best].lap_ms):
            best = i
    return best


def _pit_times(car: CarAnalysis) -> dict[int, int]:
    """Lap index -> ``PIT_TIME`` of the out-lap: from the previous crossing to the pit exit."""
    out: dict[int, int] = {}
    stops = iter(stop.pit_out for stop in car.stops if stop.pit_out is not None)
    pit_out = next(stops, None)
    for i, line in enumerate(car.laps):
        while pit_out is not None and pit_out < line.at:
            if i > 0 and pit_out >= car.laps[i - 1].at:
                out[i] = pit_out - car.laps[i - 1].at
            pit_out = next(stops, None)
    return out


def chronological_csv(analysis: SessionAnalysis) -> bytes:
    """The session's laps in the Al Kamel analysis layout, UTF-8 with a byte-order mark."""
    zone = ZoneInfo(analysis.time_zone)
    start, chequered = analysis.started_at, analysis.chequered_at
    bests = {car.number: _best_index(car.laps) for car in analysis.cars}
    fastest = min(
        (
            (car.laps[i].lap_ms, n, car.number)
            for n, car in enumerate(analysis.cars)
            if (i := bests[car.number]) is not None
        ),
        default=None,
    )
    session_sectors = {(best.number, best.sector): best.lap for best in analysis.best_sectors}
    out = io.StringIO()
    out.write("\ufeff" + HEADER + "\r\n")
    writer = csv.writer(out, delimiter=";", lineterminator=";\r\n", quoting=csv.QUOTE_MINIMAL)
    for car in analysis.cars:
        slots = {time.driver: slot for slot, time in enumerate(car.drive_times, start=1)}
        car_sectors = {i + 1: time.lap for i, time in enumerate(car.best_sectors) if time is not None}
        pit_times = _pit_times(car)
        first = start if start is not None else (car.laps[0].at - car.laps[0].lap_ms if car.laps else 0)
        for i, line in enumerate(car.laps):
            improvement = "0"
            if i == bests[car.number]:
                improvement = FASTEST if fastest is not None and fastest[2] == car.number else BEST
            sectors = line.sectors_ms if len(line.sectors_ms) == SECTORS else []
            sector_cells: list[str] = []
            for s, ms in enumerate(sectors, start=1):
                mark = "0"
                if car_sectors.get(s) == line.lap:
                    mark = FASTEST if session_sectors.get((car.number, s)) == line.lap else BEST
                sector_cells += [seconds(ms), mark]
            sector_cells += [""] * (2 * SECTORS - len(sector_cells))
            # the car takes the flag at its first crossing once it is out
            took_flag = chequered is not None and line.at >= chequered and (i == 0 or car.laps[i - 1].at < chequered)
            kph = f"{analysis.track_length_m * 3600 / line.lap_ms:.1f}" if analysis.track_length_m else ""
            local = datetime.fromtimestamp(line.at / 1000, zone)
            hour = f"{local:%H:%M:%S}.{line.at % 1000:03d}"
            writer.writerow(
                [
                    car.number,
                    slots.get(line.driver, "") if line.driver else "",
                    line.lap,
                    elapsed(line.lap_ms),
                    improvement,
                    "B" if line.in_lap else "",
                    *sector_cells,
                    kph,
                    elapsed(line.at - first),
                    hour,
                    *([elapsed(ms) for ms in sectors] or ["", "", ""]),
                    "",
                    line.driver or "",
                    race_time(pit_times[i]) if i in pit_times else "",
                    car.class_name,
                    GROUP_CODES.get(car.sub_class, car.sub_class) if car.sub_class else "",
                    car.team,
                    car.manufacturer,
                    FINISHED if took_flag else FLAG_CODES.get(line.flag, ""),
                    *([f"{ms // 1000}.{ms % 1000:03d}" for ms in sectors] or ["", "", ""]),
                ]
            )
    return out.getvalue().encode("utf-8")
