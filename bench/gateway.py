"""The broadcast gateway under load: producer acknowledgement -> update received by SSE and WebSocket clients.

Processes, as in production and so that no one's work shares another's event loop:
nats-server (embedded); ingest + the classification projector; the gateway; this
one (the producer); 50 SSE clients; 50 WebSocket clients. Every timestamp is
``time.monotonic()`` (CLOCK_MONOTONIC, one clock for every process of the machine).

Events are offered on a fixed schedule (a send is not held back by the previous
ack): 200/s for 20 s, the load asked for, after 12 s at 50/s to show the latency of
the same machine when it is not saturated. For each acknowledged event (stream
sequence ``s``, ack time ``t``), a client's latency is the arrival of its first
message with ``seq >= s`` minus ``t``: a value that folded several events counts for
each of them. Clients read the sequence from the SSE ``id:`` line or the head of the
WebSocket frame, not decoding the whole classification: the figure is the gateway's
delivery, not the client's JSON parsing.

Baseline, in the same run: a core NATS message published beside each event and
received by a plain subscriber in each client process's own event loop. Beside it,
the projector's leg (ack -> the KV value, seen by a plain subscriber of its subject
in the producer's process), and the CPU each process used during each phase: the
2 cores are shared by the stack and the clients, whose own work counts against it.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import multiprocessing
import os
import re
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path

import httpx
import msgspec
from nats.aio.client import Client
from nats.aio.msg import Msg
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.uri import parse_uri

from bench.report import Report, cpu_seconds
from schemas.events import (
    Driver,
    EntryRegistered,
    Event,
    LapCompleted,
    SessionKind,
    SessionLength,
    SessionOpened,
    SessionRef,
    SessionStarted,
)
from schemas.ingest import Accepted
from schemas.results import decode_classification
from schemas.subjects import CLASSIFICATION_BUCKET
from services.broker.connection import connect
from services.broker.embedded import EmbeddedNats
from services.classification.fold import ClassificationProjection
from services.classification.projector import ClassificationProjector
from services.gateway.hub import ClassificationHub
from services.gateway.server import GatewayService
from services.ingest.client import Producer
from services.ingest.service import IngestService
from services.runtime import Service
from services.simulator.endurance import RaceSpec, simulate

PHASES = ((50.0, 12.0), (200.0, 20.0))
"""(events/s, seconds): the unsaturated reference first, then the load asked for."""
TARGET = "< 20 ms"
SSE_CLIENTS = 50
WS_CLIENTS = 50
CARS = 30
TOKEN = "bench"
SESSION = SessionRef("bench", "gateway", "race")
T0 = 1_776_603_600_000
WS_SEQ = re.compile(rb'"seq":(\d+)')
SSE_ID = b"\nid: "
BASELINE_SUBJECT = "bench.baseline"


class _Seq(msgspec.Struct):
    last_seq: int


decode_last_seq = msgspec.json.Decoder(_Seq).decode
"""A read model's ``last_seq`` alone: a watcher that measures lag must not spend the CPU it measures."""


# -- the server side, in its own process ------------------------------------------------


def pipeline_process(nats_url: str, conn: Connection) -> None:
    asyncio.run(_serve(nats_url, conn, gateway=False))


def gateway_process(nats_url: str, conn: Connection) -> None:
    asyncio.run(_serve(nats_url, conn, gateway=True))


async def _serve(nats_url: str, conn: Connection, *, gateway: bool) -> None:
    """Ingest and the projector, or the gateway, until told to stop; sends back its URL (or "ready")."""
    services: list[Service] = []
    if gateway:
        service = GatewayService(nats_url, {TOKEN}, port=0)
        services.append(service)
    else:
        services += [IngestService(nats_url), ClassificationProjector(nats_url)]
    for started in services:
        await started.start()
    conn.send(service.url if gateway else "ready")
    await asyncio.get_running_loop().run_in_executor(None, conn.recv)
    for stopping in reversed(services):
        await stopping.stop()


# -- the race ------------------------------------------------------------------------------


