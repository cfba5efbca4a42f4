"""Ingest throughput against the broker's own publishing paths, measured in the same run.

A simulated 6-hour, 60-car race (12,000 events) is published, in turns, by:

- raw nats-py ``publish_async`` of the events, 1,000 acknowledgements awaited at a time (the baseline);
- the pipelined publisher of the services, one acknowledgement per event (what ingest did before batches);
- an atomic batch of 1,000 events by the same publisher: one acknowledgement for the batch;
- ``chequered serve ingest`` (its own process) fed by the producer client, 1,000 events a request, the next sent
  while the one before is stored: every event judged, stored as part of one atomic batch per request and answered
  with its own sequence.

And one event at a time, each awaited before the next, as race control and a live timing feed send: the first
``ONE_BY_ONE`` events through ``chequered serve ingest`` (its rate and the ingest process's CPU per request),
beside nats-py's JetStream ``publish`` awaited one by one (the baseline of these two figures).

The server's other batch features are measured where the Python clients can use them: fast-ingest batches
(``allow_batched``) and batch direct gets need the new ``nats-core`` / ``nats-jetstream`` clients and
``nats-jetstream-extra``, which require Python 3.13. With ``CHEQUERED_BENCH_PY313`` naming a Python 3.13
interpreter that has them (README, "Benchmarks"), ``bench/newclients.py`` runs under it against the same server
and its rates are reported beside nats-py's, else they are left out and the note says so.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.baseline import nats_py_read
from bench.report import Report, cpu_seconds
from schemas.events import Event, SessionRef, encode_event
from schemas.ingest import Accepted
from schemas.subjects import EVENTS_PREFIX
from services.broker.connection import connect
from services.broker.embedded import EmbeddedNats
from services.broker.publisher import PipelinedPublisher
from services.broker.topology import ensure_topology
from services.ingest.client import Producer
from services.ops.pacing import retarget
from services.simulator.endurance import RaceSpec, simulate
from tests.reliability.processes import ServiceProcess

BATCH = 1000
ONE_BY_ONE = 3000
ONE_BASELINE = "nats-py publish awaited one by one (baseline)"
NEW_CLIENTS_ENV = "CHEQUERED_BENCH_PY313"
NEW_CLIENTS = Path(__file__).with_name("newclients.py")
BASELINE = "nats-py publish_async (baseline)"
READ_BASELINE = "nats-py ordered-consumer read (baseline)"


def _messages(events: list[Event], run: str) -> list[tuple[str, bytes, dict[str, str]]]:
    """The events as the stream stores them, under a session of their own per run (no id repeats another's)."""
    session = SessionRef("bench", f"publish-{run}", "race")
    return [
        (f"{EVENTS_PREFIX}.{e.session.key}", encode_event(e), {"Nats-Msg-Id": e.msg_id})
        for e in retarget(events, session)
    ]


async def _run(report: Report) -> None:
    events = simulate(RaceSpec(seed=24, cars=60, duration_ms=6 * 3600 * 1000, retirements=6))
    with tempfile.TemporaryDirectory() as store, EmbeddedNats(Path(store) / "nats") as server:
        nc = await connect(server.url, "bench-ingest")
        js = nc.jetstream()
        await ensure_topology(js)
        publisher = PipelinedPublisher(nc)
        await publisher.start()
        try:
            rates: dict[str, float] = {}

            async def timed(name: str, work: object) -> None:
                started = time.perf_counter()
                await work  # type: ignore[misc]
                rates[name] = len(events) / (time.perf_counter() - started)

            async def publish_async(messages: list[tuple[str, bytes, dict[str, str]]]) -> None:
                for start in range(0, len(messages), BATCH):
                    chunk = messages[start : start + BATCH]
                    await asyncio.gather(*[await js.publish_async(s, d, headers=h) for s, d, h in chunk])

            async def pipelined(messages: list[tuple[str, bytes, dict[str, str]]]) -> None:
                for start in range(0, len(messages), BATCH):
                    chunk = messages[start : start + BATCH]
                    await asyncio.gather(*[await publisher.publish(*m) for m in chunk])

            async def atomic(messages: list[tuple[str, bytes, dict[str, str]]]) -> None:
                for start in range(0, len(messages), BATCH):
                    batch = publisher.batch()
                    for message in messages[start : start + BATCH]:
                        batch.add(*message)
                    await (await batch.commit())

            await timed(BASELINE, publish_async(_messages(events, "a")))
            await timed("pipelined publisher, ack per event", pipelined(_messages(events, "b")))
            await timed("atomic batches of 1,000, nats-py", atomic(_messages(events, "c")))
            started = time.perf_counter()
            for subject, data, headers in _messages(events[:ONE_BY_ONE], "d"):
                await js.publish(subject, data, headers=headers)
            one_baseline = ONE_BY_ONE / (time.perf_counter() - started)
            with ServiceProcess("ingest", server.url, Path(store)) as ingest:
                producer = Producer(nc, window=BATCH, attempts=60)
                await producer.send_all(retarget(events[:1], SessionRef("bench", "warm-up", "race")))
                sent = list(retarget(events, SessionRef("bench", "ingest", "race")))
                started = time.perf_counter()
                replies = await producer.send_all(sent)
                rates["ingest, acknowledged, one producer"] = len(sent) / (time.perf_counter() - started)
                assert all(isinstance(r, Accepted) and not r.duplicate for r in replies)
                one_rate, one_cpu = await _one_by_one(producer, events[:ONE_BY_ONE], ingest)
            for name, rate in rates.items():
                report.add(
                    name,
                    rate,
                    "events/s",
                    baseline=None if name == BASELINE else BASELINE,
                    target=">= 40,000 events/s" if name.startswith("ingest") else None,
                )
            report.add(ONE_BASELINE, one_baseline, "events/s")
            one = "ingest, one event a request, awaited one by one"
            report.add(one, one_rate, "events/s", baseline=ONE_BASELINE)
            if one_cpu is not None:
                report.add(f"{one}: ingest's CPU per request", one_cpu, "µs")
            started = time.perf_counter()
            read = await nats_py_read(js, f"{EVENTS_PREFIX}.>")
            report.add(READ_BASELINE, read / (time.perf_counter() - started), "events/s")
            await _new_clients(server.url, report)
            report.notes.append(f"{len(events):,} events of a 60-car 6-hour race; load {os.getloadavg()[0]:.1f}")
        finally:
            await publisher.stop()
            await nc.close()


async def _one_by_one(producer: Producer, events: list[Event], ingest: ServiceProcess) -> tuple[float, float | None]:
    """Each event its own request, awaited before the next: the rate, and ingest's CPU per request in µs."""
    assert ingest.process is not None
    sent = list(retarget(events, SessionRef("bench", "ingest-one", "race")))
    cpu_before, started = cpu_seconds(ingest.process.pid), time.perf_counter()
    replies = [await producer.send(event) for event in sent]
    elapsed, cpu_after = time.perf_counter() - started, cpu_seconds(ingest.process.pid)
    assert all(isinstance(r, Accepted) and not r.duplicate for r in replies)
    cpu = None if cpu_before is None or cpu_after is None else (cpu_after - cpu_before) / len(sent) * 1e6
    return len(sent) / elapsed, cpu


async def _new_clients(url: str, report: Report) -> None:
    """The new official clients' rates on the same server, when a Python 3.13 with them is named."""
    python = os.environ.get(NEW_CLIENTS_ENV)
    if not python:
        report.notes.append(
            f"new clients (nats-core, nats-jetstream, nats-jetstream-extra) not measured: they need Python 3.13; "
            f"set {NEW_CLIENTS_ENV} to an interpreter that has them"
        )
        return
    done = await asyncio.to_thread(
        subprocess.run, [python, str(NEW_CLIENTS), url], capture_output=True, text=True, timeout=600, check=False
    )
    if done.returncode != 0:
        report.notes.append(f"new clients not measured: {done.stderr.strip().splitlines()[-1:]}")
        return
    for name, rate in json.loads(done.stdout).items():
        report.add(f"new clients: {name}", rate, "events/s", baseline=READ_BASELINE if "read" in name else BASELINE)


def run() -> Report:
    report = Report("ingest")
    asyncio.run(_run(report))
    return report


if __name__ == "__main__":  # pragma: no cover
    sys.exit("run it as: python -m bench ingest")
