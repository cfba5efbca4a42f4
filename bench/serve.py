"""``chequered serve all`` under a replay at full speed: does a projector slow an acknowledgement?

A 60-car 24-hour race (about 50k events) is replayed as ``chequered replay --max`` does (the same function,
timed reply by reply) into three stacks, each started as an operator starts it, with its own temporary home,
in three rounds (the stacks alternated, so that other work on a shared machine weighs on each alike; medians):

- ``serve ingest``: the embedded broker and ingest alone (the baseline: nothing else competes);
- ``serve all``: the supervisor, with ingest, both projectors and the gateway as a process each;
- one process: ingest, both projectors and the gateway in one event loop, as ``serve all`` ran before it
  became a supervisor (for the record, in the same run);
- ``serve ingest`` with three bare readers of the log (a process each, at the projectors' nice), which take
  every event and do nothing with it: what the broker's delivery of the log to ``serve all``'s three followers
  (both projectors and the documents service) costs an acknowledgement, the projectors' own work aside.

Figures: acknowledged events/s of each, as a ratio to ``serve ingest`` (target ≥ 0.9 for ``serve all``);
and, during the replay into ``serve all``, the latency from an event's acknowledgement to the first
server-sent event carrying it at 5 SSE clients in a process of their own, and from a value written to KV to
the same (the gateway's push alone), beside the raw NATS figure (a core NATS message published every 10 ms
by the producer, received by a subscriber in the clients' process). The projectors of ``serve all`` yield the
CPU to ingest while the replay saturates the machine, so acknowledgement -> SSE there is mostly how far
behind the projector is allowed to fall; the push itself keeps its latency.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path

import httpx
import msgspec
from nats.aio.client import Client

from bench.gateway import BASELINE_SUBJECT, SESSION, TOKEN, Arrivals, _latencies, clients_process
from bench.report import Report, cpu_seconds, median
from schemas.events import Event, SessionStarted
from schemas.ingest import Accepted, IngestReply
from services.broker.bulkread import StreamTail
from services.broker.connection import connect
from services.broker.embedded import EmbeddedNats
from services.broker.reader import events_filter
from services.classification.projector import ClassificationProjector
from services.gateway.server import GatewayService
from services.home import ADDRESS_FILE, Serving
from services.ingest.client import Producer
from services.ingest.service import IngestService
from services.ops.pacing import retarget
from services.ops.replay import replay
from services.runtime import Service
from services.simulator.endurance import RaceSpec, simulate
from services.standings.projector import StandingsProjector
from services.supervisor import PROJECTOR_NICE

CHEQUERED = Path(sys.executable).parent / "chequered"
DAY_MS = 24 * 3600 * 1000
SSE_CLIENTS = 5
PING_S = 0.01
TARGET = "≥ 0.9"
ROUNDS = 3
INGEST = "serve ingest"
ALL = "serve all (a process per service)"
ONE = "every service in one process"
LOG_READERS = 3
READERS = f"serve ingest, {LOG_READERS} bare readers of the log"


# -- the stacks -----------------------------------------------------------------------------------------------


@contextlib.contextmanager
def served(role: str) -> Iterator[tuple[Serving, list[int]]]:
    """``chequered serve ROLE`` with a home of its own on free ports, ready; where it serves and the pids of its
    processes (the supervisor and each child, or the one process)."""
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as home:
        args = ["serve", role, "--home", home, "--port", "0", "--gateway-port", "0", "--ops-port", "0"]
        process = subprocess.Popen(
            [str(CHEQUERED), *args, "--token", TOKEN],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            env={k: v for k, v in os.environ.items() if k != "NATS_URL"},
        )
        try:
            serving = _until_ready(Path(home), process)
            readyz = httpx.get(f"{serving.ops}/readyz").text
            children = {int(found[1]) for found in re.finditer(r"pid (\d+)", readyz)}
            broker = {int(path.stem.rsplit("_", 1)[1]) for path in (Path(home) / "nats").glob("*.ports")}
            yield serving, sorted({process.pid} | children | broker)
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _until_ready(home: Path, process: subprocess.Popen[bytes], timeout: float = 120.0) -> Serving:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"chequered serve exited with {process.returncode}")
        with contextlib.suppress(OSError, msgspec.DecodeError, httpx.HTTPError):
            serving = msgspec.json.decode((home / ADDRESS_FILE).read_bytes(), type=Serving)
            if serving.ops and httpx.get(f"{serving.ops}/readyz").status_code == 200:
                return serving
        time.sleep(0.1)
    raise TimeoutError("chequered serve was not ready in time")


def _one_process(nats_url: str, conn: Connection) -> None:
    asyncio.run(_serve_in_one_loop(nats_url, conn))


async def _serve_in_one_loop(nats_url: str, conn: Connection) -> None:
    """Every service in one event loop, until told to stop."""
    services: list[Service] = [
        IngestService(nats_url),
        ClassificationProjector(nats_url),
        StandingsProjector(nats_url),
        GatewayService(nats_url, {TOKEN}, port=0),
    ]
    for service in services:
        await service.start()
    conn.send("ready")
    await asyncio.get_running_loop().run_in_executor(None, conn.recv)
    for service in reversed(services):
        await service.stop()


@contextlib.contextmanager
def one_process() -> Iterator[tuple[str, list[int]]]:
    """An embedded broker and every service in one other process."""
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as store, EmbeddedNats(Path(store)) as server:
        parent, child = multiprocessing.get_context("spawn").Pipe()
        process = multiprocessing.get_context("spawn").Process(target=_one_process, args=(server.url, child))
        process.start()
        try:
            assert parent.recv() == "ready"
            assert server.process is not None
            yield server.url, [server.process.pid, process.pid or 0]
        finally:
            parent.send("stop")
            process.join(30)


@contextlib.contextmanager
def log_readers(url: str) -> Iterator[list[int]]:
    """:data:`LOG_READERS` processes reading the log's live tail as the projectors do, and nothing else; their pids."""
    context = multiprocessing.get_context("spawn")
    pipes = [context.Pipe() for _ in range(LOG_READERS)]
    processes = [context.Process(target=_read_log, args=(url, child), daemon=True) for _, child in pipes]
    for process in processes:
        process.start()
    try:
        for parent, _ in pipes:
            assert parent.recv() == "ready"
        yield [process.pid or 0 for process in processes]
    finally:
        for parent, _ in pipes:
            parent.send("stop")
        for process in processes:
            process.join(30)


