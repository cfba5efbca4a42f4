"""Where a car stood when it crossed the line: one pass over the crossings in time order, one step per lap.

A race's running order at a crossing is laps first, then who crossed
earlier, so a car completing lap N is placed behind every car that has
already completed N laps or more: its position is the order in which the
cars completed that lap (the lap chart), and its gap is its crossing minus
the first car's crossing of the same lap (the race trace). Practice and
qualifying rank the cars by their best valid lap so far, who set it first
ahead. Each step costs a few bisections in lists as long as the field, so a
24-hour race's 45,000 laps are placed in a fraction of a second.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from typing import Protocol

from schemas.analysis import FastestLapChange

Placing = tuple[int, int | None, int]
"""(position, gap in ms or None, laps down): a plain tuple, as a named one costs more to build than the rest of
a lap's placing."""


class Order(Protocol):
    def place(self, number: str, lap: int, at: int, lap_ms: int, valid: bool) -> Placing: ...


class RaceOrder:
    """Laps first, then who crossed earlier."""

    __slots__ = ("_first", "_laps", "_leader", "_sorted")

    def __init__(self) -> None:
        self._laps: dict[str, int] = {}
        self._sorted: list[int] = []
        """Every placed car's laps, ascending."""
        self._first: dict[int, int] = {}
        """Lap -> the leader's crossing of it."""
        self._leader = 0

    def place(self, number: str, lap: int, at: int, lap_ms: int, valid: bool) -> Placing:
        ahead = len(self._sorted) - bisect_left(self._sorted, lap)  # cars with this many laps or more: all crossed
        if ahead == 0:
            self._first[lap] = at
        first = self._first.get(lap)  # None when the leader's crossing of this lap was never seen (a missed lap)
        placing = (ahead + 1, at - first if first is not None else None, max(0, self._leader - lap))
        before = self._laps.get(number)
        if before is not None:
            del self._sorted[bisect_left(self._sorted, before)]
        insort(self._sorted, lap)
        self._laps[number] = lap
        self._leader = max(self._leader, lap)
        return placing


class BestLapOrder:
    """By best valid lap so far; on equal times, who set it first; cars without a time behind."""

    __slots__ = ("_best", "_sorted")

    def __init__(self) -> None:
        self._best: dict[str, tuple[int, int, str]] = {}
        self._sorted: list[tuple[int, int, str]] = []

    def place(self, number: str, lap: int, at: int, lap_ms: int, valid: bool) -> Placing:
        best = self._best.get(number)
        if valid and (best is None or lap_ms < best[0]):
            if best is not None:
                del self._sorted[bisect_left(self._sorted, best)]
            best = self._best[number] = (lap_ms, at, number)
            insort(self._sorted, best)
        if best is None:
            return (len(self._sorted) + 1, None, 0)
        return (bisect_left(self._sorted, best) + 1, best[0] - self._sorted[0][0], 0)


class FastestLaps:
    """Who held the fastest lap when: every lap that beat its class's fastest (and maybe the session's)."""

    __slots__ = ("_class", "_overall", "changes")

    def __init__(self) -> None:
        self._overall: int | None = None
        self._class: dict[str, int] = {}
        self.changes: list[FastestLapChange] = []

    def offer(self, number: str, class_name: str, driver: str | None, lap: int, at: int, lap_ms: int) -> None:
        """A valid lap, in crossing order."""
        held = self._class.get(class_name)
        if held is not None and lap_ms >= held:
            return
        self._class[class_name] = lap_ms
        overall = self._overall is None or lap_ms < self._overall
        if overall:
            self._overall = lap_ms
        self.changes.append(
            FastestLapChange(
                at=at, number=number, class_name=class_name, driver=driver, lap=lap, ms=lap_ms, overall=overall
            )
        )
