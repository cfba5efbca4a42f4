"""The feed adapters' pure cores over whole files: RMonitor parse + map, Al Kamel read + map.

Inputs: the real recordings in ``../shared/data`` (read in place, never
copied) when present, else a generated RMonitor capture and Al Kamel chart of
a 40-car race written to a temporary directory. Each rate is measured beside
its baseline in the same run: merely reading the same files and splitting
them into lines. Every figure is the best of :data:`REPEATS` runs, in CPU time
of this process: the work is single-threaded and pure, and on a machine shared
with other work wall time measures the neighbours as much as the feeds.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from bench.report import Report
from schemas.events import SessionRef
from services.feeds.alkamel.parser import analysis_events, read_analysis
from services.feeds.rmonitor.capture import ReadStats, map_capture, read_records
from services.feeds.rmonitor.options import RMonitorOptions

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SESSION = SessionRef(championship="bench", event="feeds", session="race")
OPTIONS = RMonitorOptions(producer="bench")
REPEATS = 3
CARS = 40
LAPS = 150


def _best(action: Callable[[], object]) -> float:
    """The shortest of :data:`REPEATS` timings of ``action``, in CPU seconds."""
    times: list[float] = []
    for _ in range(REPEATS):
        started = time.process_time()
        action()
        times.append(time.process_time() - started)
    return min(times)


def _split(paths: Sequence[Path]) -> int:
    return sum(len(path.read_bytes().decode("cp1252").splitlines()) for path in paths)


def _parse(paths: Sequence[Path]) -> int:
    return sum(sum(1 for _ in read_records(path, ReadStats())) for path in paths)


def _map(paths: Sequence[Path]) -> int:
    return sum(len(map_capture(path, SESSION, OPTIONS).events) for path in paths)


def _import(paths: Sequence[Path]) -> int:
    return sum(len(analysis_events(read_analysis(path), SESSION)) for path in paths)


# -- generated inputs ------------------------------------------------------------


def _clock(ms: int) -> str:
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


def _lap_ms(car: int, lap: int) -> int:
    return 95_000 + car * 160 + (car * 7919 + lap * 104_729) % 2_500


def _capture(path: Path) -> None:
    """A capture of a ``CARS``-car race over ``LAPS`` laps: entries, a ``$F`` a second, a ``$J`` and ``$G`` each
    passing."""
    lines = ['$I,"11:55:00.000","01 Jun 25"', '$B,3,"Endurance Race"', '$C,1,"GT3"']
    lines += [f'$A,"{car}","{car}",{1000 + car},"First","Last{car}","FRA",1' for car in range(1, CARS + 1)]
    crossings: list[tuple[int, int, int]] = []
    for car in range(1, CARS + 1):
        total = 0
        for lap in range(1, LAPS + 1):
            total += _lap_ms(car, lap)
            crossings.append((total, car, lap))
    crossings.sort()
    done: dict[int, tuple[int, int]] = {}
    index = 0
    for second in range(crossings[-1][0] // 1000 + 2):
        tod = 12 * 3600 + second
        lines.append(f'$F,9999,"00:00:00","{_clock(tod * 1000)[:8]}","{_clock(second * 1000)[:8]}","Green "')
        while index < len(crossings) and crossings[index][0] < (second + 1) * 1000:
            total, car, lap = crossings[index]
            index += 1
            done[car] = (-lap, total)
            position = sorted(done.values()).index(done[car]) + 1
            lines.append(f'$J,"{car}","{_clock(_lap_ms(car, lap))}","{_clock(total)}"')
            lines.append(f'$G,{position},"{car}",{lap},"{_clock(total)}"')
    path.write_bytes("".join(f"{line}\r\n" for line in lines).encode("cp1252"))


def _chart(path: Path) -> None:
    """An Al Kamel chart of the same race (times only: sectors and speeds are left blank)."""
    rows = ["NUMBER;DRIVER_NUMBER;LAP_NUMBER;LAP_TIME;ELAPSED;HOUR;DRIVER_NAME;CLASS;TEAM;MANUFACTURER;FLAG_AT_FL;"]
    for car in range(1, CARS + 1):
        elapsed = 0
        for lap in range(1, LAPS + 1):
            lap_ms = _lap_ms(car, lap)
            elapsed += lap_ms
            hour = _clock(12 * 3_600_000 + elapsed)
            rows.append(f"{car};1;{lap};{_clock(lap_ms)};{_clock(elapsed)};{hour};D{car};GT3;T{car};M;GF;")
    path.write_text("\ufeff" + "\n".join(rows) + "\n", encoding="utf-8")


# -- the run ---------------------------------------------------------------------------


def _inputs(scratch: Path) -> tuple[list[Path], list[Path], str]:
    rmonitor, alkamel = SHARED_DATA / "rmonitor", SHARED_DATA / "alkamel"
    if rmonitor.is_dir() and alkamel.is_dir():
        captures = [path for path in sorted(rmonitor.glob("*.txt")) if not path.name.startswith("LICENSE")]
        return captures, sorted(alkamel.glob("*.csv")), f"real recordings in {SHARED_DATA}"
    capture, chart = scratch / "capture.txt", scratch / "analysis.csv"
    _capture(capture)
    _chart(chart)
    return [capture], [chart], f"generated: a {CARS}-car race over {LAPS} laps"


def _rmonitor(report: Report, captures: list[Path]) -> None:
    lines = _split(captures)
    mapped = [map_capture(path, SESSION, OPTIONS) for path in captures]
    events = sum(len(capture.events) for capture in mapped)
    skipped = sum(capture.read.skipped for capture in mapped)
    base = "rmonitor: read + split lines"
    report.add(base, lines / _best(lambda: _split(captures)), "lines/s")
    report.add("rmonitor: read + parse", lines / _best(lambda: _parse(captures)), "lines/s", baseline=base)
    report.add("rmonitor: read + parse + map", lines / _best(lambda: _map(captures)), "lines/s", baseline=base)
    report.notes.append(f"rmonitor: {len(captures)} captures, {lines:,} lines ({skipped} skipped), {events:,} events")


def _alkamel(report: Report, charts: list[Path]) -> None:
    laps = sum(len(read_analysis(path).rows) for path in charts)
    events = _import(charts)
    base = "alkamel: read + split lines"
    report.add(base, laps / _best(lambda: _split(charts)), "laps/s")
    report.add("alkamel: read + map to events", laps / _best(lambda: _import(charts)), "laps/s", baseline=base)
    report.notes.append(f"alkamel: {len(charts)} charts, {laps:,} laps, {events:,} events")


@contextlib.contextmanager
def _quiet(name: str) -> Iterator[None]:
    """Without the per-line warnings of skipped lines: the timed loops read the same files many times."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def run() -> Report:
    report = Report("feeds")
    with tempfile.TemporaryDirectory() as scratch, _quiet("services.feeds"):
        captures, charts, source = _inputs(Path(scratch))
        _rmonitor(report, captures)
        _alkamel(report, charts)
    report.notes.append(f"inputs: {source}")
    return report
