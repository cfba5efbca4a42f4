"""``chequered export`` of a simulated 24-hour race (60 cars): what changed per event (the default) against the
whole order at each change (``--full``), both encoded as JSON lines (counted, not written to disk).

Baseline in the same run: the pure fold of the same events with no read model built. The export builds the
classification after every event (the projector's own ``classify``), so its rate is a fraction of the baseline;
what must hold is that the cost per event does not grow over the race (first vs last 10 %) and that the output
is a small fraction of the full one. Times are the process's CPU time (one thread, pure Python), so other work
on the machine does not move the ratios.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from bench.report import Report
from schemas.events import Event
from services.classification.fold import ClassificationProjection, fold_log
from services.ops.history import Change, Step, changes, history, to_jsonl
from services.simulator.endurance import RaceSpec, simulate

DAY_MS = 24 * 3600 * 1000


class Stamps:
    """CPU times at which the export had read given numbers of events (its progress callback)."""

    def __init__(self, marks: Iterable[int]) -> None:
        self.marks = set(marks)
        self.read = 0
        self.at: dict[int, float] = {}

    def __call__(self) -> None:
        self.read += 1
        if self.read in self.marks:
            self.at[self.read] = time.process_time()


def _encoded(items: Iterable[Change] | Iterable[Step]) -> tuple[float, int]:
    """CPU seconds to fold, compare and encode the export (a lazy iterator, run here), and its size in bytes."""
    started = time.process_time()
    size = sum(len(chunk) for chunk in to_jsonl(items))
    return time.process_time() - started, size


def _classify_ms(pairs: list[tuple[int, Event]], key: str, times: int = 50) -> float:
    """CPU milliseconds of one classification of the session folded this far."""
    state = fold_log(pairs).sessions[key]
    started = time.process_time()
    for _ in range(times):
        state.classification()
    return (time.process_time() - started) / times * 1000


def run() -> Report:
    report = Report("export")
    events = simulate(RaceSpec(seed=24, cars=60, duration_ms=DAY_MS, retirements=6))
    pairs = list(enumerate(events, start=1))
    key = events[0].session.key
    tenth = len(pairs) // 10

    started = time.process_time()
    projection = ClassificationProjection()
    for seq, event in pairs:
        projection.apply(seq, event)
    fold_rate = len(pairs) / (time.process_time() - started)
    classify_ms = {mark: _classify_ms(pairs[:mark], key) for mark in (tenth, len(pairs) - tenth)}

    stamps = Stamps([1, tenth, len(pairs) - tenth, len(pairs)])
    seconds, size = _encoded(changes(pairs, key, stamps))
    first = (tenth - 1) / (stamps.at[tenth] - stamps.at[1])
    last = tenth / (stamps.at[len(pairs)] - stamps.at[len(pairs) - tenth])
    full_seconds, full_size = _encoded(history(pairs, key))

    report.add("pure fold, no read model", fold_rate, "events/s")
    report.add("export (what changed)", len(pairs) / seconds, "events/s", baseline="pure fold, no read model")
    report.add("export (what changed), first 10 %", first, "events/s")
    report.add(
        "export (what changed), last 10 %",
        last,
        "events/s",
        baseline="export (what changed), first 10 %",
        target="ratio ~1",
    )
    report.add("classification() at 10 % of the race", classify_ms[tenth], "ms")
    report.add(
        "classification() at 90 % of the race",
        classify_ms[len(pairs) - tenth],
        "ms",
        baseline="classification() at 10 % of the race",
    )
    report.add("export --full", len(pairs) / full_seconds, "events/s", baseline="pure fold, no read model")
    report.add("export --full, output", full_size / 1e6, "MB")
    report.add("export (what changed), output", size / 1e6, "MB", baseline="export --full, output")
    report.add("export (what changed), CPU", seconds, "s")
    report.notes.append(f"{len(events):,} events, 60 cars, 24 hours; JSON lines, encoded and counted")
    return report
