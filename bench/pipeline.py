"""The walking skeleton end to end: ingest throughput, live latency, fold rate, raw read baseline.

Publishes a simulated race into an embedded nats-server through ingest, then
measures, in the same run:
- baseline: the raw nats-py ordered-consumer read (+ msgspec decode) rate of that stream;
- (ingest throughput has its own benchmark, ``bench ingest``: ingest in its own process beside the broker's
  publishing paths);
- the pure fold's events/s over the same events (decode included, and not);
- live latency, at a paced 200 events/s: send -> ingest ack, and send -> classification readable in KV.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from bench.baseline import nats_py_read
from bench.report import Report
from schemas.events import SessionRef, encode_event
from schemas.ingest import Accepted
from schemas.results import decode_classification
from schemas.subjects import CLASSIFICATION_BUCKET
from services.broker.connection import connect
from services.broker.embedded import EmbeddedNats
from services.classification.fold import ClassificationProjection, fold_log
from services.classification.projector import ClassificationProjector
from services.ingest.client import Producer
from services.ingest.service import IngestService
from services.ops.pacing import retarget
from services.simulator.endurance import RaceSpec, simulate

LATENCY_EVENTS = 1000
LATENCY_RATE = 200.0


async def _run(report: Report) -> None:
    events = simulate(RaceSpec(seed=7))
    with tempfile.TemporaryDirectory() as store, EmbeddedNats(Path(store)) as server:
        ingest, projector = IngestService(server.url), ClassificationProjector(server.url)
        await ingest.start()
        await projector.start()
        nc = await connect(server.url, "bench")
        try:
            await Producer(nc, window=256).send_all(events)

            js = nc.jetstream()
            started = time.perf_counter()
            count = await nats_py_read(js, "chequered.events.>", decode=True)
            raw_s = time.perf_counter() - started

            pairs = list(enumerate(events, start=1))
            started = time.perf_counter()
            fold_log(pairs)
            fold_s = time.perf_counter() - started
            blobs = [(seq, encode_event(e)) for seq, e in pairs]
            subject = f"chequered.events.{events[0].session.key}"
            started = time.perf_counter()
            projection = ClassificationProjection()
            for seq, blob in blobs:
                projection.apply_raw(seq, subject, blob)
            fold_raw_s = time.perf_counter() - started

            report.add("raw ordered-consumer read + decode", count / raw_s, "events/s")
            report.add(
                "pure fold (decoded events)",
                len(events) / fold_s,
                "events/s",
                baseline="raw ordered-consumer read + decode",
            )
            report.add(
                "pure fold incl. decode",
                len(events) / fold_raw_s,
                "events/s",
                baseline="raw ordered-consumer read + decode",
            )

            sends, kvs = await _latency(nc, events)
            report.add_latency("send -> ingest ack p50", sends, 50)
            report.add_latency("send -> ingest ack p99", sends, 99)
            report.add_latency("send -> KV readable p50", kvs, 50, baseline="send -> ingest ack p50")
            report.add_latency("send -> KV readable p99", kvs, 99, baseline="send -> ingest ack p99")
            report.notes.append(
                f"{len(events):,} events of a 45-car 3-hour race; latency over {LATENCY_EVENTS} events paced at "
                f"{LATENCY_RATE:.0f}/s into a second session while the projector runs"
            )
        finally:
            await nc.close()
            await projector.stop()
            await ingest.stop()


async def _latency(nc, events) -> tuple[list[float], list[float]]:  # type: ignore[no-untyped-def]
    session = SessionRef("bench", "latency", "race")
    paced = list(retarget(events[:LATENCY_EVENTS], session))
    kv = await nc.jetstream().key_value(CLASSIFICATION_BUCKET)
    watcher = await kv.watch(session.key)
    producer = Producer(nc, window=1)
    sends: list[float] = []
    kvs: list[float] = []
    seen_seq, seen_at = 0, 0.0
    for event in paced:
        started = time.perf_counter()
        reply = await producer.send(event)
        sends.append((time.perf_counter() - started) * 1000)
        assert isinstance(reply, Accepted)
        while seen_seq < reply.seq:  # a value may cover several events: it was readable when first seen
            entry = await watcher.updates(timeout=5)
            if entry is not None and entry.value:
                seen_seq, seen_at = decode_classification(entry.value).last_seq, time.perf_counter()
        kvs.append(max(0.0, seen_at - started) * 1000)
        await asyncio.sleep(max(0.0, 1 / LATENCY_RATE - (time.perf_counter() - started)))
    await watcher.stop()
    return sends, kvs


def run() -> Report:
    report = Report("pipeline")
    asyncio.run(_run(report))
    return report
