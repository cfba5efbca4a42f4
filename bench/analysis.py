"""Analysis read models and official documents over a simulated 24-hour race (60 cars, ~45,000 laps).

Figures, each beside a baseline measured in the same run:

- the analysis read models (every lap placed, stints, drive times, best sectors, fastest-lap sequence) of the
  folded race, against the plain classification fold of the same log (target < 2 s);
- the live path: the same log applied event by event with the laps placed every 50 events, against the fold;
- one classification PDF (overall and by class, 60 cars), against encoding the same classification as JSON
  (target < 1 s), and every document of the race together.

Each figure is the CPU time of this process (the median of three runs): the machine is shared, and the wall time
of a pure computation then measures the neighbours as much as the work.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import msgspec

from bench.report import Report
from services.analysis.analyst import SessionAnalyst, analyse
from services.classification.fold import SessionFold, fold_log
from services.documents import official
from services.documents.report import session_documents
from services.simulator.endurance import RaceSpec, simulate

DAY_MS = 24 * 3600 * 1000
RUNS = 3


def _seconds(work: Callable[[], object]) -> float:
    times = []
    for _ in range(RUNS):
        started = time.process_time()
        work()
        times.append(time.process_time() - started)
    return statistics.median(times)


def run() -> Report:
    report = Report("analysis")
    events = simulate(RaceSpec(seed=24, cars=60, duration_ms=DAY_MS, retirements=6))
    pairs = list(enumerate(events, start=1))
    session = events[0].session
    state = fold_log(pairs).sessions[session.key]
    laps = sum(len(car.crossings) for car in state.cars.values())

    def live() -> None:
        analyst = SessionAnalyst(SessionFold(session))
        for seq, event in pairs:
            analyst.apply(seq, event)
            if seq % 50 == 0:
                analyst.take()
        analyst.take()

    classification = state.classification()
    analysis = analyse(state)
    head = official.heading(classification, None, "Europe/Rome")

    report.add("classification fold of the log (baseline)", _seconds(lambda: fold_log(pairs)), "cpu s")
    report.add(
        "analysis read models of the folded race",
        _seconds(lambda: analyse(state)),
        "cpu s",
        baseline="classification fold of the log (baseline)",
        target="< 2 s",
    )
    report.add(
        "live: fold and place laps event by event",
        _seconds(live),
        "cpu s",
        baseline="classification fold of the log (baseline)",
    )
    report.add("classification as JSON (baseline)", _seconds(lambda: msgspec.json.encode(classification)), "cpu s")
    report.add(
        "classification PDF, overall and by class",
        _seconds(lambda: official.classification_pdf(head, classification, analysis)),
        "cpu s",
        baseline="classification as JSON (baseline)",
        target="< 1 s",
    )
    report.add(
        "every document of the race (9, from the log)",
        _seconds(lambda: session_documents(pairs, session)),
        "cpu s",
        baseline="classification fold of the log (baseline)",
    )
    report.notes.append(f"{len(events):,} events, {laps:,} laps, 60 cars, 24 hours; CPU s, median of {RUNS} runs")
    return report
