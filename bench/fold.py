"""The pure classification fold over a simulated 24-hour race (60 cars, > 20,000 laps).

Reports events/s over the whole log, over its first and last 10 % (a cost per
event that does not grow with what has been folded already shows as a ratio
near 1), the cost of one live read model (``classification()``) at the end, and
the classification at each of the 24 hours (:func:`hourly`) against one fold of
the whole log with its classification. Baseline in the same run: decoding the
same events from JSON with msgspec.

The live value after one lap (issue 22 item 2): over the same race, after every
event, the projector's value (``SessionFold.encoded``: rows updated, not
rebuilt), timed after each lap, against the value built whole
(``encode_classification(classify(state))``) after every 20th lap.
"""

from __future__ import annotations

import statistics
import time

from bench.report import Report
from schemas.events import Event, LapCompleted, decode_event, encode_event
from schemas.results import encode_classification
from services.classification.fold import ClassificationProjection, fold_log
from services.classification.hourly import hourly
from services.classification.rules import classify
from services.simulator.endurance import RaceSpec, simulate

DAY_MS = 24 * 3600 * 1000


def _rate(pairs: list, projection: ClassificationProjection) -> float:  # type: ignore[type-arg]
    started = time.perf_counter()
    for seq, event in pairs:
        projection.apply(seq, event)
    return len(pairs) / (time.perf_counter() - started)


def _after_laps(events: list[Event]) -> tuple[list[float], list[float]]:
    """Seconds to the projector's value after each lap: live (every lap), built whole (every 20th)."""
    projection = ClassificationProjection()
    live: list[float] = []
    whole: list[float] = []
    for seq, event in enumerate(events, start=1):
        projection.apply(seq, event)
        state = projection.sessions[event.session.key]
        if state.opened is None:
            continue
        started = time.perf_counter()
        state.encoded()
        took = time.perf_counter() - started
        if isinstance(event.body, LapCompleted):
            live.append(took)
            if len(live) % 20 == 0:
                started = time.perf_counter()
                encode_classification(classify(state))
                whole.append(time.perf_counter() - started)
    return live, whole


def _percentile(values: list[float], fraction: float) -> float:
    return sorted(values)[min(len(values) - 1, int(len(values) * fraction))]


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
    live, whole_builds = _after_laps(events)
    report.add("value after a lap, built whole: mean", statistics.mean(whole_builds) * 1e6, "µs")
    report.add(
        "value after a lap, live: mean",
        statistics.mean(live) * 1e6,
        "µs",
        baseline="value after a lap, built whole: mean",
        target="<= 100 µs",
    )
    report.add("value after a lap, built whole: p99", _percentile(whole_builds, 0.99) * 1e6, "µs")
    report.add(
        "value after a lap, live: p50", _percentile(live, 0.5) * 1e6, "µs", baseline="value after a lap, live: mean"
    )
    report.add(
        "value after a lap, live: p99",
        _percentile(live, 0.99) * 1e6,
        "µs",
        baseline="value after a lap, built whole: p99",
    )
    report.notes.append(f"{len(events):,} events, {laps:,} laps, 60 cars, 24 hours")
    report.notes.append("value after a lap: build and encode of the 60-car classification the projector writes")
    return report
