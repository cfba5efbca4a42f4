"""Crash recovery with real processes and real kills.

A race is sent through an ingest process to a classification projector process;
mid-race the projector is killed with SIGKILL (and restarted), or the broker is
restarted. The final classification must equal, byte for byte, the fold of the
race folded without interruption, and every event the producer sent must be in
the stream exactly once.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from schemas.events import Event
from schemas.results import encode_classification
from services.broker.connection import connect
from services.broker.embedded import EmbeddedNats
from services.classification.fold import fold_log
from services.ingest.client import Producer
from services.ops.log import read_events
from services.simulator.endurance import RaceSpec, simulate
from tests.live import wait_for_classification
from tests.reliability.processes import ServiceProcess

pytestmark = pytest.mark.slow

RACE = RaceSpec(seed=11, cars=20, duration_ms=45 * 60_000, retirements=2)


def uninterrupted(events: list[Event]) -> bytes:
    return encode_classification(fold_log(enumerate(events, start=1)).sessions[events[0].session.key].classification())


async def send_in_chunks(url: str, events: list[Event], chunks: int, between) -> None:  # type: ignore[no-untyped-def]
    """Send the race in ``chunks`` parts, calling ``between(i)`` after part i (not after the last)."""
    nc = await connect(url, "crash-producer")
    try:
        producer = Producer(nc, window=100, timeout=2.0, attempts=60)
        size = len(events) // chunks + 1
        for i in range(chunks):
            await producer.send_all(events[i * size : (i + 1) * size])
            if i < chunks - 1:
                await between(i)
    finally:
        await nc.close()


async def final_state(url: str, events: list[Event]) -> tuple[bytes, list[str]]:
    nc = await connect(url, "crash-check")
    try:
        stored = await read_events(nc.jetstream(), events[0].session.key)
        live = await wait_for_classification(nc, events[0].session.key, stored[-1][0], timeout=60)
        return encode_classification(live), [e.id for _, e in stored]
    finally:
        await nc.close()


async def test_projector_killed_mid_race_and_restarted(tmp_path: Path) -> None:
    events = simulate(RACE)
    with EmbeddedNats(tmp_path / "nats") as server, ServiceProcess("ingest", server.url, tmp_path):
        projector = ServiceProcess("classification", server.url, tmp_path).start()

        async def kill_and_restart(i: int) -> None:
            nonlocal projector
            if i == 1:
                await asyncio.sleep(0.3)
                projector.kill()
            if i == 2:
                projector = ServiceProcess("classification", server.url, tmp_path).start()

        try:
            await send_in_chunks(server.url, events, 4, kill_and_restart)
            served, ids = await final_state(server.url, events)
        finally:
            projector.stop()
    assert ids == [e.id for e in events]
    assert served == uninterrupted(events)


async def test_broker_restarted_mid_race(tmp_path: Path) -> None:
    events = simulate(RACE)
    server = EmbeddedNats(tmp_path / "nats").start()
    try:
        with ServiceProcess("ingest", server.url, tmp_path), ServiceProcess("classification", server.url, tmp_path):

            async def outage() -> None:
                await asyncio.sleep(0.2)
                server.stop()  # file storage: what was acknowledged is on disk
                await asyncio.sleep(1.5)
                server.start()

            restarts: list[asyncio.Task[None]] = []

            async def restart_broker_while_sending(i: int) -> None:
                if i == 0:
                    restarts.append(asyncio.create_task(outage()))  # the next part is sent into the outage

            await send_in_chunks(server.url, events, 3, restart_broker_while_sending)
            await restarts[0]
            served, ids = await final_state(server.url, events)
    finally:
        server.stop()
    assert ids == [e.id for e in events]
    assert served == uninterrupted(events)
