"""Access control: each role can do its job and nothing else (deploy/nats/accounts.conf)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import msgspec
import nats
import pytest
from nats.aio.client import Client
from nats.errors import Error as NatsError

from schemas.events import encode_event
from schemas.ingest import Accepted, RejectCode, RejectedEvent
from services.broker.embedded import EmbeddedNats
from services.broker.topology import CLASSIFICATION_BUCKET
from services.classification.projector import ClassificationProjector
from services.ingest.client import Producer
from services.ingest.service import IngestService
from tests.factory import SessionWriter, small_race
from tests.live import wait_for_classification

CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "nats" / "accounts.conf"
ROLES = ("services", "timing", "racecontrol", "graphics", "operations", "system")
MY_EVENT = SessionWriter().session  # the timing user's event


def password(role: str) -> str:
    return f"test-{role}-secret"


@pytest.fixture
def secured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[EmbeddedNats]:
    for role in ROLES:
        monkeypatch.setenv(f"CHEQUERED_{role.upper()}_PASSWORD", password(role))
    monkeypatch.setenv("CHEQUERED_EVENT_INGEST", f"chequered.ingest.{MY_EVENT.championship}.{MY_EVENT.event}.>")
    monkeypatch.setenv("CHEQUERED_EVENT_REJECTS", f"chequered.rejects.{MY_EVENT.championship}.{MY_EVENT.event}.>")
    server = EmbeddedNats(tmp_path / "nats", config=CONFIG)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def url(server: EmbeddedNats, role: str) -> str:
    return f"nats://{role}:{password(role)}@127.0.0.1:{server.port}"


class Violations:
    def __init__(self) -> None:
        self.seen: list[str] = []

    async def record(self, error: Exception) -> None:
        self.seen.append(str(error))

    async def wait_for(self, words: str) -> None:
        for _ in range(100):
            if any(words in s for s in self.seen):
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"no permissions violation mentioning {words!r}: {self.seen}")


async def as_role(server: EmbeddedNats, role: str, violations: Violations) -> Client:
    return await nats.connect(url(server, role), error_cb=violations.record, allow_reconnect=False)


@pytest.fixture
async def stack(secured: EmbeddedNats) -> AsyncIterator[EmbeddedNats]:
    ingest, projector = IngestService(url(secured, "services")), ClassificationProjector(url(secured, "services"))
    await ingest.start()
    await projector.start()
    yield secured
    await projector.stop()
    await ingest.stop()


async def test_timing_writes_through_ingest_for_its_event_only(stack: EmbeddedNats) -> None:
    violations = Violations()
    nc = await as_role(stack, "timing", violations)
    try:
        w = SessionWriter(session=MY_EVENT)
        replies = await Producer(nc).send_all(small_race(w, cars=2, laps=1))
        assert all(isinstance(r, Accepted) for r in replies)
        other = SessionWriter()  # another championship's event
        await nc.publish(f"chequered.ingest.{other.session.key}", encode_event(other.opened()))
        await violations.wait_for(f"chequered.ingest.{other.session.key}")
        await nc.publish(f"chequered.events.{MY_EVENT.key}", encode_event(w.lap("1", 2, 200_000)))
        await violations.wait_for(f"chequered.events.{MY_EVENT.key}")
        with pytest.raises(NatsError):  # no JetStream API at all
            await nc.jetstream(timeout=0.5).stream_info("CHEQUERED_EVENTS")
    finally:
        await nc.close()


async def test_timing_stores_what_its_feed_kept_aside_for_its_event_only(stack: EmbeddedNats) -> None:
    violations = Violations()
    nc = await as_role(stack, "timing", violations)
    try:
        kept = RejectedEvent(subject="feed", code=RejectCode.OUT_OF_BOUNDS, reason="absurd", payload="$J", line=7)
        ack = await nc.jetstream().publish(f"chequered.rejects.{MY_EVENT.key}", msgspec.json.encode(kept))
        assert ack.stream == "CHEQUERED_REJECTS"
        other = SessionWriter().session
        await nc.publish(f"chequered.rejects.{other.key}", msgspec.json.encode(kept))
        await violations.wait_for(f"chequered.rejects.{other.key}")
    finally:
        await nc.close()


async def test_graphics_reads_read_models_and_cannot_write(stack: EmbeddedNats) -> None:
    services = await nats.connect(url(stack, "services"))
    w = SessionWriter(session=MY_EVENT)
    replies = await Producer(services).send_all(small_race(w, cars=2, laps=2))
    await wait_for_classification(services, MY_EVENT.key, replies[-1].seq)  # type: ignore[union-attr]
    await services.close()

    violations = Violations()
    nc = await as_role(stack, "graphics", violations)
    try:
        kv = await nc.jetstream(timeout=0.5).key_value(CLASSIFICATION_BUCKET)
        assert (await kv.get(MY_EVENT.key)).value
        watcher = await kv.watch(MY_EVENT.key)
        assert (await watcher.updates(timeout=5)).value  # type: ignore[no-untyped-call]
        await watcher.stop()  # type: ignore[no-untyped-call]
        with pytest.raises(NatsError):
            await kv.put(MY_EVENT.key, b"{}")
        await nc.publish(f"chequered.ingest.{MY_EVENT.key}", encode_event(w.lap("1", 3, 300_000)))
        await violations.wait_for("chequered.ingest")
        with pytest.raises(NatsError):
            await nc.jetstream(timeout=0.5).purge_stream("CHEQUERED_EVENTS")
        with pytest.raises(NatsError):
            await nc.jetstream(timeout=0.5).delete_key_value(CLASSIFICATION_BUCKET)
    finally:
        await nc.close()


async def test_operations_may_replay_and_rebuild(stack: EmbeddedNats) -> None:
    from services.ops.rebuild import rebuild
    from services.ops.replay import replay

    nc = await nats.connect(url(stack, "operations"))
    try:
        w = SessionWriter()
        report = await replay(nc, small_race(w, cars=2, laps=2), speed=None)
        assert report.accepted > 0 and report.rejected == 0
        result = await rebuild(nc.jetstream(), "classification")
        assert result.sessions >= 1
    finally:
        await nc.close()


def test_no_password_in_the_config() -> None:
    text = CONFIG.read_text()
    assert "password: $CHEQUERED_" in text and "secret" not in text.lower()
