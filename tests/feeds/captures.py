"""RMonitor lines for tests: single records, and whole generated sessions as Orbits sends them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


def clock(seconds: float) -> str:
    """``HH:MM:SS.mmm`` of a number of seconds."""
    ms = round(seconds * 1000)
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


def hms(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def beat(tod: int, race: int, flag: str, to_go: int = 0, laps: int = 9999) -> str:
    return f'$F,{laps},"{hms(to_go)}","{hms(tod)}","{hms(race)}","{flag}"'


def comp(reg: str, first: str, last: str = "", cls: int = 1, nat: str = "", extra: str = "") -> list[str]:
    return [
        f'$A,"{reg}","{reg}",{abs(hash(reg)) % 99999},"{first}","{last}","{nat}",{cls}',
        f'$COMP,"{reg}","{reg}",{cls},"{first}","{last}","{nat}","{extra}"',
    ]


def passing(reg: str, lap: float, total: float) -> str:
    return f'$J,"{reg}","{clock(lap)}","{clock(total)}"'


def position(pos: int, reg: str, laps: int | None, total: float | None) -> str:
    return f'$G,{pos},"{reg}",{"" if laps is None else laps},"{clock(total) if total else "00:59:59.999"}"'


def best(pos: int, reg: str, lap: int | None, best_s: float | None) -> str:
    return f'$H,{pos},"{reg}",{lap or 0},"{clock(best_s) if best_s else "00:00:00.000"}"'


@dataclass
class Run:
    """One run as Orbits sends it: ``$I`` and the entry list, ``$B``, a heartbeat a second from ``minutes``
    before the green, and for every crossing a ``$J``, the car's ``$G`` and ``$H``; the chequered flag after the
    leader's last lap. Cars lap at the times given (seconds), their first crossing ``offset`` seconds after the
    green with no lap time. ``practice``: positions by best lap; ``pre_green``: every car crosses the line at
    total time zero before the green (leaving the pits)."""

    number: int
    name: str
    green: int
    """Time of day of the green flag, seconds."""
    laps: dict[str, list[float]]
    practice: bool = False
    pre_green: bool = False
    length: int = 1800
    offset: float = 2.0
    date: str = "01 Jun 25"
    before: int = 30
    """Seconds of heartbeats before the green."""
    extra: dict[int, list[str]] = field(default_factory=dict)
    """Lines sent right after the heartbeat of that race second."""

    def entries(self) -> list[str]:
        lines = [f'$I,"{hms(self.green - self.before - 5)}","{self.date}"', '$C,1,"GT3"', '$E,"TRACKNAME","Test Ring"']
        for reg in self.laps:
            lines += comp(reg, "Driver", f"Number{reg}", 1, "FRA", f"Team {reg}")
        return [*lines, f'$B,{self.number},"{self.name}"']

    def crossings(self) -> list[tuple[float, str, float]]:
        """``(race time, car, lap time)``: the first crossing of each car has lap time 0."""
        out: list[tuple[float, str, float]] = []
        for n, (reg, times) in enumerate(self.laps.items()):
            total = self.offset + n * 0.25
            out.append((total, reg, 0.0))
            for lap in times:
                total = round(total + lap, 3)
                out.append((total, reg, lap))
        return sorted(out)

    def lines(self) -> list[str]:
        lines = self.entries()
        for second in range(-self.before, 0):
            lines.append(beat(self.green + second, 0, "      ", self.length))
            if self.pre_green and second == -self.before // 2:
                lines += [passing(reg, 0, 0) for reg in self.laps]
        crossings = self.crossings()
        leader_done = max(t for t, reg, _ in crossings if reg == next(iter(self.laps)))
        done: dict[str, tuple[int, float]] = {}
        bests: dict[str, tuple[float, int]] = {}
        shown: dict[str, int] = {}
        pending = list(crossings)
        for second in range(0, int(crossings[-1][0]) + 3):
            flag = "Finish" if second > leader_done else "Green "
            lines.append(beat(self.green + second, second, flag, max(0, self.length - second)))
            lines += self.extra.get(second, [])
            while pending and pending[0][0] < second + 1:
                total, reg, lap = pending.pop(0)
                laps = done.get(reg, (-1, 0.0))[0] + 1
                done[reg] = (laps, total)
                if lap and (reg not in bests or lap < bests[reg][0]):
                    bests[reg] = (lap, laps)
                lines.append(passing(reg, lap, total))
                for place, car in enumerate(self._order(done, bests), start=1):  # the rows that changed, as Orbits
                    if car == reg or shown.get(car) != place:
                        shown[car] = place
                        count, at = done[car]
                        lines.append(position(place, car, count or None, at if count else None))
                if reg in bests:
                    ranked = sorted(bests, key=lambda r: bests[r])
                    lines.append(best(ranked.index(reg) + 1, reg, bests[reg][1], bests[reg][0]))
        return lines

    def resend(self, second: int) -> list[str]:
        """What Orbits sends after a reset at race time ``second``: ``$I``, the entry list, the run, and the whole
        scoreboard (every car's ``$G`` and ``$H``)."""
        done: dict[str, tuple[int, float]] = {}
        bests: dict[str, tuple[float, int]] = {}
        for total, reg, lap in self.crossings():
            if total < second:
                laps = done.get(reg, (-1, 0.0))[0] + 1
                done[reg] = (laps, total)
                if lap and (reg not in bests or lap < bests[reg][0]):
                    bests[reg] = (lap, laps)
        lines = [f'$I,"{hms(self.green + second)}","{self.date}"', *self.entries()[1:]]
        for place, reg in enumerate(self._order(done, bests), start=1):
            count, at = done[reg]
            lines.append(position(place, reg, count or None, at if count else None))
        for place, reg in enumerate(sorted(bests, key=lambda r: bests[r]), start=1):
            lines.append(best(place, reg, bests[reg][1], bests[reg][0]))
        return lines

    def _order(self, done: dict[str, tuple[int, float]], bests: dict[str, tuple[float, int]]) -> list[str]:
        if self.practice:
            return sorted(done, key=lambda r: (r not in bests, bests.get(r, (0.0, 0))[0]))
        return sorted(done, key=lambda r: (-done[r][0], done[r][1]))


def write_capture(directory: Path, lines: list[str], name: str = "capture.txt") -> Path:
    """``lines`` written as Orbits sends them (cp1252, CR LF) to a file in ``directory``."""
    path = directory / name
    path.write_bytes("".join(f"{line}\r\n" for line in lines).encode("cp1252"))
    return path
