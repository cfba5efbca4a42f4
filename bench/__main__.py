"""``python -m bench [NAME ...]``: run the named benchmarks (all by default)."""

from __future__ import annotations

import argparse
import importlib

from rich.console import Console

from services.heap import tune_collector

BENCHMARKS = {
    "pipeline": "bench.pipeline",
    "fold": "bench.fold",
    "rebuild": "bench.rebuild",
    "feeds": "bench.feeds",
    "gateway": "bench.gateway",
    "page": "bench.page",
    "scale": "bench.scale",
    "standings": "bench.standings",
    "durability": "bench.durability",
    "ingest": "bench.ingest",
    "analysis": "bench.analysis",
    "calendar": "bench.calendar",
    "export": "bench.export",
    "serve": "bench.serve",
    "startup": "bench.startup",
}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", choices=[*BENCHMARKS, []], help="benchmarks to run (default: all)")
    args = parser.parse_args()
    tune_collector()  # as every chequered process does (services.heap)
    console = Console()
    for name in args.names or list(BENCHMARKS):
        report = importlib.import_module(BENCHMARKS[name]).run()
        report.show(console)
        console.print(f"[dim]wrote {report.write()}[/dim]")


if __name__ == "__main__":
    main()
