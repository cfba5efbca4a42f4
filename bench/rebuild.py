"""Rebuilds from the stream, beside nats-py's own ordered-consumer read of the same log.

Two logs, each published straight into the stream of a broker of its own
(this measures the rebuild, not ingest):

- one simulated 24-hour race (one session: rebuilt by one process, and by
  two: this one reading, a fold process folding as it reads);
- a championship's archive: :data:`ARCHIVE` simulated 6-hour races, the
  sessions spread over the log's partitions, rebuilt by one process and by
  :data:`WORKERS` worker processes (``chequered rebuild`` takes one per core).

For each, in three alternated rounds of the same run: nats-py's ordered
consumer reading the log to its head (the baseline; for the race, the same
again with every event decoded), for the race the services' bulk reader
(:mod:`services.broker.bulkread`) doing the same, and the rebuild (read, fold,
write the new bucket, switch). Each figure is the median of its rounds, and a
ratio to its log's baseline.
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
from schemas.events import Event, encode_event
from schemas.subjects import EVENTS_PREFIX, events_subject
from services.broker.bulkread import read_to_head
from services.broker.connection import connect
from services.broker.embedded import EmbeddedNats
from services.broker.topology import ensure_topology
from services.ops.rebuild import rebuild
from services.simulator.endurance import RaceSpec, simulate

ROUNDS = 3
ARCHIVE = 24
"""Sessions of the archive (6-hour races of 60 cars: some 290,000 events)."""
WORKERS = 2
"""Rebuild processes: one per core of this machine (the race: one reads, one folds; the archive: each reads and
folds a share of the partitions)."""
ALL = f"{EVENTS_PREFIX}.>"
Readers = dict[str, Callable[[JetStreamContext, str], Awaitable[int]]]


async def _bulk(js: JetStreamContext, _: str) -> int:
    count = 0
    async for batch in read_to_head(js, [ALL], max_size=20_000):
        count += len(batch)
    return count


def _rebuild(workers: int) -> Callable[[JetStreamContext, str], Awaitable[int]]:
    async def rebuilt(js: JetStreamContext, url: str) -> int:
        report = await rebuild(js, "classification", url=url, workers=workers)
        assert report.workers == workers, f"rebuilt by {report.workers} processes, not {workers}"
        return report.events

    return rebuilt


async def _rounds(report: Report, log: str, events: list[Event], readers: Readers) -> dict[str, float]:
    """Publish ``events`` to a broker of their own, time each reader in alternated rounds, add the figures (each a
    ratio to the first reader's); the medians in seconds."""
    with tempfile.TemporaryDirectory() as store, EmbeddedNats(Path(store)) as server:
        nc = await connect(server.url, "bench-rebuild")
        try:
            js = nc.jetstream()
            await ensure_topology(js)
            for start in range(0, len(events), 5000):
                acks = [
                    await js.publish_async(
                        events_subject(e.session), encode_event(e), headers={"Nats-Msg-Id": e.msg_id}
                    )
                    for e in events[start : start + 5000]
                ]
                await asyncio.gather(*acks)
            seconds: dict[str, list[float]] = {name: [] for name in readers}
            for _ in range(ROUNDS):
                for name, read in readers.items():
                    started = time.perf_counter()
                    count = await read(js, server.url)
                    seconds[name].append(time.perf_counter() - started)
                    assert count == len(events), f"{name} read {count} of {len(events)} events"
        finally:
            await nc.close()
    baseline = next(iter(readers))
    for name, taken in seconds.items():
        report.add(
            f"{log}: {name}",
            len(events) / median(taken),
            "events/s",
            baseline=None if name == baseline else f"{log}: {baseline}",
            target=">= 1.5" if name.startswith("rebuild") else None,
        )
    return {name: median(taken) for name, taken in seconds.items()}


async def _run(report: Report) -> None:
    baseline = "nats-py ordered-consumer read (baseline)"
    race = simulate(RaceSpec(seed=24, cars=60, duration_ms=DAY_MS, retirements=6))
    race_readers: Readers = {
        baseline: lambda js, _: nats_py_read(js, ALL),
        "nats-py ordered-consumer read + decode": lambda js, _: nats_py_read(js, ALL, decode=True),
        "bulk read (services.broker.bulkread)": _bulk,
        "rebuild, one process": _rebuild(1),
        f"rebuild, {WORKERS} processes": _rebuild(WORKERS),
    }
    taken = await _rounds(report, "24-hour race", race, race_readers)
    report.add("24-hour race: rebuild wall time", taken[f"rebuild, {WORKERS} processes"], "s", target="< 2 s")
    archive = [
        event
        for i in range(ARCHIVE)
        for event in simulate(
            RaceSpec(seed=100 + i, cars=60, duration_ms=6 * 3600 * 1000, retirements=4, event=f"round-{i + 1:02d}")
        )
    ]
    archive_readers: Readers = {
        baseline: lambda js, _: nats_py_read(js, ALL),
        "rebuild, one process": _rebuild(1),
        f"rebuild, {WORKERS} processes": _rebuild(WORKERS),
    }
    await _rounds(report, "archive", archive, archive_readers)
    report.notes.append(
        f"24-hour race: {len(race):,} events of 60 cars; archive: {len(archive):,} events of {ARCHIVE} 60-car 6-hour "
        f"races; medians of {ROUNDS} alternated rounds; load {os.getloadavg()[0]:.1f}"
    )


def run() -> Report:
    report = Report("rebuild")
    asyncio.run(_run(report))
    return report
