"""How long ``chequered`` takes to start: a command, and ``serve all`` until every service is ready.

Each process imports what it runs (:mod:`services.cli.serving`): a command does not import the services, a
child of ``serve all`` imports its own service only. Figures are medians of alternated rounds, each a ratio to
the bare interpreter started in the same run (``python -c pass``).
"""

from __future__ import annotations

import subprocess
import sys
import time

from bench.report import Report, median
from bench.serve import CHEQUERED, served

ROUNDS = 5
BASELINE = "Python interpreter start (python -c pass)"
HELP = "chequered --help"
SERVE_ALL = "chequered serve all: started -> /readyz 200 (broker and 5 services)"


def _timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def _serve_all() -> float:
    started = time.perf_counter()
    with served("all"):
        return time.perf_counter() - started


def run() -> Report:
    report = Report("startup")
    seconds: dict[str, list[float]] = {BASELINE: [], HELP: [], SERVE_ALL: []}
    for round_ in range(ROUNDS):
        seconds[BASELINE].append(_timed([sys.executable, "-c", "pass"]))
        seconds[HELP].append(_timed([str(CHEQUERED), "--help"]))
        if round_ < 3:
            seconds[SERVE_ALL].append(_serve_all())
    for name, taken in seconds.items():
        report.add(name, median(taken), "s", baseline=None if name == BASELINE else BASELINE)
    report.notes.append(f"medians of {ROUNDS} rounds ({len(seconds[SERVE_ALL])} of serve all), alternated")
    return report
