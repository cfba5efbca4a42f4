"""The pure classification fold over a simulated 24-hour race (60 cars, > 20,000 laps).

Reports events/s over the whole log, over its first and last 10 % (a cost per
event that does not grow with what has been folded already shows as a ratio
near 1), the cost of one live read model (``classification()``) at the end, and
the classification at each of the 24 hours (:func:`hourly`) against one fold of
the whole log with its classification. Baseline in the same run: decoding the
same events from JSON with msgspec.
"""

from __future__ import annotations

import time

from bench.report import Report
from schemas.events import decode_event, encode_event
from services.classification.fold import ClassificationProjection, fold_log
from services.classification.hourly import hourly
from services.simulator.endurance import RaceSpec, simulate

DAY_MS = 24 * 3600 * 1000


def _rate(pairs: list, projection: ClassificationProjection) -> float:  # type: ignore[type-arg]
    started = time.perf_counter()
    for seq, event in pairs:
        projection.apply(seq, event)
    return len(pairs) / (time.perf_counter() - started)


def run() -> Report:
    report = Report("fold")
    events = simulate(RaceSpec(seed=24, cars=60, duration_ms=DAY_MS, retirements=6))
    laps = sum(1 for e in events if type(e.body).__name__ == "LapCompleted")
    pairs = list(enumerate(events, start=1))
    blobs = [encode_event(e) for e in events]

    started = time.perf_counter()
    for blob in blobs:
        decode_event(blob)
    decode_rate = len(blobs) / (time.perf_counter() - started)

    whole = ClassificationProjection()
    rate = _rate(pairs, whole)
    tenth = len(pairs) // 10
    staged = ClassificationProjection()
    first = _rate(pairs[:tenth], staged)
    _rate(pairs[tenth:-tenth], staged)
    last = _rate(pairs[-tenth:], staged)

    state = next(iter(whole.sessions.values()))
    started = time.perf_counter()
    for _ in range(20):
        state.classification()
    classify_ms = (time.perf_counter() - started) / 20 * 1000

    started = time.perf_counter()
    fold_log(pairs).sessions[state.session.key].classification()
    whole_s = time.perf_counter() - started
    started = time.perf_counter()
    hours = hourly(pairs, state.session)
    hourly_s = time.perf_counter() - started
    assert hours is not None and len(hours.hours) == 24

    report.add("msgspec decode of the same events", decode_rate, "events/s")
    report.add(
        "pure fold, whole log", rate, "events/s", baseline="msgspec decode of the same events", target=">= 300,000"
    )
    report.add("pure fold, first 10 %", first, "events/s")
    report.add("pure fold, last 10 %", last, "events/s", baseline="pure fold, first 10 %", target="ratio ~1")
    report.add("classification() of the final state", classify_ms, "ms")
    report.add("fold + classification of the whole log", whole_s * 1000, "ms")
    report.add(
        "hourly classification, 24 hours", hourly_s * 1000, "ms", baseline="fold + classification of the whole log"
    )
    report.notes.append(f"{len(events):,} events, {laps:,} laps, 60 cars, 24 hours")
    return report
