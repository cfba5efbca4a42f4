"""Many sessions at once: projector lag, CPU per event, memory per session and events read, with 1, 2 and 4 replicas.

Simulated 40-car sessions are replayed at ten times real pace, all at once,
straight into the stream (this measures the projectors, not ingest), each by a
producer of its own (a task per session: as a timing feed, it awaits each
acknowledgement before its next event), while classification projectors run
as separate processes. Measured per run:

- lag: from the publish acknowledgement of an event to the first value of its
  session in KV that includes it (p50, p99), seen by one KV watcher in a process of its own (``bench.kvwatch``);
  and of the laps alone: the race, without the bursts of every session's entry list (sent at once) and start
  (at the same instant);
- CPU per event: the projector processes' user+system time over the events;
- memory per session: the projector processes' resident memory growth over the sessions;
- events read per replica: each process's ``chequered_events_applied_total`` (its ``/metrics``), the most any
  replica read as a share of the events published (replicas read only their partitions: about 1/N);
- values written per event: the KV values the watcher saw over the events published (a projector writes a
  session's value when its turn in the write-behind queue comes: the further behind, the more events a value
  carries and the fewer values).

Runs: one session alone (the baseline), then ``SESSIONS`` sessions with one
projector, then with two and four replicas; every figure of the others is a ratio to the first.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import msgspec

from bench.report import Report, cpu_seconds, percentile
from schemas.events import Event, LapCompleted, SessionStarted, encode_event
from schemas.subjects import CLASSIFICATION_BUCKET, events_subject
from services.broker.connection import connect
from services.broker.embedded import EmbeddedNats, free_port
from services.broker.topology import ensure_topology
from services.simulator.endurance import RaceSpec, simulate

SESSIONS = 100
CARS = 40
RACE_MS = 6 * 60_000
SPEED = 10.0
ROOT = Path(__file__).resolve().parents[1]


def _races(count: int) -> list[list[Event]]:
    return [
        simulate(RaceSpec(seed=500 + i, cars=CARS, duration_ms=RACE_MS, retirements=2, event=f"e{i:03d}"))
        for i in range(count)
    ]


def _rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def _projectors(url: str, replicas: int, log_dir: Path) -> list[tuple[subprocess.Popen[bytes], int]]:
    """The projector processes, each with its ops port (for its ``/metrics``)."""
    args = [sys.executable, "-m", "services.cli", "serve", "classification", "--nats", url]
    started = []
    for i in range(replicas):
        port = free_port()
        process = subprocess.Popen(
            [*args, "--ops-port", str(port), *(["--replica", f"r{i}"] if replicas > 1 else [])],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=(log_dir / f"projector-{replicas}-{i}.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        started.append((process, port))
    return started


def _events_read(port: int) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    found = re.search(r'^chequered_events_applied_total\{projection="classification"\} (\S+)$', text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


async def _watcher(url: str) -> asyncio.subprocess.Process:
    """``bench.kvwatch`` on the classification bucket, in a process of its own, once it watches."""
    watcher = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.kvwatch", url, CLASSIFICATION_BUCKET,
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert watcher.stdout is not None
    if await watcher.stdout.readline() != b"ready\n":
        raise RuntimeError("the KV watcher did not start")
    return watcher


async def _run(url: str, races: list[list[Event]], replicas: int, log_dir: Path) -> dict[str, float]:
    started_projectors = _projectors(url, replicas, log_dir)
    processes = [process for process, _ in started_projectors]
    nc = await connect(url, "bench-scale")
    try:
        await asyncio.sleep(3.0 + replicas)  # started, caught up, and members agreed
        cpu0 = sum(cpu_seconds(p.pid) or 0.0 for p in processes)
        rss0 = sum(_rss_bytes(p.pid) for p in processes)
        js = nc.jetstream()
        watcher = await _watcher(url)
        events = [e for race in races for e in race]
        # entries come half an hour before the green: send them at once, pace from the start
        origin = min(e.at for e in events if isinstance(e.body, SessionStarted))
        started = time.monotonic()
        acked: list[tuple[str, int, float, bool]] = []

        async def produce(race: list[Event]) -> None:
            """One session's producer: its events at their pace, each acknowledged before the next."""
            for event in race:
                delay = (event.at - origin) / 1000 / SPEED - (time.monotonic() - started)
                if delay > 0:
                    await asyncio.sleep(delay)
                ack = await js.publish(
                    events_subject(event.session), encode_event(event), headers={"Nats-Msg-Id": event.msg_id}
                )
                acked.append((event.session.key, ack.seq, time.monotonic(), isinstance(event.body, LapCompleted)))

        await asyncio.gather(*(produce(race) for race in races))
        await asyncio.sleep(2.0)
        watcher.terminate()
        out, _ = await watcher.communicate()
        seen: dict[str, list[tuple[int, float]]] = {}
        for key, seq, at in msgspec.json.decode(out, type=list[tuple[str, int, float]]):
            seen.setdefault(key, []).append((seq, at))
        cpu = sum(cpu_seconds(p.pid) or 0.0 for p in processes) - cpu0
        rss = sum(_rss_bytes(p.pid) for p in processes) - rss0
        read = [await asyncio.to_thread(_events_read, port) for _, port in started_projectors]
        lags, lap_lags = [], []
        for key, seq, at, lap in acked:
            first = next((t for s, t in seen.get(key, []) if s >= seq), None)
            if first is not None:
                lags.append(max(0.0, first - at) * 1000)
                if lap:
                    lap_lags.append(lags[-1])
        return {
            "events": len(events),
            "lag_p50": percentile(lags, 50),
            "lag_p99": percentile(lags, 99),
            "lap_lag_p50": percentile(lap_lags, 50),
            "lap_lag_p99": percentile(lap_lags, 99),
            "cpu_us_per_event": cpu / len(events) * 1e6,
            "rss_per_session": rss / len(races),
            "seen": len(lags) / len(acked),
            "read_share_max": max(read) / len(events),
            "read_share_mean": sum(read) / len(read) / len(events),
            "values_per_event": sum(len(values) for values in seen.values()) / len(events),
        }
    finally:
        await nc.close()
        for process in processes:
            process.terminate()
            process.wait()


