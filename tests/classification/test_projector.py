"""The classification projector against a real nats-server."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import msgspec
import pytest
from nats.aio.client import Client
from nats.errors import TimeoutError as NatsTimeoutError
from prometheus_client import generate_latest

from schemas.events import Event, ResultsDeclared, ResultsStatus
from schemas.ingest import DeadLetter
from schemas.results import Classification, decode_classification, encode_classification
from services.broker import follower
from services.broker.bulkread import StreamTail
from services.broker.connection import connect
from services.broker.writebehind import WRITERS
from services.classification.fold import classification_until, fold_log
from services.classification.projector import ClassificationProjector
from services.ingest.service import IngestService
from services.ops.rejects import read_rejects
from tests.factory import SessionWriter, small_race
from tests.live import broker_with, send, wait_for_classification, wait_for_dead_letters
from tests.polling import until


def offline(stored: list[tuple[int, Event]], key: str) -> bytes:
    return encode_classification(fold_log(stored).sessions[key].classification())


async def served(nc: Client, stored: list[tuple[int, Event]], key: str) -> Classification:
    """The projector's value of session ``key`` once it has the last event ``stored``: the offline fold's, byte
    for byte."""
    live = await wait_for_classification(nc, key, stored[-1][0])
    assert encode_classification(live) == offline(stored, key)
    return live


async def served_as_folded(nc: Client) -> Classification:
    """A small race sent through ingest, served as the offline fold gives it."""
    w = SessionWriter()
    return await served(nc, await send(nc, small_race(w)), w.session.key)


class HeldWrites:
    """Stands in for a projector's ``persist``: every write waits until ``released`` is set, then goes on (or,
    ``given_up``, is answered as a write given up on the way out); ``tried`` lists their keys, ``holding`` is set
    at the first."""

    def __init__(self, projector: ClassificationProjector, monkeypatch: pytest.MonkeyPatch, given_up: bool = False):
        self.tried: list[str] = []
        self.holding, self.released = asyncio.Event(), asyncio.Event()
        self._projector, self._persist, self._given_up = projector, projector.persist, given_up
        monkeypatch.setattr(projector, "persist", self)

    async def end(self) -> None:
        """Release the writes and stop the projector (it waits for them)."""
        self.released.set()
        await self._projector.stop()

    async def __call__(
        self, bucket: str, key: str, seq: int, value: bytes, write: Callable[[], Awaitable[None]]
    ) -> bool:
        self.tried.append(key)
        self.holding.set()
        await self.released.wait()
        return not self._given_up and await self._persist(bucket, key, seq, value, write)


async def test_live_classification_equals_the_offline_fold(nats_url: str, nc: Client, ingest: IngestService) -> None:
    projector = ClassificationProjector(nats_url)
    await projector.start()
    try:
        live = await served_as_folded(nc)
        assert [c.number for c in live.cars][:2] == ["1", "2"]
    finally:
        await projector.stop()


async def test_projector_stopped_mid_race_resumes_exactly(nats_url: str, nc: Client, ingest: IngestService) -> None:
    w = SessionWriter()
    race = small_race(w)
    half = len(race) // 2
    first = ClassificationProjector(nats_url)
    await first.start()
    stored = await send(nc, race[:half])
    await wait_for_classification(nc, w.session.key, stored[-1][0])
    await first.stop()

    stored += await send(nc, race[half:])  # written while no projector runs
    second = ClassificationProjector(nats_url)
    assert second.written == {}
    await second.start()
    try:
        assert second.written[w.session.key] == stored[half - 1][0]  # the checkpoint it resumes after
        live = await served(nc, stored, w.session.key)
        assert sum(c.laps for c in live.cars) == 6 * 12  # nothing skipped, nothing counted twice
    finally:
        await second.stop()


async def test_events_folded_while_their_session_is_written_are_written_after(
    nats_url: str, nc: Client, ingest: IngestService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Values are written behind the fold: the fold goes on while a session's value is on its way, and what it
    folds meanwhile is written next (the write once recorded the newer sequence as written and skipped it)."""
    projector = ClassificationProjector(nats_url)
    await projector.start()
    await until(lambda: projector.ready, "the projector ready")  # caught up: the fold no longer waits for writes
    held = HeldWrites(projector, monkeypatch)
    try:
        w = SessionWriter()
        race = small_race(w, cars=2, laps=2)
        stored = await send(nc, race[:1])
        await asyncio.wait_for(held.holding.wait(), 30)  # the session's first value is on its way
        stored += await send(nc, race[1:])
        await until(lambda: projector.projection.last_seq == stored[-1][0], "the rest folded meanwhile")
        held.released.set()
        await served(nc, stored, w.session.key)
    finally:
        await held.end()


