"""Hand-made Al Kamel analysis charts for tests: a car's laps in a line, the chart's bytes out.

Every car starts at the same instant; a row's ``ELAPSED`` is the sum of the
car's lap times so far. Rows are written in time order, as the timekeeper
publishes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

HEADER = (
    "NUMBER; DRIVER_NUMBER; LAP_NUMBER; LAP_TIME; LAP_IMPROVEMENT; CROSSING_FINISH_LINE_IN_PIT; S1; S1_IMPROVEMENT;"
    " S2; S2_IMPROVEMENT; S3; S3_IMPROVEMENT; KPH; ELAPSED; HOUR;S1_LARGE;S2_LARGE;S3_LARGE;TOP_SPEED;DRIVER_NAME;"
    "PIT_TIME;CLASS;GROUP;TEAM;MANUFACTURER;FLAG_AT_FL;S1_SECONDS;S2_SECONDS;S3_SECONDS;"
)
START_OF_DAY_MS = 15 * 3_600_000
"""The race starts at 15:00:00 local time."""


def clock(ms: int) -> str:
    """``H:MM:SS.sss`` as the chart writes times."""
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, milli = divmod(rest, 1000)
    return f"{h}:{m:02d}:{s:02d}.{milli:03d}"


@dataclass
class Car:
    """One car's laps; the last lap shows the chequered flag (``FF``) when ``took_flag``."""

    number: str
    laps: list[int]
    """Lap times, ms."""
    class_name: str = "HYPERCAR"
    group: str = ""
    took_flag: bool = True
    best: int | None = 0
    """The lap marked as the car's best (``LAP_IMPROVEMENT`` 2): 0 for its fastest lap, None for no mark (a live
    or provisional chart)."""
    flags: dict[int, str] = field(default_factory=dict)
    """``FLAG_AT_FL`` of some laps (others: ``GF``, and ``FF`` for the last when ``took_flag``)."""
    driver: str = ""

    def rows(self) -> list[tuple[int, str]]:
        marked = self.best
        if marked == 0:
            marked = min(range(len(self.laps)), key=lambda i: self.laps[i]) + 1
        elapsed = 0
        rows = []
        for lap, lap_ms in enumerate(self.laps, start=1):
            elapsed += lap_ms
            flag = self.flags.get(lap, "FF" if self.took_flag and lap == len(self.laps) else "GF")
            third = lap_ms // 3
            values = [self.number, "1", str(lap), clock(lap_ms), "2" if lap == marked else "0", ""]
            values += [clock(third), "0", clock(third), "0", clock(lap_ms - 2 * third), "0", "150.0"]
            values += [
                clock(elapsed),
                clock(START_OF_DAY_MS + elapsed),
                "",
                "",
                "",
                "",
                self.driver or f"D {self.number}",
            ]
            values += ["", self.class_name, self.group, f"Team {self.number}", "Maker", flag, "", "", ""]
            rows.append((elapsed, ";".join(values) + ";"))
        return rows


def chart(*cars: Car) -> bytes:
    """The analysis CSV of ``cars``, rows in time order, with the byte-order mark the timekeeper writes."""
    rows = sorted(row for car in cars for row in car.rows())
    return "\ufeff".encode() + "\r\n".join([HEADER, *(text for _, text in rows)]).encode() + b"\r\n"
