"""The log partitioned by the broker, and projector replicas that read only their partitions.

The events stream's subject transform appends ``{{partition(32, ...)}}`` of the session tokens to what it stores;
each replica's ordered consumer filters on its own partitions, so it reads only its share of the log. What it
writes is still byte for byte what one projector folding the whole log writes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st
from nats.aio.client import Client
from nats.js.api import StorageType, StreamConfig

from schemas.events import Event, encode_event
from schemas.results import decode_classification, encode_classification
from schemas.subjects import (
    EVENTS_PREFIX,
    EVENTS_STREAM,
    PARTITIONS,
    NotAnEvent,
    partition_of,
    session_key_of,
    stored_event,
)
from services.broker.bulkread import read_to_head
from services.broker.partition import assign
from services.broker.reader import read_events
from services.broker.topology import DUPLICATE_WINDOW_S, ensure_topology
from services.classification.fold import fold_log
from services.classification.projector import ClassificationProjector
from services.ingest.client import session_view
from services.ingest.service import IngestService
from tests.commands import chequered, output, said
from tests.live import send, wait_for_classification
from tests.polling import until
from tests.scale.test_replicas import concurrent_races, interleaved


async def stored_subjects(nc: Client) -> list[tuple[int, str]]:
    return [
        (stored.seq, stored.subject)
        async for batch in read_to_head(nc.jetstream(), [f"{EVENTS_PREFIX}.>"])
        for stored in batch
    ]


async def served_as_folded(nc: Client, races: list[list[Event]]) -> None:
    """Every session's value in KV is the fold of its log, byte for byte."""
    for race in races:
        key = race[0].session.key
        log = await read_events(nc.jetstream(), key)
        live = await wait_for_classification(nc, key, log[-1][0], timeout=60)
        assert encode_classification(live) == encode_classification(fold_log(log).sessions[key].classification())


async def stream_from_before_partitions(nc: Client) -> None:
    """The events stream as chequered set it up before partitions and atomic batches."""
    await nc.jetstream().add_stream(
        StreamConfig(
            name=EVENTS_STREAM,
            subjects=[f"{EVENTS_PREFIX}.>"],
            storage=StorageType.FILE,
            duplicate_window=DUPLICATE_WINDOW_S,
            deny_delete=True,
            deny_purge=True,
        )
    )


async def publish(nc: Client, events: list[Event]) -> None:
    """Straight into the stream, as ingest stores them (the stream's transform, if any, partitions them)."""
    js = nc.jetstream()
    for event in events:
        await js.publish(
            f"{EVENTS_PREFIX}.{event.session.key}", encode_event(event), headers={"Nats-Msg-Id": event.msg_id}
        )


