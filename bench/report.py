"""One table and one JSON file per benchmark, every figure beside its in-run baseline."""

from __future__ import annotations

import json
import os
import platform
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

RESULTS = Path(__file__).parent / "results"


@dataclass
class Figure:
    name: str
    value: float
    unit: str
    baseline: str | None = None
    """Name of the figure this one is a ratio to (measured in the same run)."""
    target: str | None = None
    ratio: float | None = None


@dataclass
class Report:
    benchmark: str
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(
        self, name: str, value: float, unit: str, *, baseline: str | None = None, target: str | None = None
    ) -> None:
        self.figures.append(Figure(name, value, unit, baseline, target))

    def add_latency(
        self, name: str, latencies: list[float], pct: int, *, baseline: str | None = None, target: str | None = None
    ) -> None:
        """The ``pct``th percentile of ``latencies`` (ms; NaN when there are none)."""
        self.add(name, percentile(latencies, pct), "ms", baseline=baseline, target=target)

    def _resolve(self) -> None:
        by_name = {f.name: f for f in self.figures}
        for figure in self.figures:
            if figure.baseline is not None and by_name[figure.baseline].value:
                figure.ratio = figure.value / by_name[figure.baseline].value

    def show(self, console: Console) -> None:
        self._resolve()
        table = Table(title=f"bench: {self.benchmark}")
        for column in ("measure", "value", "unit", "ratio", "to baseline", "target"):
            table.add_column(column, justify="right" if column in ("value", "ratio") else "left")
        for f in self.figures:
            table.add_row(
                f.name,
                f"{f.value:,.3f}" if f.value < 100 else f"{f.value:,.0f}",
                f.unit,
                f"{f.ratio:.3f}" if f.ratio is not None else "",
                f.baseline or "",
                f.target or "",
            )
        console.print(table)
        for note in self.notes:
            console.print(f"  [dim]{note}[/dim]")

    def write(self) -> Path:
        self._resolve()
        RESULTS.mkdir(exist_ok=True)
        path = RESULTS / f"{self.benchmark}.json"
        payload = {
            "benchmark": self.benchmark,
            "machine": {"python": platform.python_version(), "cpu": platform.processor() or platform.machine()},
            "figures": [asdict(f) for f in self.figures],
            "notes": self.notes,
        }
        path.write_text(json.dumps(payload, indent=2) + "\n")
        return path


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU time of a process so far (Linux ``/proc``); None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")
