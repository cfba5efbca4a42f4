"""Rebuild of a simulated 24-hour race from the stream, beside the raw ordered-consumer read rate.

The race is published straight into the stream (this measures the rebuild,
not ingest), then in the same run: the raw nats-py ordered-consumer read +
decode rate of the stream (the baseline) and ``chequered rebuild
classification`` (read, fold, write the new bucket, switch).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from bench.fold import DAY_MS
from bench.report import Report
from schemas.events import decode_event, encode_event
from schemas.subjects import events_subject
from services.broker.connection import connect
from services.broker.embedded import EmbeddedNats
from services.broker.reader import StreamTail
from services.broker.topology import ensure_topology
from services.ops.rebuild import rebuild
from services.simulator.endurance import RaceSpec, simulate


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

            started = time.perf_counter()
            count = 0
            async with StreamTail(js, "chequered.events.>") as tail:
                async for batch in tail.to_head(max_size=20_000):
                    for stored in batch:
                        decode_event(stored.data)
                    count += len(batch)
            raw = count / (time.perf_counter() - started)

            result = await rebuild(js, "classification")
            report.add("raw ordered-consumer read + decode", raw, "events/s")
            report.add(
                "rebuild: read, fold, write, switch",
                result.events / result.seconds,
                "events/s",
                baseline="raw ordered-consumer read + decode",
                target=">= 0.5",
            )
            report.add("rebuild wall time", result.seconds, "s", target="< 2 s")
            report.notes.append(f"{len(events):,} events of a 60-car 24-hour race")
        finally:
            await nc.close()


def run() -> Report:
    report = Report("rebuild")
    asyncio.run(_run(report))
    return report