def _read_log(url: str, conn: Connection) -> None:
    os.nice(PROJECTOR_NICE)
    asyncio.run(_read_until_told(url, conn))


async def _read_until_told(url: str, conn: Connection) -> None:
    nc = await connect(url, "bench-reader")
    try:
        async with StreamTail(nc.jetstream(), [events_filter(None)]) as tail:
            conn.send("ready")
            told = asyncio.get_running_loop().run_in_executor(None, conn.recv)
            while not told.done():
                await tail.next_batch(timeout=0.2)
    finally:
        await nc.close()


# -- the replay ------------------------------------------------------------------------------------------------


async def _open(url: str, head: list[Event]) -> None:
    """The session opened with its entries (what a client subscribes to must exist)."""
    nc = await connect(url, "bench-head")
    try:
        await Producer(nc).send_all(head)
    finally:
        await nc.close()


async def _replay(url: str, events: list[Event], acks: list[tuple[int, float]]) -> float:
    """Replay at full speed as ``chequered replay --max`` does (the session's head is stored already, and
    skipped); acknowledged events/s (and each ack's time)."""
    nc = await connect(url, "bench-replay")
    stop = asyncio.Event()

    async def ping(nc: Client) -> None:
        while not stop.is_set():
            await nc.publish(BASELINE_SUBJECT, f"replay {time.monotonic()!r}".encode())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), PING_S)

    def acked(_: Event, reply: IngestReply) -> None:
        assert isinstance(reply, Accepted) and not reply.duplicate, reply
        acks.append((reply.seq, time.monotonic()))

    pinging = asyncio.create_task(ping(nc))
    try:
        report = await replay(nc, events, speed=None, on_reply=acked)
    finally:
        stop.set()
        await pinging
        await nc.close()
    assert report.accepted + report.skipped == len(events), report
    return report.accepted / report.seconds


def _cpu(pids: list[int]) -> float:
    return sum(cpu_seconds(pid) or 0.0 for pid in pids)


@dataclass
class Stack:
    """One way of serving, measured over the rounds."""

    name: str
    rates: list[float] = field(default_factory=list)
    cores: list[float] = field(default_factory=list)


async def _measure(stack: Stack, url: str, pids: list[int], events: list[Event], acks: list[tuple[int, float]]) -> None:
    before, started = _cpu(pids), time.monotonic()
    stack.rates.append(await _replay(url, events, acks))
    stack.cores.append((_cpu(pids) - before) / (time.monotonic() - started))