async def _all(report: Report) -> None:
    races = _races(SESSIONS)
    runs = [("1 session, 1 replica", races[:1], 1), (f"{SESSIONS} sessions, 1 replica", races, 1),
            (f"{SESSIONS} sessions, 2 replicas", races, 2), (f"{SESSIONS} sessions, 4 replicas", races, 4)]  # fmt: skip
    results = []
    for name, chosen, replicas in runs:
        with tempfile.TemporaryDirectory() as store, EmbeddedNats(Path(store) / "nats") as server:
            nc = await connect(server.url, "bench-setup")
            await ensure_topology(nc.jetstream())
            await nc.close()
            results.append((name, await _run(server.url, chosen, replicas, Path(store))))
    base_name = results[0][0]
    for name, figures in results:
        for measure, unit in (("lag_p50", "ms"), ("lag_p99", "ms"), ("lap_lag_p50", "ms"), ("lap_lag_p99", "ms"),
                              ("cpu_us_per_event", "µs"),
                              ("rss_per_session", "bytes")):  # fmt: skip
            report.add(
                f"{name}: {measure}",
                figures[measure],
                unit,
                baseline=None if name == base_name else f"{base_name}: {measure}",
            )
        report.add(f"{name}: events read, most by a replica", figures["read_share_max"], "of all")
        report.add(f"{name}: events read, mean per replica", figures["read_share_mean"], "of all")
        report.add(f"{name}: values written per event", figures["values_per_event"], "values")
        report.notes.append(f"{name}: {figures['events']:,.0f} events, {figures['seen']:.1%} of them seen in KV")
    report.notes.append(f"{CARS}-car sessions of {RACE_MS // 60_000} minutes at {SPEED:g}x real pace, all at once")


def run() -> Report:
    report = Report("scale")
    asyncio.run(_all(report))
    return report
