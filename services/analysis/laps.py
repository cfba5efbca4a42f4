"""What the fold's state says about each lap of a car: pit lane, flags, validity.

Everything here reads the state as it is; :mod:`services.analysis.analyst`
calls it when a lap is placed and makes sure nothing read then changes later
without the analysis being rebuilt.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from operator import itemgetter

from schemas.analysis import LapLine, LapMark, LapPoint
from schemas.events import ClassificationRules, Flag
from services.analysis.order import Placing
from services.classification.car import CarRecord
from services.classification.state import FlagPeriod


class FlagTimeline:
    """The whole-course flags of a session by start time (each in force until the next one starts)."""

    __slots__ = ("flags", "starts")

    def __init__(self, periods: Sequence[FlagPeriod]) -> None:
        # stable: flags shown at the same instant keep their order
        ordered = sorted(((period.start, period.flag) for period in periods), key=itemgetter(0))
        self.starts = [start for start, _ in ordered]
        self.flags = [flag for _, flag in ordered]

    def before(self, at: int) -> Flag:
        """The flag in force just before ``at`` (a flag shown at the very instant of a crossing comes after it)."""
        index = bisect_left(self.starts, at) - 1
        return self.flags[index] if index >= 0 else Flag.UNKNOWN


class PitLaps:
    """A car's in-laps (by lap number) and out-laps (by index in its laps, with the time in the pit lane)."""

    __slots__ = ("in_laps", "out_laps")

    def __init__(self, car: CarRecord) -> None:
        self.in_laps = {stop.lap for stop in car.stops}
        self.out_laps: dict[int, int | None] = {}
        for stop in car.stops:
            if stop.pit_out is not None:
                self.out_laps[bisect_right(car.crossings, stop.pit_out)] = stop.pit_out - stop.pit_in


def may_be_best(car: CarRecord, index: int, rules: ClassificationRules) -> bool:
    """The one place the analysis asks the fold whether a lap may be a best."""
    return car.may_be_best(index, rules)


def lap_line(
    car: CarRecord, index: int, valid: bool, overall: Placing, in_class: Placing, pits: PitLaps, flags: FlagTimeline
) -> LapLine:
    at = car.crossings[index]
    lap_ms = car.laps_ms[index]
    lap = car.lap_numbers[index]
    out = index in pits.out_laps
    return LapLine(
        lap=lap,
        at=at,
        lap_ms=lap_ms,
        sectors_ms=list(car.sectors[index]),
        driver=car.lap_drivers[index],
        position=overall[0],
        class_position=in_class[0],
        gap_ms=overall[1],
        laps_down=overall[2],
        class_gap_ms=in_class[1],
        class_laps_down=in_class[2],
        in_lap=lap in pits.in_laps,
        out_lap=out,
        pit_ms=pits.out_laps[index] if out else None,
        flag=flags.before(at),
        neutralised=lap in car.neutralised,
        valid=valid,
    )


_IN, _OUT, _NEUTRALISED, _INVALID = (int(mark) for mark in LapMark)  # plain ints: enum arithmetic is slow


def lap_point(number: str, line: LapLine) -> LapPoint:
    marks = (
        (_IN if line.in_lap else 0)
        | (_OUT if line.out_lap else 0)
        | (_NEUTRALISED if line.neutralised else 0)
        | (0 if line.valid else _INVALID)
    )
    return LapPoint(
        number,
        line.lap,
        line.at,
        line.lap_ms,
        line.position,
        line.class_position,
        line.gap_ms,
        line.class_gap_ms,
        line.laps_down,
        line.class_laps_down,
        marks,
    )


def is_clean(line: LapLine) -> bool:
    """A lap that shows pace: valid, green all the way, neither in-lap nor out-lap."""
    return line.valid and not (line.neutralised or line.in_lap or line.out_lap)