async def _round(stacks: dict[str, Stack], events: list[Event], head: list[Event], sse: Sse) -> None:
    with served("ingest") as (serving, pids):
        await _open(serving.nats, head)
        await _measure(stacks[INGEST], serving.nats, pids, events, [])
    with served("all") as (serving, pids):
        await _open(serving.nats, head)
        loop = asyncio.get_running_loop()
        parent, child = multiprocessing.get_context("spawn").Pipe()
        clients = multiprocessing.get_context("spawn").Process(
            target=clients_process, args=("sse", SSE_CLIENTS, serving.gateway, serving.nats, child), daemon=True
        )
        clients.start()
        assert await loop.run_in_executor(None, parent.recv) == "ready"
        acks: list[tuple[int, float]] = []
        await _measure(stacks[ALL], serving.nats, pids, events, acks)
        await asyncio.sleep(2.0)  # what is in flight reaches the clients
        parent.send("stop")
        arrivals, baseline, (written_seqs, written_times) = await loop.run_in_executor(None, parent.recv)
        clients.join(30)
        readers = [Arrivals(seqs, times) for seqs, times in arrivals]
        sse.latencies += _latencies(readers, acks)
        sse.pushed += _latencies(readers, list(zip(written_seqs, written_times, strict=True)))
        sse.raw += baseline.get("replay", [])
    with one_process() as (url, pids):
        await _open(url, head)
        await _measure(stacks[ONE], url, pids, events, [])
    with served("ingest") as (serving, pids):
        await _open(serving.nats, head)
        with log_readers(serving.nats) as reader_pids:
            await _measure(stacks[READERS], serving.nats, pids + reader_pids, events, [])


@dataclass
class Sse:
    latencies: list[float] = field(default_factory=list)
    """Ack -> SSE client, ms, every client and event of every round."""
    pushed: list[float] = field(default_factory=list)
    """Value written to KV (seen by a subscriber in the clients' process) -> SSE client, ms: the gateway's part."""
    raw: list[float] = field(default_factory=list)
    """NATS core publish -> subscriber in the clients' process, ms."""


async def _run(report: Report) -> None:
    events = list(retarget(simulate(RaceSpec(seed=24, cars=60, duration_ms=DAY_MS, retirements=6)), SESSION))
    head = events[: next(i for i, event in enumerate(events) if isinstance(event.body, SessionStarted)) + 1]
    stacks = {name: Stack(name) for name in (INGEST, ALL, ONE, READERS)}
    sse = Sse()
    for _ in range(ROUNDS):  # alternated, so that the load of a shared machine weighs on each alike
        await _round(stacks, events, head, sse)

    base = f"replay --max into {INGEST} (baseline)"
    report.add(base, median(stacks[INGEST].rates), "events/s")
    report.add(f"replay --max into {ALL}", median(stacks[ALL].rates), "events/s", baseline=base, target=TARGET)
    report.add(f"replay --max into {ONE} (before)", median(stacks[ONE].rates), "events/s", baseline=base)
    report.add(f"replay --max into {READERS}", median(stacks[READERS].rates), "events/s", baseline=base)
    for pct in (50, 99):
        raw = f"during the replay into serve all: NATS core publish -> subscriber p{pct}"
        report.add_latency(raw, sse.raw, pct)
        report.add_latency(
            f"during the replay into serve all: ack -> SSE client p{pct}", sse.latencies, pct, baseline=raw
        )
        pushed = f"during the replay into serve all: value written -> SSE client p{pct} (the gateway's push)"
        report.add_latency(pushed, sse.pushed, pct, baseline=raw)
    for stack in stacks.values():
        report.add(f"CPU of {stack.name} (every process) during the replay", median(stack.cores), "cores")
    report.notes.append(
        f"{len(events) - len(head):,} events of a 60-car 24-hour race replayed as chequered replay --max does (256 a "
        f"request), median of {ROUNDS} rounds, the stacks alternated; each rate: "
        + "; ".join(f"{s.name} {', '.join(f'{r:,.0f}' for r in s.rates)}" for s in stacks.values())
    )
    report.notes.append(
        f"{SSE_CLIENTS} SSE clients in a process of their own during the serve all runs; the producer, the clients "
        f"and every process share this machine's {os.cpu_count()} cores; the projectors of serve all run at nice "
        f"{PROJECTOR_NICE}"
    )


def run() -> Report:
    report = Report("serve")
    asyncio.run(_run(report))
    return report
