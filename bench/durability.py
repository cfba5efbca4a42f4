"""What syncing every write costs: ingest on nats-server's default (fsync every 2 minutes) and on
``sync_interval: always`` (what ``deploy/nats/single.conf`` ships), in the same run.

For each: acknowledged events/s of a simulated race sent in batches (the feeds' way), and the latency of
single events sent one at a time (race control's way), p50 and p99. The default is the baseline.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from bench.report import Report
from schemas.events import SessionRef
from services.broker.connection import connect
from services.broker.embedded import EmbeddedNats
from services.ingest.client import Producer
from services.ingest.service import IngestService
from services.ops.pacing import retarget
from services.simulator.endurance import RaceSpec, simulate

SINGLE_EVENTS = 300
DEFAULT, ALWAYS = "default (fsync every 2 min)", "sync_interval: always"
CONFIGS = {DEFAULT: "", ALWAYS: "jetstream { sync_interval: always }\n"}


async def _measure(config: str) -> tuple[float, list[float]]:
    """(acknowledged events/s in batches, single-event latencies in ms) on a server with ``config``."""
    events = simulate(RaceSpec(seed=7, cars=30, duration_ms=3600_000))
    with tempfile.TemporaryDirectory() as store:
        path = Path(store) / "server.conf"
        path.write_text(config)
        with EmbeddedNats(Path(store) / "nats", config=path) as server:
            ingest = IngestService(server.url)
            await ingest.start()
            nc = await connect(server.url, "bench")
            try:
                started = time.perf_counter()
                await Producer(nc, window=256).send_all(events)
                rate = len(events) / (time.perf_counter() - started)
                producer = Producer(nc)
                single = list(retarget(events[: SINGLE_EVENTS + 50], SessionRef("bench", "single", "race")))
                await producer.send_all(single[:50])  # the session opened, its entries in
                latencies = []
                for event in single[50:]:
                    started = time.perf_counter()
                    await producer.send(event)
                    latencies.append((time.perf_counter() - started) * 1000)
                return rate, latencies
            finally:
                await nc.close()
                await ingest.stop()


def run() -> Report:
    report = Report("durability")
    for name, config in CONFIGS.items():
        rate, latencies = asyncio.run(_measure(config))
        baseline = None if name == DEFAULT else DEFAULT
        report.add(f"{name}: ingest, batches", rate, "events/s", baseline=baseline and f"{baseline}: ingest, batches")
        for pct in (50, 99):
            figure = f"one event at a time, p{pct}"
            report.add_latency(f"{name}: {figure}", latencies, pct, baseline=baseline and f"{baseline}: {figure}")
    report.notes.append("this machine's disk; on a slower disk every synced write costs more")
    return report
