"""Two projector replicas over twenty concurrent sessions; one is killed mid-race."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from nats.aio.client import Client

from schemas.events import Event, PenaltyIssued, PenaltyKind, ResultsDeclared, ResultsStatus
from schemas.results import encode_classification
from schemas.subjects import SNAPSHOTS_BUCKET
from services.broker.connection import connect
from services.broker.embedded import EmbeddedNats
from services.broker.reader import read_events
from services.classification.fold import fold_log
from services.classification.projector import ClassificationProjector
from services.ingest.client import Producer
from services.ingest.service import IngestService
from services.simulator.endurance import RaceSpec, simulate
from tests.live import wait_for_classification
from tests.polling import until
from tests.reliability.processes import ServiceProcess

SESSIONS = 20


def concurrent_races(count: int) -> list[list[Event]]:
    return [
        simulate(RaceSpec(seed=100 + i, cars=8, duration_ms=10 * 60_000, retirements=1, event=f"round-{i:02d}"))
        for i in range(count)
    ]


def interleaved(races: list[list[Event]]) -> list[Event]:
    """All sessions at once, in timing-clock order, as a busy weekend delivers them."""
    return sorted((e for race in races for e in race), key=lambda e: (e.at, e.session.key, e.id))


async def finals(nc: Client, races: list[list[Event]]) -> None:
    for race in races:
        key = race[0].session.key
        stored = await read_events(nc.jetstream(), key)
        live = await wait_for_classification(nc, key, stored[-1][0], timeout=60)
        expected = fold_log(stored).sessions[key].classification()
        assert encode_classification(live) == encode_classification(expected), key


@pytest.mark.slow
async def test_one_of_two_replicas_killed_mid_race(tmp_path: Path) -> None:
    races = concurrent_races(SESSIONS)
    events = interleaved(races)
    with EmbeddedNats(tmp_path / "nats") as server, ServiceProcess("ingest", server.url, tmp_path):
        r1 = ServiceProcess("classification", server.url, tmp_path, "--replica", "r1").start()
        r2 = ServiceProcess("classification", server.url, tmp_path, "--replica", "r2").start()
        nc = await connect(server.url, "scale-test")
        try:
            producer = Producer(nc, window=200, attempts=60)
            half = len(events) // 2
            await producer.send_all(events[:half])
            await asyncio.sleep(1.0)
            r1.kill()  # its sessions move to r2 once its heartbeat expires
            await producer.send_all(events[half:])
            await finals(nc, races)
        finally:
            await nc.close()
            r1.stop()
            r2.stop()


@pytest.mark.parametrize("snapshot_lost", [False, True])
async def test_ended_sessions_leave_memory_and_come_back_for_a_late_penalty(
    nats_url: str, nc: Client, snapshot_lost: bool
) -> None:
    """An evicted session comes back from its snapshot, or from the log should that be gone."""
    ingest, projector = IngestService(nats_url), ClassificationProjector(nats_url, evict_after=50)
    await ingest.start()
    await projector.start()
    try:
        first, second = concurrent_races(2)
        producer = Producer(nc)
        declared = Event(
            id="final", session=first[0].session, producer="rc", at=first[-1].at + 1,
            body=ResultsDeclared(status=ResultsStatus.FINAL),
        )  # fmt: skip
        await producer.send_all([*first, declared])
        await producer.send_all(second)
        key = first[0].session.key
        stored = await read_events(nc.jetstream(), second[0].session.key)
        await wait_for_classification(nc, second[0].session.key, stored[-1][0])
        await until(lambda: key in projector.evicted, f"{key} evicted", 5)  # eviction follows the batch's writes
        assert key in projector.evicted and key not in projector.projection.sessions

        winner = fold_log(await read_events(nc.jetstream(), key)).sessions[key].classification().cars[0].number
        late = Event(
            id="late-dsq", session=first[0].session, producer="rc", at=first[-1].at + 3_600_000,
            body=PenaltyIssued(number=winner, decision="D99", kind=PenaltyKind.DISQUALIFICATION),
        )  # fmt: skip
        if snapshot_lost:
            store = await nc.jetstream().object_store(SNAPSHOTS_BUCKET)
            for info in await store.list():
                if key in info.name:
                    await store.delete(info.name)
        await producer.send(late)
        log = await read_events(nc.jetstream(), key)
        served = await wait_for_classification(nc, key, log[-1][0])
        assert key not in projector.evicted
        assert served.cars[-1].number == winner and served.cars[-1].status.value == "dsq"
        assert encode_classification(served) == encode_classification(fold_log(log).sessions[key].classification())
    finally:
        await projector.stop()
        await ingest.stop()


async def test_a_restart_after_an_eviction_keeps_the_running_sessions_and_leaves_the_evicted_out(
    nats_url: str, nc: Client
) -> None:
    ingest = IngestService(nats_url)
    await ingest.start()
    settings = {"evict_after": 20, "snapshot_every": 1_000_000}  # the eviction is the only snapshot taken
    projector = ClassificationProjector(nats_url, **settings)  # type: ignore[arg-type]
    await projector.start()
    try:
        first, second = concurrent_races(2)
        declared = Event(
            id="final", session=first[0].session, producer="rc", at=first[-1].at + 1,
            body=ResultsDeclared(status=ResultsStatus.FINAL),
        )  # fmt: skip
        producer = Producer(nc)
        half = len(second) // 2
        await producer.send_all([*first, declared, *second[:half]])
        evicted = first[0].session.key
        for _ in range(100):
            if evicted in projector.evicted:
                break
            await asyncio.sleep(0.05)
        assert evicted in projector.evicted
        await projector.stop()

        projector = ClassificationProjector(nats_url, **settings)  # type: ignore[arg-type]
        await projector.start()
        assert projector.resumed_from > 0, "it started from the eviction's snapshot"
        assert evicted in projector.evicted and evicted not in projector.projection.sessions
        await producer.send_all(second[half:])
        key = second[0].session.key
        log = await read_events(nc.jetstream(), key)
        served = await wait_for_classification(nc, key, log[-1][0])
        assert encode_classification(served) == encode_classification(fold_log(log).sessions[key].classification())
    finally:
        await projector.stop()
        await ingest.stop()


async def test_a_replica_that_loses_partitions_goes_on_snapshotting(nats_url: str, nc: Client) -> None:
    """A second replica joins mid-race: the first forgets the sessions it loses, including those waiting for its
    next snapshot (a snapshot of a session it no longer holds killed its fold), and both serve their share."""
    ingest = IngestService(nats_url)
    first = ClassificationProjector(nats_url, replica="a", snapshot_every=25)
    second = ClassificationProjector(nats_url, replica="b", snapshot_every=25)
    await ingest.start()
    await first.start()
    try:
        races = concurrent_races(6)
        events = interleaved(races)
        producer = Producer(nc, window=100)
        half = len(events) // 2
        await producer.send_all(events[:half])
        await until(lambda: first.ready, "the first replica caught up", 20)
        await second.start()
        await until(lambda: bool(first.partitions and second.partitions and not first.partitions & second.partitions),
                    "the partitions shared", 20)  # fmt: skip
        await producer.send_all(events[half:])
        await finals(nc, races)
        assert first.healthy and second.healthy, "both replicas still following the log"
        assert first.events_read < first.position and second.events_read < second.position
    finally:
        await second.stop()
        await first.stop()
        await ingest.stop()
