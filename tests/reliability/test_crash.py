"""Crash recovery with real processes and real kills.

A points configuration, a race and its declared results are sent through an
ingest process to classification and standings projector processes; mid-race
the projectors are killed with SIGKILL (and restarted), or the broker is
restarted. The final classification and standings must equal, byte for byte,
those of the log folded without interruption, and every event the producer
sent must be in the stream exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest
from nats.js.errors import KeyNotFoundError

from schemas.events import ChampionshipConfigured, Event, ResultsDeclared, ResultsStatus, SessionRef
from schemas.results import encode_classification
from schemas.standings import decode_standings, encode_standings
from schemas.subjects import STANDINGS_BUCKET
from services.broker.connection import connect
from services.broker.embedded import EmbeddedNats
from services.broker.reader import read_events
from services.classification.fold import fold_log
from services.ingest.client import Producer
from services.simulator.endurance import RaceSpec, simulate
from services.standings.fold import standings_until
from tests.live import wait_for_classification
from tests.reliability.processes import ServiceProcess

pytestmark = pytest.mark.slow

RACE = RaceSpec(seed=11, cars=20, duration_ms=45 * 60_000, retirements=2)
CONFIG = Path(__file__).resolve().parents[2] / "services" / "standings" / "configs" / "gt-endurance.toml"


def season() -> list[Event]:
    """The points configuration, a race, its declared results: what both projectors fold."""
    race = simulate(RACE)
    championship = race[0].session.championship
    configured = Event(
        id="config", session=SessionRef.championship_of(championship), producer="ops", at=race[0].at,
        body=ChampionshipConfigured(toml=CONFIG.read_text(), source=CONFIG.name),
    )  # fmt: skip
    declared = Event(
        id="declared", session=race[0].session, producer="ops", at=race[-1].at + 60_000,
        body=ResultsDeclared(status=ResultsStatus.FINAL),
    )  # fmt: skip
    return [configured, *race, declared]


def uninterrupted(events: list[Event]) -> tuple[bytes, bytes]:
    pairs = list(enumerate(events, start=1))
    key = events[-1].session.key
    classification = encode_classification(fold_log(pairs).sessions[key].classification())
    standings = standings_until(pairs, events[-1].session.championship)
    assert standings is not None
    return classification, encode_standings(standings)


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


async def final_state(url: str, events: list[Event]) -> tuple[tuple[bytes, bytes], list[str]]:
    """The served classification and declared standings once they include everything, and the ids stored."""
    session = events[-1].session
    nc = await connect(url, "crash-check")
    try:
        stored = await read_events(nc.jetstream(), f"{session.championship}.>")
        live = await wait_for_classification(nc, session.key, stored[-1][0], timeout=60)
        kv = await nc.jetstream().key_value(STANDINGS_BUCKET)
        for _ in range(600):
            with contextlib.suppress(KeyNotFoundError):
                served = decode_standings((await kv.get(session.championship)).value or b"")
                if session.key in served.sequences and served.sequences[session.key] >= stored[-1][0]:
                    break
            await asyncio.sleep(0.1)
        return (encode_classification(live), encode_standings(served)), [e.id for _, e in stored]
    finally:
        await nc.close()


async def test_projectors_killed_mid_race_and_restarted(tmp_path: Path) -> None:
    events = season()
    with EmbeddedNats(tmp_path / "nats") as server, ServiceProcess("ingest", server.url, tmp_path):
        projectors = [ServiceProcess(role, server.url, tmp_path).start() for role in ("classification", "standings")]

        async def kill_and_restart(i: int) -> None:
            nonlocal projectors
            if i == 1:
                await asyncio.sleep(0.3)
                for projector in projectors:
                    projector.kill()
            if i == 2:
                projectors = [ServiceProcess(p.role, server.url, tmp_path).start() for p in projectors]

        try:
            await send_in_chunks(server.url, events, 4, kill_and_restart)
            served, ids = await final_state(server.url, events)
        finally:
            for projector in projectors:
                projector.stop()
    assert ids == [e.id for e in events]
    assert served == uninterrupted(events)


async def test_broker_restarted_mid_race(tmp_path: Path) -> None:
    events = season()
    server = EmbeddedNats(tmp_path / "nats").start()
    try:
        with (
            ServiceProcess("ingest", server.url, tmp_path),
            ServiceProcess("classification", server.url, tmp_path),
            ServiceProcess("standings", server.url, tmp_path),
        ):

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