async def test_ready_means_what_the_log_held_at_start_is_written(
    nats_url: str, nc: Client, ingest: IngestService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Values go behind the fold, so a projector that has folded the log is not ready until its values are
    written: a reader told "ready" reads what the log says."""
    last: dict[str, int] = {}
    for _ in range(3):
        w = SessionWriter()
        last[w.session.key] = (await send(nc, small_race(w, cars=4, laps=2)))[-1][0]
    projector = ClassificationProjector(nats_url)
    held = HeldWrites(projector, monkeypatch)
    await projector.start()
    try:
        await until(lambda: projector.projection.last_seq == max(last.values()), "the log folded")
        await asyncio.sleep(0.5)
        assert not projector.ready  # folded, not written
        held.released.set()
        await until(lambda: projector.ready, "the projector ready")
        kv = await nc.jetstream().key_value("chequered_classification")
        for key, seq in last.items():
            entry = await kv.get(key)
            assert entry.value is not None and decode_classification(entry.value).last_seq == seq
    finally:
        await held.end()


async def test_on_the_way_out_with_the_broker_away_the_queued_values_are_given_up(
    nats_url: str, nc: Client, ingest: IngestService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stopping while the broker is away: a write given up on the way out gives up the queue with it (each
    queued session tried in turn, a request time-out each, made a stop take minutes); a restart writes them."""
    projector = ClassificationProjector(nats_url)
    await projector.start()
    await until(lambda: projector.ready, "the projector ready")
    held = HeldWrites(projector, monkeypatch, given_up=True)
    try:
        writers = [SessionWriter() for _ in range(20)]
        stored = await send(nc, [w.opened() for w in writers])
        await until(lambda: projector.projection.last_seq == stored[-1][0], "every session folded")
        await until(lambda: len(held.tried) == WRITERS, "every writer busy")
    finally:
        stopping = asyncio.create_task(projector.stop())
        await until(projector.stopping.is_set, "the projector stopping")
        held.released.set()
        await asyncio.wait_for(stopping, 30)
    assert len(held.tried) == WRITERS  # those in flight; the other 12 given up with them


async def test_a_finished_session_leaves_memory_once_its_last_value_is_written(
    nats_url: str, nc: Client, ingest: IngestService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Eviction waits for the session's last value to be written (it is written behind the fold), and then
    happens with no event after it (an idle projector evicts too)."""
    projector = ClassificationProjector(nats_url, evict_after=20)
    await projector.start()
    await until(lambda: projector.ready, "the projector ready")
    held = HeldWrites(projector, monkeypatch)
    try:
        finished, other = SessionWriter(), SessionWriter()
        final = finished.event(ResultsDeclared(status=ResultsStatus.FINAL), at=2_000_000)
        await send(nc, [*small_race(finished, cars=2, laps=2), final])
        stored = await send(nc, small_race(other, cars=4, laps=6))
        await until(lambda: projector.projection.last_seq == stored[-1][0], "the other session folded")
        await asyncio.sleep(0.5)  # idle polls meanwhile
        assert finished.session.key in projector.projection.sessions  # its last value is still on its way
        held.released.set()
        await until(lambda: finished.session.key in projector.evicted, "the finished session evicted")
        await wait_for_classification(nc, finished.session.key, stored[0][0] - 1)
    finally:
        await held.end()


async def test_a_value_older_than_the_snapshot_is_written_again_at_start(
    nats_url: str, nc: Client, ingest: IngestService
) -> None:
    """A projector that saved a snapshot and died before its last values were written: the log after the
    snapshot may never touch those sessions again, so the restart writes every session the bucket holds behind
    what it restored."""
    w = SessionWriter()
    first = ClassificationProjector(nats_url, snapshot_every=1)
    await first.start()
    stored = await send(nc, small_race(w, cars=2, laps=2))
    await wait_for_classification(nc, w.session.key, stored[-1][0])
    await first.stop()
    earlier = classification_until(stored, w.session, seq=stored[len(stored) // 2][0])
    assert earlier is not None
    kv = await nc.jetstream().key_value("chequered_classification")
    await kv.put(w.session.key, encode_classification(earlier))  # the value as it was before the crash
    second = ClassificationProjector(nats_url, snapshot_every=1)
    await second.start()
    try:
        assert second.resumed_from == stored[-1][0]  # restored from the snapshot: nothing left in the log
        await served(nc, stored, w.session.key)
    finally:
        await second.stop()


async def test_a_value_in_the_bucket_that_is_no_classification_is_replaced(
    nats_url: str, nc: Client, ingest: IngestService
) -> None:
    """An operator's put (or another version's value) under a session's key: the projector starts, counts it as
    nothing written, and replaces it (it could not decode it, and died at every start)."""
    w = SessionWriter()
    race = small_race(w, cars=2, laps=2)
    half = len(race) // 2
    first = ClassificationProjector(nats_url)
    await first.start()
    stored = await send(nc, race[:half])
    await wait_for_classification(nc, w.session.key, stored[-1][0])
    await first.stop()
    kv = await nc.jetstream().key_value("chequered_classification")
    await kv.put(w.session.key, b"not a classification")
    second = ClassificationProjector(nats_url)
    await second.start()
    try:
        assert second.written[w.session.key] == 0
        stored += await send(nc, race[half:])
        await served(nc, stored, w.session.key)
    finally:
        await second.stop()


async def test_a_read_the_broker_fails_is_tried_again(
    nats_url: str, nc: Client, ingest: IngestService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The live tail cannot be opened once (the broker busy electing, a time-out): the projector reads on from
    what it folded, after a pause, instead of its fold ending for good."""
    failures = [NatsTimeoutError()]

    class FailingOnce(StreamTail):
        """The follower's tail (only: reading a snapshot opens one too), failing the first time."""

        async def __aenter__(self) -> StreamTail:
            if failures:
                raise failures.pop()
            return await super().__aenter__()

    monkeypatch.setattr(follower, "StreamTail", FailingOnce)
    monkeypatch.setattr(follower, "RETRY_PAUSE_S", 0.05)
    projector = ClassificationProjector(nats_url)
    await projector.start()
    try:
        await served_as_folded(nc)
        await until(lambda: not failures and projector.ready, "the tail opened on the second try", 10)
        assert projector.healthy
    finally:
        await projector.stop()


async def test_poison_message_is_dead_lettered_and_the_projector_goes_on(
    nats_url: str, nc: Client, ingest: IngestService
) -> None:
    projector = ClassificationProjector(nats_url)
    await projector.start()
    try:
        w = SessionWriter()
        stored = await send(nc, small_race(w, cars=2, laps=2))
        js = nc.jetstream()
        poison = await js.publish(f"chequered.events.{w.session.key}", b"\x00 not an event")
        stored += await send(nc, [w.lap("1", 3, 300_000)])
        live = await wait_for_classification(nc, w.session.key, stored[-1][0])
        assert live.cars[0].laps == 3
        letters = [item for _, item in await read_rejects(js) if isinstance(item, DeadLetter)]
        assert [(d.seq, d.projection) for d in letters] == [(poison.seq, "classification")]
        assert "undecodable" in letters[0].reason
        assert projector.dead_letters == 1
    finally:
        await projector.stop()


async def test_read_model_value_carries_its_checkpoint(nats_url: str, nc: Client, ingest: IngestService) -> None:
    projector = ClassificationProjector(nats_url)
    await projector.start()
    try:
        w = SessionWriter()
        stored = await send(nc, small_race(w, cars=2, laps=1))
        kv = await nc.jetstream().key_value("chequered_classification")
        await wait_for_classification(nc, w.session.key, stored[-1][0])
        entry = await kv.get(w.session.key)
        assert entry.value is not None
        raw = msgspec.json.decode(entry.value)
        assert raw["last_seq"] == stored[-1][0]
    finally:
        await projector.stop()


async def test_a_read_model_the_broker_cannot_take_is_dead_lettered_and_the_others_go_on(tmp_path: Path) -> None:
    """A classification larger than ``max_payload`` was taken for "broker restarting" and retried for ever:
    every session froze, SIGTERM was ignored, and a restart hit it again. Now it is said once (a dead letter,
    the unwritable gauge) and the projector goes on with the other sessions, and stops when asked."""
    with broker_with(tmp_path, "max_payload: 8192\n") as server:
        ingest, projector = IngestService(server.url), ClassificationProjector(server.url)
        await ingest.start()
        await projector.start()
        nc = await connect(server.url, "tests")
        try:
            crowded, small = SessionWriter(), SessionWriter()
            await send(nc, small_race(crowded, cars=60, laps=1))
            stored = await send(nc, small_race(small, cars=2, laps=2))
            await wait_for_classification(nc, small.session.key, stored[-1][0])
            [letter] = await wait_for_dead_letters(nc, "classification", 1)
            assert letter.subject == f"$KV.chequered_classification.{crowded.session.key}"
            assert "cannot be stored" in letter.reason and "the broker takes" in letter.reason
            assert crowded.session.key in projector.unwritable and projector.ready
            assert 'chequered_read_models_unwritable{projection="classification"} 1.0' in generate_latest().decode()
        finally:
            await nc.close()
            await asyncio.wait_for(projector.stop(), 30)  # it used to ignore being asked to stop
            await ingest.stop()