@pytest.fixture
async def replicas(nats_url: str) -> AsyncIterator[Callable[[int], Awaitable[list[ClassificationProjector]]]]:
    started: list[ClassificationProjector] = []

    async def start(count: int) -> list[ClassificationProjector]:
        for i in range(count):
            projector = ClassificationProjector(nats_url, replica=f"r{i + 1}")
            await projector.start()
            started.append(projector)
        await until(  # each holds its share (one holding them all while the others join is not agreement)
            lambda: (
                sorted(p for r in started for p in r.partitions) == list(range(PARTITIONS))
                and all(len(r.partitions) >= PARTITIONS // len(started) for r in started)
            ),
            "the replicas share the partitions",
        )
        return started

    yield start
    for projector in started:
        await projector.stop()


async def test_the_broker_stores_each_session_in_the_partition_computed_here(nc: Client) -> None:
    """``partition_of`` is nats-server's own ``partition()``: FNV-1a of the three session tokens."""
    js = nc.jetstream()
    await ensure_topology(js)
    keys = [f"c{i % 3}.round-{i}.race-{i * 7}" for i in range(400)]
    for key in keys:
        await js.publish(f"{EVENTS_PREFIX}.{key}", b"{}")
    stored = [subject for _, subject in await stored_subjects(nc)]
    assert [(session_key_of(s), int(s.rsplit(".", 1)[1])) for s in stored] == [(k, partition_of(k)) for k in keys]
    assert len({partition_of(k) for k in keys}) == PARTITIONS


@pytest.mark.usefixtures("ingest")
async def test_each_replica_reads_only_its_partitions_and_writes_what_one_fold_writes(
    nc: Client, replicas: Callable[[int], Awaitable[list[ClassificationProjector]]]
) -> None:
    projectors = await replicas(2)
    races = concurrent_races(12)
    await send(nc, interleaved(races))
    await served_as_folded(nc, races)
    stored = await stored_subjects(nc)
    for projector in projectors:
        own = [seq for seq, subject in stored if int(subject.rsplit(".", 1)[1]) in projector.partitions]
        assert projector.events_read == len(own) < len(stored)
    assert sum(p.events_read for p in projectors) == len(stored)


@pytest.mark.usefixtures("ingest")
async def test_a_replica_that_leaves_hands_its_partitions_over(
    nc: Client, replicas: Callable[[int], Awaitable[list[ClassificationProjector]]]
) -> None:
    """The one that stays folds the gained sessions from the log and writes them, only forward."""
    first, second = await replicas(2)
    races = concurrent_races(8)
    events = interleaved(races)
    half = len(events) // 2
    await send(nc, events[:half])
    await served_as_folded(nc, [race[:1] for race in races])
    await first.stop()
    await until(lambda: second.partitions == frozenset(range(PARTITIONS)), "the other takes every partition")
    await send(nc, events[half:])
    await served_as_folded(nc, races)


async def test_a_store_from_before_partitions_is_updated_and_keeps_its_older_events(
    nats_url: str, nc: Client, replicas: Callable[[int], Awaitable[list[ClassificationProjector]]]
) -> None:
    """``chequered setup --update`` adds the partitions to a running log: its older events stay where they are
    (the log is never rewritten), every replica reads them and folds its own sessions'."""
    js = nc.jetstream()
    await stream_from_before_partitions(nc)
    races = concurrent_races(6)
    events = interleaved(races)
    half = len(events) // 2
    await publish(nc, events[:half])
    await ensure_topology(js, update=True)
    ingest = IngestService(nats_url)
    await ingest.start()
    try:
        projectors = await replicas(2)
        await send(nc, events[half:])
        await served_as_folded(nc, races)
        stored = await stored_subjects(nc)
        older = [subject for _, subject in stored if subject.count(".") == 4]
        assert len(older) == half and len(stored) == len(events)
        for projector in projectors:
            own = [s for _, s in stored if s.count(".") == 5 and int(s.rsplit(".", 1)[1]) in projector.partitions]
            assert projector.events_read == len(older) + len(own)
    finally:
        await ingest.stop()


async def test_setup_update_partitions_an_old_store_as_installed(nats_url: str, nc: Client) -> None:
    """As a user upgrades: the installed ``chequered setup`` refuses to rewrite a stream from before partitions
    and names ``--update``; ``chequered setup --update`` partitions what comes next and keeps the older events
    where they are; ``chequered rebuild`` then folds both into what one fold of the whole log gives, and
    ``chequered tower`` shows it."""
    await stream_from_before_partitions(nc)
    race = concurrent_races(1)[0]
    half = len(race) // 2
    await publish(nc, race[:half])
    refused = await asyncio.to_thread(chequered, "setup", "--nats", nats_url)
    assert refused.returncode != 0 and "setup --update" in said(refused.stdout + refused.stderr), output(refused)
    updated = await asyncio.to_thread(chequered, "setup", "--update", "--nats", nats_url)
    assert updated.returncode == 0, output(updated)
    await publish(nc, race[half:])
    stored = await stored_subjects(nc)
    assert [subject.count(".") for _, subject in stored] == [4] * half + [5] * (len(race) - half)
    rebuilt = await asyncio.to_thread(chequered, "rebuild", "classification", "--nats", nats_url)
    assert rebuilt.returncode == 0, output(rebuilt)
    key = race[0].session.key
    shown = await asyncio.to_thread(chequered, "tower", key, "--once", "--format", "json", "--nats", nats_url)
    assert shown.returncode == 0, output(shown)
    folded = fold_log(await read_events(nc.jetstream(), key)).sessions[key].classification()
    assert encode_classification(decode_classification(shown.stdout.encode())) == encode_classification(folded)
    assert folded.last_seq == len(race)


async def test_race_control_finds_when_a_session_last_stored_in_its_partition(nc: Client) -> None:
    """``session_view`` tells a live session from a replayed one by when its last event was stored: it is found in
    the session's partition (asked for under the subject it was published on, nothing was found in a partitioned
    log and every session looked replayed)."""
    await ensure_topology(nc.jetstream())
    race = concurrent_races(1)[0]
    await publish(nc, race[:5])
    view = await session_view(nc.jetstream(), race[0].session)
    assert view.last_stored is not None and view.last_stored[0] == race[4].at


def test_an_event_stored_in_another_partition_than_its_sessions_is_no_event() -> None:
    """Only a writer going round ingest can store one there; every reader leaves it out alike, and the replica
    reading that partition dead-letters it, instead of a second replica writing the session."""
    event = concurrent_races(1)[0][0]
    key = event.session.key
    assert stored_event(f"{EVENTS_PREFIX}.{key}.{partition_of(key)}", encode_event(event)) == event
    with pytest.raises(NotAnEvent, match="partition"):
        stored_event(f"{EVENTS_PREFIX}.{key}.{(partition_of(key) + 1) % PARTITIONS}", encode_event(event))


@given(st.sets(st.text(min_size=1, max_size=6), min_size=1, max_size=12))
def test_partitions_are_shared_evenly_and_alike_by_every_member(members: set[str]) -> None:
    owners = assign(PARTITIONS, members)
    assert sorted(owners) == list(range(PARTITIONS)) and set(owners.values()) <= members
    loads = [list(owners.values()).count(m) for m in members]
    assert max(loads) - min(loads) <= 1
    assert assign(PARTITIONS, sorted(members, reverse=True)) == owners