def _event(n: int, at: int, body: object) -> Event:
    return Event(id=f"b{n:07d}", session=SESSION, producer="bench", at=T0 + at, body=body)  # type: ignore[arg-type]


def race(laps_events: int) -> tuple[list[Event], list[Event]]:
    """The session's head (opened, entries, started) and ``laps_events`` laps, round-robin over the field."""
    opened = SessionOpened(
        name="Gateway bench",
        kind=SessionKind.RACE,
        scheduled_start="2026-04-19T15:00:00+02:00",
        time_zone="Europe/Rome",
        length=SessionLength(time_ms=24 * 3_600_000),
    )
    head = [_event(0, 0, opened)]
    for car in range(1, CARS + 1):
        body = EntryRegistered(
            number=str(car),
            class_name=("Hypercar", "LMP2", "LMGT3")[car % 3],
            team=f"Team {car}",
            car="Prototype",
            manufacturer="Maker",
            crew=[Driver(f"Driver {car}A"), Driver(f"Driver {car}B")],
        )
        head.append(_event(car, 0, body))
    head.append(_event(CARS + 1, 0, SessionStarted()))
    laps = []
    for i in range(laps_events):
        lap, car = divmod(i, CARS)
        at = (lap + 1) * 200_000 + car * 500 + (lap * car) % 97
        laps.append(_event(CARS + 2 + i, at, LapCompleted(number=str(car + 1), lap=lap + 1, lap_time_ms=200_000)))
    return head, laps


# -- the clients, in processes of their own ---------------------------------------------------


class Arrivals:
    """``(seq, monotonic arrival)`` of every message one client received."""

    def __init__(self, seqs: list[int] | None = None, times: list[float] | None = None) -> None:
        self.seqs: list[int] = seqs or []
        self.times: list[float] = times or []
        self.connected = asyncio.Event()

    def note(self, seq: int, at: float) -> None:
        self.seqs.append(seq)
        self.times.append(at)
        self.connected.set()

    def latency_ms(self, seq: int, acked: float) -> float | None:
        index = bisect.bisect_left(self.seqs, seq)
        return (self.times[index] - acked) * 1000 if index < len(self.seqs) else None


class _SseClient(asyncio.Protocol):
    """A server-sent events reader that finds what the measurement needs, the ``id:`` of each event, in the
    bytes as they arrive: an HTTP client's pure-Python parsing of 50 streams would take the cores the stack
    needs (a browser's EventSource parser is native). An ``id:`` line starts an HTTP chunk (after the CRLF of
    its size line) or follows the event before it, so it is always ``\\nid: ``; the JSON on a data line has
    no raw newline."""

    def __init__(self, request: bytes, arrivals: Arrivals) -> None:
        self._request = request
        self._arrivals = arrivals
        self._pending = b""
        self._in_head = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.write(self._request)

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        data = self._pending + data
        if self._in_head:
            if (end := data.find(b"\r\n\r\n")) < 0:
                self._pending = data
                return
            assert data.startswith(b"HTTP/1.1 200") and b"chunked" in data[:end].lower(), data[:end]
            self._in_head = False
        start = 0
        while (found := data.find(SSE_ID, start)) >= 0:
            if (end := data.find(b"\n", found + len(SSE_ID))) < 0:
                start = found  # the rest of this id has not arrived
                break
            self._arrivals.note(int(data[found + len(SSE_ID) : end]), now)
            start = end
        else:
            start = max(start, len(data) - len(SSE_ID) + 1)  # a marker cut in two
        self._pending = data[start:]


class _WsClient(asyncio.Protocol):
    """A WebSocket client: the websockets library's own (sans-I/O) protocol, driven straight from the socket
    without its asyncio layer's queues and tasks; the sequence is read from the head of each frame."""

    def __init__(self, url: str, arrivals: Arrivals) -> None:
        self._arrivals = arrivals
        self._conn = ClientProtocol(parse_uri(url), max_size=None)
        self._conn.send_request(self._conn.connect())
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._flush()

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        self._conn.receive_data(data)
        for event in self._conn.events_received():
            if isinstance(event, Response):
                assert event.status_code == 101, event
            elif (
                isinstance(event, Frame) and event.opcode is Opcode.TEXT and (found := WS_SEQ.search(event.data, 0, 80))
            ):
                self._arrivals.note(int(found.group(1)), now)
        self._flush()  # pongs

    def _flush(self) -> None:
        assert self._transport is not None
        if output := self._conn.data_to_send():
            self._transport.write(b"".join(output))


