"""Rebuild of a simulated 24-hour race from the stream, beside nats-py's own ordered-consumer read of it.

The race is published straight into the stream (this measures the rebuild,
not ingest), then, in three alternated rounds of the same run: nats-py's
ordered consumer reading the stream to its head (the baseline; the same again
with every event decoded), the services' bulk reader
(:mod:`services.broker.bulkread`) doing the same, and ``chequered rebuild
classification`` (read, fold, write the new bucket, switch). Each figure is the
median of its rounds.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from nats.js import JetStreamContext

from bench.baseline import nats_py_read
from bench.fold import DAY_MS
from bench.report import Report, median
from schemas.events import encode_event
from schemas.subjects import EVENTS_PREFIX, events_subject
from services.broker.bulkread import read_to_head
from services.broker.connection import connect
from services.broker.embedded import EmbeddedNats
from services.broker.topology import ensure_topology
from services.ops.rebuild import rebuild
from services.simulator.endurance import RaceSpec, simulate

ROUNDS = 3
BASELINE = "nats-py ordered-consumer read (baseline)"
ALL = f"{EVENTS_PREFIX}.>"


async def _bulk(js: JetStreamContext) -> int:
    count = 0
    async for batch in read_to_head(js, [ALL], max_size=20_000):
        count += len(batch)
    return count


async def _rebuild(js: JetStreamContext) -> int:
    return (await rebuild(js, "classification")).events


async def _run(report: Report) -> None:
    events = simulate(RaceSpec(seed=24, cars=60, duration_ms=DAY_MS, retirements=6))
    with tempfile.TemporaryDirectory() as store, EmbeddedNats(Path(store)) as server:
        nc = await connect(server.url, "bench-rebuild")
        try:
            js = nc.jetstream()
            await ensure_topology(js)
            subject = events_subject(events[0].session)
            for start in range(0, len(events), 5000):
                acks = [
                    await js.publish_async(subject, encode_event(e), headers={"Nats-Msg-Id": e.msg_id})
                    for e in events[start : start + 5000]
                ]
                await asyncio.gather(*acks)

            readers: dict[str, Callable[[], Awaitable[int]]] = {
                BASELINE: lambda: nats_py_read(js, ALL),
                "nats-py ordered-consumer read + decode": lambda: nats_py_read(js, ALL, decode=True),
                "bulk read (services.broker.bulkread)": lambda: _bulk(js),
                "rebuild: read, fold, write, switch": lambda: _rebuild(js),
            }
            seconds: dict[str, list[float]] = {name: [] for name in readers}
            for _ in range(ROUNDS):
                for name, read in readers.items():
                    started = time.perf_counter()
                    count = await read()
                    seconds[name].append(time.perf_counter() - started)
                    assert count == len(events), f"{name} read {count} of {len(events)} events"
            for name, taken in seconds.items():
                report.add(
                    name,
                    len(events) / median(taken),
                    "events/s",
                    baseline=None if name == BASELINE else BASELINE,
                    target=">= 1.5" if name.startswith("rebuild") else None,
                )
            report.add("rebuild wall time", median(seconds["rebuild: read, fold, write, switch"]), "s", target="< 2 s")
            report.notes.append(
                f"{len(events):,} events of a 60-car 24-hour race; medians of {ROUNDS} alternated rounds; "
                f"load {os.getloadavg()[0]:.1f}"
            )
        finally:
            await nc.close()


def run() -> Report:
    report = Report("rebuild")
    asyncio.run(_run(report))
    return report
