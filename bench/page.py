"""The live page in real Chromium under load: producer acknowledgement -> the row's laps changed in the page's DOM.

Processes as in :mod:`bench.gateway` (nats-server; ingest + the classification projector; the gateway; this one,
the producer), plus headless Chromium showing the live page (``?marks=1``: the page notes, for every row whose
laps change, the car, the laps and ``performance.timeOrigin + performance.now()``, the wall clock when its DOM
was updated) and a process with a plain NATS subscriber for the baseline.

Events are offered on a fixed schedule, 50/s then 200/s (:data:`bench.gateway.PHASES`). For each lap
acknowledged (car ``c``, lap ``l``, ack at wall time ``t``), a page's latency is the first mark of ``c`` with
laps >= ``l`` minus ``t``. Baseline, in the same run: a core NATS message published beside each event and
received by a plain subscriber in a process of its own.
"""

from __future__ import annotations

import asyncio
import bisect
import multiprocessing
import os
import shutil
import time
from pathlib import Path
from typing import Any

from bench.gateway import (
    PHASES,
    SESSION,
    TOKEN,
    Phase,
    clients_process,
    measured,
    on_stack,
    race,
)
from bench.report import Report, cpu_seconds
from schemas.events import LapCompleted
from services.broker.connection import connect
from services.ingest.client import Producer

PAGES = 1
TARGET = "< 20 ms"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]


def _chromium() -> str:
    for candidate in (os.environ.get("CHROMIUM_PATH"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).is_file():
            return candidate
    raise SystemExit("bench page needs Chromium: set CHROMIUM_PATH or install /usr/bin/chromium")


def _descendants(pid: int) -> list[int]:
    """Every process under ``pid`` (Linux ``/proc``): here the Playwright driver and the Chromium it launched."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, stack = [], [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def _browser_cpu(exclude: set[int | None]) -> float:
    return sum(cpu_seconds(pid) or 0.0 for pid in _descendants(os.getpid()) if pid not in exclude)


def _arrival_latencies(arrivals: list[list[float]], phase: Phase, wall_offset: float) -> list[float]:
    """Ack (wall clock) -> the first message with that sequence or a later one arriving in the page, ms."""
    seqs = [int(seq) for seq, _ in arrivals]
    out = []
    for seq, acked in phase.acks:
        index = bisect.bisect_left(seqs, seq)
        if index < len(seqs):
            out.append(arrivals[index][1] - (acked + wall_offset) * 1000)
    return out


def _latencies(marks: list[list[Any]], phase: Phase, laps: list[tuple[str, int]], wall_offset: float) -> list[float]:
    """Ack (wall clock) -> the first DOM mark of the car at that many laps or more, ms, for every lap of the phase."""
    by_car: dict[str, tuple[list[int], list[float]]] = {}
    for number, lap, at in sorted(marks, key=lambda m: (m[0], m[2])):
        laps_seen, times = by_car.setdefault(number, ([], []))
        if not laps_seen or lap > laps_seen[-1]:
            laps_seen.append(lap)
            times.append(at)
    out = []
    for (_, acked), (number, lap) in zip(phase.acks, laps, strict=True):
        laps_seen, times = by_car.get(number, ([], []))
        index = bisect.bisect_left(laps_seen, lap)
        if index < len(laps_seen):
            out.append(times[index] - (acked + wall_offset) * 1000)
    return out


async def _measure(report: Report, nats_url: str, gateway_url: str, pids: dict[str, int | None]) -> None:
    from playwright.async_api import async_playwright

    loop = asyncio.get_running_loop()
    wall_offset = time.time() - time.monotonic()
    nc = await connect(nats_url, "bench-page-producer")
    head, laps = race(sum(int(rate * seconds) for rate, seconds in PHASES))
    await Producer(nc).send_all(head)
    spawn = multiprocessing.get_context("spawn")
    parent, child = spawn.Pipe()
    baseline = spawn.Process(target=clients_process, args=("sse", 0, gateway_url, nats_url, child), daemon=True)
    baseline.start()
    assert await asyncio.wait_for(loop.run_in_executor(None, parent.recv), 60) == "ready"
    load_before = os.getloadavg()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
        pages = []
        for _ in range(PAGES):
            context = await browser.new_context(viewport={"width": 1920, "height": 1080})
            page = await context.new_page()
            await page.goto(f"{gateway_url}/?session={SESSION.key}&token={TOKEN}&marks=1")
            pages.append(page)
        for page in pages:
            await page.wait_for_function(
                f"() => document.querySelectorAll('#tower-body tr').length === {len(head) - 2}"
            )
        phases = []
        offset = 0
        for rate, seconds in PHASES:
            count = int(rate * seconds)
            others = {*pids.values(), baseline.pid}
            browser_before, started = _browser_cpu(others), time.monotonic()
            phases.append(await measured(nc, laps[offset : offset + count], rate, pids))
            elapsed = time.monotonic() - started
            phases[-1].cpu["Chromium + Playwright"] = (_browser_cpu(others) - browser_before) / elapsed
            offset += count
            await asyncio.sleep(2.0)  # what is in flight arrives before the next phase or the end
        marks = [await page.evaluate("() => window.chequeredMarks") for page in pages]
        arrivals = [await page.evaluate("() => window.chequeredArrivals") for page in pages]
        await browser.close()
    load_after = os.getloadavg()
    parent.send("stop")
    _, pinged, _ = await asyncio.wait_for(loop.run_in_executor(None, parent.recv), 60)
    await nc.close()

    offset = 0
    core = "NATS core publish -> subscriber"
    for phase in phases:
        phase_laps = [(e.body.number, e.body.lap) for e in laps[offset : offset + len(phase.acks)]
                      if isinstance(e.body, LapCompleted)]  # fmt: skip
        offset += len(phase.acks)
        latencies = [ms for page_marks in marks for ms in _latencies(page_marks, phase, phase_laps, wall_offset)]
        arrived = [ms for page_arrivals in arrivals for ms in _arrival_latencies(page_arrivals, phase, wall_offset)]
        for pct in (50, 99):
            reference = f"{phase.name}: {core}, p{pct}"
            report.add_latency(reference, pinged.get(phase.name, []), pct)
            in_page = f"{phase.name}: ack -> message in the page (EventSource), p{pct}"
            report.add_latency(in_page, arrived, pct, baseline=reference)
            dom = f"{phase.name}: ack -> Chromium page DOM, p{pct}"
            report.add_latency(dom, latencies, pct, baseline=reference, target=phase.held_to(TARGET, pct))
        report.add_latency(f"{phase.name}: send -> ingest ack p99", phase.waits, 99)
        for name, cores in phase.cpu.items():
            report.add(f"{phase.name}: CPU of {name}", cores, "cores")
        report.notes.append(f"{phase.name}: {len(latencies):,} lap updates measured in {PAGES} pages")
    report.notes.append(
        f"load average (1, 5, 15 min) before {load_before[0]:.1f} {load_before[1]:.1f} {load_before[2]:.1f}, "
        f"after {load_after[0]:.1f} {load_after[1]:.1f} {load_after[2]:.1f} (2 cores, shared)"
    )
    report.notes.append(
        f"{len(head) - 2}-car field; {PAGES} pages of the live page in one headless Chromium; processes: "
        "nats-server, ingest + projector, gateway, producer + Playwright, Chromium, the baseline subscriber"
    )


def run() -> Report:
    report = Report("page")
    asyncio.run(on_stack(report, _measure))
    return report