async def _connect(kind: str, base: str, arrivals: Arrivals) -> asyncio.BaseTransport:
    url = httpx.URL(base)
    host = url.netloc.decode()
    client: asyncio.Protocol
    if kind == "sse":
        request = f"GET /api/sessions/{SESSION.key}/stream?token={TOKEN} HTTP/1.1\r\nHost: {host}\r\n\r\n"
        client = _SseClient(request.encode(), arrivals)
    else:
        client = _WsClient(f"ws://{host}/ws/sessions/{SESSION.key}?token={TOKEN}", arrivals)
    transport, _ = await asyncio.get_running_loop().create_connection(lambda: client, url.host, url.port or 80)
    return transport


def clients_process(kind: str, count: int, gateway_url: str, nats_url: str, conn: Connection) -> None:
    asyncio.run(_clients(kind, count, gateway_url, nats_url, conn))


async def _clients(kind: str, count: int, gateway_url: str, nats_url: str, conn: Connection) -> None:
    """``count`` clients of one kind, and in the same event loop a core NATS subscriber for the baseline and one
    of the session's KV subject (when each value was written).

    Sends back every client's arrivals, the baseline latencies by phase (the ping carries its phase) and the
    arrivals of the values written.
    """
    clients = [Arrivals() for _ in range(count)]
    baseline: dict[str, list[float]] = {}
    written = Arrivals()

    async def pinged(msg: Msg) -> None:
        phase, sent = msg.data.split()
        baseline.setdefault(phase.decode(), []).append((time.monotonic() - float(sent)) * 1000)

    async def tapped(msg: Msg) -> None:
        written.note(decode_last_seq(msg.data).last_seq, time.monotonic())

    nc = await connect(nats_url, f"bench-{kind}")
    await nc.subscribe(BASELINE_SUBJECT, cb=pinged)
    await nc.subscribe(f"$KV.{CLASSIFICATION_BUCKET}.{SESSION.key}", cb=tapped)
    transports = [await _connect(kind, gateway_url, arrivals) for arrivals in clients]
    await asyncio.gather(*(arrivals.connected.wait() for arrivals in clients))  # each has its snapshot
    conn.send("ready")
    await asyncio.get_running_loop().run_in_executor(None, conn.recv)
    for transport in transports:
        transport.close()
    await nc.close()
    conn.send(([(a.seqs, a.times) for a in clients], baseline, (written.seqs, written.times)))


# -- the measurement -----------------------------------------------------------------------------


@dataclass
class Phase:
    rate: float
    acks: list[tuple[int, float]]
    """``(seq, ack time)`` of each event, in send order."""
    waits: list[float]
    """Send -> ack of each event, ms."""
    cpu: dict[str, float] = field(default_factory=dict)
    """Each process's CPU time over the phase's wall time (1.0: one core busy)."""

    @property
    def name(self) -> str:
        return f"{self.rate:.0f}/s"

    def held_to(self, target: str, pct: int) -> str | None:
        """``target`` for the figure it is set on, the p99 at 200 events/s; None for every other."""
        return target if (self.rate, pct) == (200.0, 99) else None


async def offer(nc: Client, events: list[Event], rate: float) -> Phase:
    """Each event sent at its slot of a 1/rate schedule, not waiting for the previous ack (the offered load
    stays at ``rate`` whatever the stack does), with a baseline ping beside it. One connection and one
    ingest subscriber keep the events in order, as ``Producer.send_all`` relies on."""
    producer = Producer(nc)
    phase = Phase(rate, [(0, 0.0)] * len(events), [0.0] * len(events))

    async def one(i: int, event: Event) -> None:
        sent = time.monotonic()
        reply = await producer.send(event)
        assert isinstance(reply, Accepted), reply
        phase.acks[i] = (reply.seq, time.monotonic())
        phase.waits[i] = (phase.acks[i][1] - sent) * 1000

    started = time.monotonic()
    tasks = []
    for i, event in enumerate(events):
        await asyncio.sleep(max(0.0, started + i / rate - time.monotonic()))
        await nc.publish(BASELINE_SUBJECT, f"{phase.name} {time.monotonic()!r}".encode())
        tasks.append(asyncio.create_task(one(i, event)))
    await asyncio.gather(*tasks)
    return phase


async def measured(nc: Client, events: list[Event], rate: float, pids: dict[str, int | None]) -> Phase:
    """:func:`offer` the events, with the CPU each process of ``pids`` used meanwhile (in cores)."""
    cpu_before, started = {name: cpu_seconds(pid) for name, pid in pids.items()}, time.monotonic()
    phase = await offer(nc, events, rate)
    elapsed = time.monotonic() - started
    for name, pid in pids.items():
        before, after = cpu_before[name], cpu_seconds(pid)
        if before is not None and after is not None:
            phase.cpu[name] = (after - before) / elapsed
    return phase


def _latencies(clients: list[Arrivals], acks: list[tuple[int, float]]) -> list[float]:
    out = []
    for arrivals in clients:
        for seq, acked in acks:
            latency = arrivals.latency_ms(seq, acked)
            if latency is not None:
                out.append(latency)
    return out


def _values_per_client(clients: list[Arrivals], phase: Phase) -> tuple[int, int]:
    """Fewest and most values a client received during the phase."""
    first, last = phase.acks[0][0], phase.acks[-1][0]
    counts = [sum(first <= seq <= last for seq in arrivals.seqs) for arrivals in clients]
    return min(counts), max(counts)


async def _measure(report: Report, nats_url: str, gateway_url: str, pids: dict[str, int | None]) -> None:
    loop = asyncio.get_running_loop()
    nc = await connect(nats_url, "bench-producer")
    written = Arrivals()

    async def tapped(msg: Msg) -> None:
        written.note(decode_last_seq(msg.data).last_seq, time.monotonic())

    await nc.subscribe(f"$KV.{CLASSIFICATION_BUCKET}.{SESSION.key}", cb=tapped)
    head, laps = race(sum(int(rate * seconds) for rate, seconds in PHASES))
    await Producer(nc).send_all(head)
    spawn = multiprocessing.get_context("spawn")
    pipes = {}
    for kind, count in (("sse", SSE_CLIENTS), ("ws", WS_CLIENTS)):
        parent, child = spawn.Pipe()
        process = spawn.Process(target=clients_process, args=(kind, count, gateway_url, nats_url, child), daemon=True)
        process.start()
        pipes[kind] = parent
        pids[f"{kind} clients"] = process.pid
    for parent in pipes.values():
        assert await asyncio.wait_for(loop.run_in_executor(None, parent.recv), 60) == "ready"
    phases = []
    offset = 0
    for rate, seconds in PHASES:
        count = int(rate * seconds)
        phases.append(await measured(nc, laps[offset : offset + count], rate, pids))
        offset += count
        await asyncio.sleep(2.0)  # what is in flight arrives before the next phase or the end
    async with httpx.AsyncClient(base_url=gateway_url, params={"token": TOKEN}) as http:
        health = msgspec.json.decode((await http.get("/healthz")).content)  # while the clients are connected
        size = len((await http.get(f"/api/sessions/{SESSION.key}/classification")).content)
    results = {}
    for kind, parent in pipes.items():
        parent.send("stop")
        results[kind] = await asyncio.wait_for(loop.run_in_executor(None, parent.recv), 60)
    await nc.close()

    core = "NATS core publish -> subscriber"
    for phase in phases:
        for kind, label in (("sse", "SSE"), ("ws", "WebSocket")):
            clients = [Arrivals(seqs, times) for seqs, times in results[kind][0]]
            base, latencies = results[kind][1].get(phase.name, []), _latencies(clients, phase.acks)
            for pct in (50, 99):
                reference = f"{phase.name}: {core}, {label} process, p{pct}"
                report.add_latency(reference, base, pct)
                client = f"{phase.name}: ack -> {label} client p{pct}"
                report.add_latency(client, latencies, pct, baseline=reference, target=phase.held_to(TARGET, pct))
            fewest, most = _values_per_client(clients, phase)
            report.notes.append(
                f"{phase.name}: each {label} client got {fewest:,}-{most:,} values for {len(phase.acks):,} events"
            )
        report.add_latency(f"{phase.name}: send -> ingest ack p50", phase.waits, 50)
        report.add_latency(f"{phase.name}: send -> ingest ack p99", phase.waits, 99)
        projected = _latencies([written], phase.acks)
        for pct in (50, 99):
            report.add_latency(f"{phase.name}: ack -> value written by the projector p{pct}", projected, pct)
        for name, cores in phase.cpu.items():
            report.add(f"{phase.name}: CPU of {name}", cores, "cores")
        report.add(f"{phase.name}: CPU of the machine, all processes", sum(phase.cpu.values()), "cores")
    report.notes.append(
        f"{CARS}-car field, a value is {size / 1024:.1f} KiB; {SSE_CLIENTS} SSE + {WS_CLIENTS} WebSocket clients; "
        f"written directly by the hub: {health['written_directly']} of {health['clients']}; "
        f"clients dropped for being slow: {health['dropped']}; processes: nats-server, ingest + projector, gateway, "
        "producer, SSE clients, WebSocket clients, on one machine"
    )


Measure = Callable[[Report, str, str, dict[str, int | None]], Awaitable[None]]
"""What a benchmark measures once the stack is up: the report, the broker's and the gateway's URLs, the pids."""


async def on_stack(report: Report, measure: Measure) -> None:
    """Run ``measure`` against a broker, ingest + projector and a gateway, each in a process of its own."""
    loop = asyncio.get_running_loop()
    spawn = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as store, EmbeddedNats(Path(store)) as server:
        pipes = []
        try:
            assert server.process is not None
            pids: dict[str, int | None] = {"nats-server": server.process.pid, "producer": os.getpid()}
            for name, target in (("ingest + projector", pipeline_process), ("gateway", gateway_process)):
                parent, child = spawn.Pipe()
                process = spawn.Process(target=target, args=(server.url, child), daemon=True)
                process.start()
                pipes.append(parent)
                pids[name] = process.pid
            answers = [await asyncio.wait_for(loop.run_in_executor(None, p.recv), 60) for p in pipes]
            await measure(report, server.url, answers[1], pids)
        finally:
            for parent in reversed(pipes):
                with contextlib.suppress(BrokenPipeError):
                    parent.send("stop")
            for child_process in multiprocessing.active_children():
                child_process.join(timeout=15)


def _taking_values(report: Report) -> None:
    """In this process: the hub taking each value of a 40-car race (one after every event, as the projector
    writes them) beside decoding each whole, the best of three rounds."""
    projection, values = ClassificationProjection(), []
    for seq, event in enumerate(simulate(RaceSpec(seed=7, cars=40, duration_ms=3_600_000)), 1):
        projection.apply(seq, event)
        state = projection.sessions[event.session.key]
        if state.opened is not None:
            values.append((event.session.key, state.encoded()))

    def decoded() -> None:
        for _, value in values:
            decode_classification(value)

    def taken() -> None:
        hub = ClassificationHub()
        for key, value in values:
            hub.apply(key, value)

    base = "a 40-car value decoded whole (baseline)"
    for name, work in ((base, decoded), ("the hub taking a 40-car value: rows cut, those changed decoded", taken)):
        best = min(_timed(work) for _ in range(3))
        report.add(name, best / len(values) * 1e6, "µs", baseline=None if name == base else base)
    size = sum(len(value) for _, value in values) // len(values)
    report.notes.append(f"{len(values):,} values of a 40-car hour, {size:,} bytes each on average")


def _timed(work: Callable[[], None]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def run() -> Report:
    report = Report("gateway")
    _taking_values(report)
    asyncio.run(on_stack(report, _measure))
    return report
