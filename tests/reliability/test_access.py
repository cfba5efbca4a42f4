"""Access control: each role can do its job and nothing else (deploy/nats/accounts.conf)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import msgspec
import nats
import pytest
from nats.aio.client import Client
from nats.errors import Error as NatsError

from schemas.events import SessionRef, encode_event
from schemas.ingest import Accepted, RejectCode, RejectedEvent
from schemas.subjects import (
    CLASSIFICATION_BUCKET,
    CLASSIFICATION_PROJECTION,
    EVENTS_STREAM,
    READ_MODELS_BUCKET,
    REJECTS_STREAM,
    STANDINGS_BUCKET,
    partition_of,
)
from services.broker.connection import connect, inbox_prefix
from services.broker.embedded import EmbeddedNats, free_port, nats_server_binary, wait_for_port
from services.broker.reader import read_events
from services.broker.topology import current_bucket, ensure_topology
from services.classification.projector import ClassificationProjector
from services.ingest.client import Producer
from services.ingest.service import IngestService
from services.ops.rejects import read_rejects
from tests.factory import SessionWriter, small_race
from tests.live import running, wait_for_classification
from tests.polling import until
from tests.reliability.processes import CHEQUERED, ROOT, run_chequered
from tests.reliability.roles import MY_EVENT, role_environment
from tests.reliability.roles import role_url as url

CONFIG = ROOT / "deploy" / "nats" / "accounts.conf"
REQUIRE_PASSWORDS = ROOT / "deploy" / "nats" / "require-passwords.sh"


@pytest.fixture
def secured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[EmbeddedNats]:
    for name, value in role_environment().items():
        monkeypatch.setenv(name, value)
    server = EmbeddedNats(tmp_path / "nats", config=CONFIG)
    server.start()
    try:
        yield server
    finally:
        server.stop()


class Violations:
    def __init__(self) -> None:
        self.seen: list[str] = []

    async def record(self, error: Exception) -> None:
        self.seen.append(str(error))

    async def wait_for(self, words: str) -> None:
        seen = lambda: any(words.lower() in s.lower() for s in self.seen)  # noqa: E731
        await until(seen, lambda: f"a permissions violation mentioning {words!r}: {self.seen}", 2)


async def as_role(server: EmbeddedNats, role: str, violations: Violations) -> Client:
    """Connected as ``role``, with the inbox prefix chequered's clients use for it."""
    address = url(server, role)
    return await nats.connect(
        address, error_cb=violations.record, allow_reconnect=False, inbox_prefix=inbox_prefix(address)
    )


@pytest.fixture
async def stack(secured: EmbeddedNats) -> AsyncIterator[EmbeddedNats]:
    async with running(IngestService(url(secured, "services")), ClassificationProjector(url(secured, "services"))):
        yield secured


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
    """``chequered feed`` stores the lines it keeps aside in its event's rejects, where operations look."""
    violations = Violations()
    nc = await as_role(stack, "timing", violations)
    try:
        kept = RejectedEvent(subject="feed", code=RejectCode.OUT_OF_BOUNDS, reason="absurd", payload="$J", line=7)
        ack = await nc.jetstream().publish(f"chequered.rejects.{MY_EVENT.key}", msgspec.json.encode(kept))
        assert ack.stream == REJECTS_STREAM
        other = SessionWriter().session
        await nc.publish(f"chequered.rejects.{other.key}", msgspec.json.encode(kept))
        await violations.wait_for(f"chequered.rejects.{other.key}")
    finally:
        await nc.close()


@pytest.mark.parametrize("inboxes", ["_INBOX.>", "_INBOX.racecontrol.>", "_INBOX.services.>"])
async def test_no_role_reads_the_inboxes_of_another(stack: EmbeddedNats, inboxes: str) -> None:
    """A timing user subscribing to every inbox read every other producer's requests and replies."""
    violations = Violations()
    nc = await as_role(stack, "timing", violations)
    try:
        await nc.subscribe(inboxes)
        await violations.wait_for(f'subscription to "{inboxes}"')
    finally:
        await nc.close()


async def test_a_reply_subject_that_is_not_an_inbox_is_refused_and_kept(stack: EmbeddedNats) -> None:
    """Ingest used to answer, with its own rights, on whatever subject the requester set as its reply: a timing
    user could write into any session's log, any KV bucket, or the read models' pointer (which then stopped the
    classification projector from starting). Now ingest answers only to inboxes; the rest is refused and kept."""
    nc = await as_role(stack, "timing", Violations())
    services = await nats.connect(url(stack, "services"), inbox_prefix=inbox_prefix(url(stack, "services")))
    try:
        w = SessionWriter(session=MY_EVENT)
        other = SessionWriter()
        hostile = {
            f"$KV.{READ_MODELS_BUCKET}.{CLASSIFICATION_PROJECTION}": encode_event(w.opened()),
            f"chequered.events.{other.session.key}": encode_event(w.entry("7")),
            f"$KV.{STANDINGS_BUCKET}.{MY_EVENT.championship}": b"[" + encode_event(w.lap("7", 1, 1000)) + b"]",
        }
        for reply, body in hostile.items():
            await nc.publish(f"chequered.ingest.{MY_EVENT.key}", body, reply=reply)
        await nc.flush()
        js = services.jetstream()
        kept: list[RejectedEvent] = []

        async def all_kept() -> bool:
            kept[:] = [r for _, r in await read_rejects(js, MY_EVENT.key) if isinstance(r, RejectedEvent)]
            return len(kept) == len(hostile)

        await until(all_kept, f"{len(hostile)} hostile requests kept", 10)
        assert {r.code for r in kept} == {RejectCode.REPLY_NOT_INBOX}
        assert all(reply in r.reason for r, reply in zip(kept, hostile, strict=True))
        assert await read_events(js) == []  # nothing of those requests was stored, nothing was written
        assert (await js.stream_info(EVENTS_STREAM)).state.messages == 0
        assert (await js.stream_info(f"KV_{STANDINGS_BUCKET}")).state.messages == 0
        assert await current_bucket(js, CLASSIFICATION_PROJECTION, CLASSIFICATION_BUCKET) == CLASSIFICATION_BUCKET
        restarted = ClassificationProjector(url(stack, "services"))
        await restarted.start()
        await restarted.stop()
    finally:
        await nc.close()
        await services.close()


async def test_graphics_reads_read_models_and_cannot_write(stack: EmbeddedNats) -> None:
    services = await nats.connect(url(stack, "services"), inbox_prefix=inbox_prefix(url(stack, "services")))
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
        update = await watcher.updates(timeout=5)  # type: ignore[no-untyped-call]
        if update is None:  # nats-py can queue its "initial values sent" marker before the value it counted
            update = await watcher.updates(timeout=5)  # type: ignore[no-untyped-call]
        assert update.value
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


@pytest.mark.slow
async def test_operations_replays_rebuilds_verifies_records_and_reads_rejects(
    stack: EmbeddedNats, tmp_path: Path
) -> None:
    """The commands operations run, as the operations user: each does its whole job (a rebuild by two worker
    processes too, each connecting as the operations user)."""
    w = SessionWriter(session=MY_EVENT)
    log = tmp_path / "race.jsonl"
    log.write_text("\n".join(encode_event(e).decode() for e in small_race(w, cars=2, laps=2)) + "\n")
    ops = ("--nats", url(stack, "operations"))
    replayed = await run_chequered("replay", str(log), "--max", *ops)
    assert replayed.returncode == 0 and "8 accepted" in replayed.stdout, replayed.stdout + replayed.stderr
    other = next(  # a session in another partition: the rebuild's two workers each have one
        session
        for name in ("qualifying", "practice", "warmup", "sprint")
        if partition_of((session := SessionRef(MY_EVENT.championship, MY_EVENT.event, name)).key)
        != partition_of(MY_EVENT.key)
    )
    other_log = tmp_path / "other.jsonl"
    other_log.write_text(
        "\n".join(encode_event(e).decode() for e in small_race(SessionWriter(session=other), cars=2, laps=2)) + "\n"
    )
    replayed = await run_chequered("replay", str(other_log), "--max", *ops)
    assert replayed.returncode == 0 and "8 accepted" in replayed.stdout, replayed.stdout + replayed.stderr
    for bucket, workers in (("_v2", "1"), ("_v3", "2"), ("_v2", "1")):  # the two rebuild buckets, in turn
        rebuilt = await run_chequered("rebuild", "classification", "--workers", workers, *ops)
        assert rebuilt.returncode == 0 and f"readers now use {CLASSIFICATION_BUCKET}{bucket}" in rebuilt.stdout, (
            rebuilt.stdout + rebuilt.stderr
        )
        assert ("by 2 processes" in rebuilt.stdout) == (workers == "2"), rebuilt.stdout
    verified = await run_chequered("verify", *ops)
    assert verified.returncode == 0 and "2 read model(s) checked" in verified.stdout, verified.stdout
    recorded = await run_chequered("record", MY_EVENT.key, "--out", str(tmp_path / "copy.jsonl"), *ops)
    assert recorded.returncode == 0 and (tmp_path / "copy.jsonl").read_text() == log.read_text()
    rejects = await run_chequered("rejects", *ops)
    assert rejects.returncode == 0 and "rejections and dead letters (0" in rejects.stdout, rejects.stdout


async def test_race_control_publishes_checked_where_it_may_read_the_log_and_unchecked_where_not(
    stack: EmbeddedNats,
) -> None:
    """``publish`` judges an input against the session's log: as operations (who may read it) a lap the car does not
    have is refused; as racecontrol (who may only write through ingest) it says it cannot read the log and sends
    the input unchecked, and ingest stores what it accepts."""
    w = SessionWriter(session=MY_EVENT)
    nc = await connect(url(stack, "services"), "tests")
    try:
        await Producer(nc).send_all(small_race(w, cars=2, laps=2))
    finally:
        await nc.close()
    checked = await run_chequered(
        "publish", MY_EVENT.key, "delete-lap", "1", "D1", "9", "--nats", url(stack, "operations")
    )
    assert checked.returncode == 1 and "car #1 has no lap 9" in checked.stdout, checked.stdout + checked.stderr
    unchecked = await run_chequered(
        "publish", MY_EVENT.key, "retire", "2", "--at", "1776603700000", "--nats", url(stack, "racecontrol")
    )
    assert unchecked.returncode == 0 and "sent unchecked" in unchecked.stdout, unchecked.stdout + unchecked.stderr
    assert "Traceback" not in unchecked.stdout + unchecked.stderr


async def test_operations_cannot_touch_the_log_the_standings_or_the_live_bucket(stack: EmbeddedNats) -> None:
    violations = Violations()
    nc = await as_role(stack, "operations", violations)
    js = nc.jetstream(timeout=0.5)
    try:
        for stream in (EVENTS_STREAM, REJECTS_STREAM, f"KV_{READ_MODELS_BUCKET}", f"KV_{CLASSIFICATION_BUCKET}"):
            with pytest.raises(NatsError):
                await js.delete_stream(stream)
            with pytest.raises(NatsError):
                await js.purge_stream(stream)
        for bucket in (CLASSIFICATION_BUCKET, STANDINGS_BUCKET):
            with pytest.raises(NatsError):
                await (await js.key_value(bucket)).put(MY_EVENT.key, b"{}")
        with pytest.raises(NatsError):
            await (await js.key_value(READ_MODELS_BUCKET)).put("standings", b"elsewhere")
        info = await js.stream_info(EVENTS_STREAM)
        info.config.max_age = 1
        with pytest.raises(NatsError):
            await js.update_stream(info.config)
        await nc.publish(f"chequered.events.{MY_EVENT.key}", b"{}")
        await violations.wait_for("chequered.events")
    finally:
        await nc.close()


async def test_a_rebuild_whose_role_may_not_take_its_lock_says_which_permission_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A deployment whose accounts.conf predates the rebuild's lock: the operations user's rebuild stops before it
    touches anything and names the subject to allow."""
    lock = f'"$KV.{READ_MODELS_BUCKET}.{CLASSIFICATION_PROJECTION}.rebuild"'
    text = CONFIG.read_text()
    assert lock in text
    older = tmp_path / "accounts.conf"
    older.write_text(text.replace(f",\n          {lock}", ""))
    assert lock not in older.read_text()
    for name, value in role_environment().items():
        monkeypatch.setenv(name, value)
    with EmbeddedNats(tmp_path / "nats", config=older) as server:
        nc = await connect(url(server, "services"), "test")
        try:
            await ensure_topology(nc.jetstream())
        finally:
            await nc.close()
        refused = await run_chequered("rebuild", "classification", "--nats", url(server, "operations"))
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert (
        "could not be taken" in refused.stdout
        and f"the user needs to publish to $KV.{READ_MODELS_BUCKET}.{CLASSIFICATION_PROJECTION}.rebuild"
        in refused.stdout
        and "nothing was switched" in refused.stdout
    ), refused.stdout + refused.stderr


def test_no_password_in_the_config() -> None:
    text = CONFIG.read_text()
    assert "password: $CHEQUERED_" in text and "secret" not in text.lower()


@pytest.mark.parametrize("role", ["timing", "services"])
def test_an_empty_password_is_refused_like_an_unset_one(tmp_path: Path, role: str) -> None:
    """nats-server refuses a password variable that is not set but took an empty one, and then anyone could log
    in as that role without a password. The deployments start it through require-passwords.sh, which refuses
    both; chequered's own clients refuse an empty password in a URL."""
    port = free_port()
    args = ["sh", str(REQUIRE_PASSWORDS), "-c", str(CONFIG), "-js", "-a", "127.0.0.1", "-p", str(port)]
    env = {**os.environ, **role_environment(), "NATS_SERVER": str(nats_server_binary())}
    variable = f"CHEQUERED_{role.upper()}_PASSWORD"
    for missing in ({**env, variable: ""}, {k: v for k, v in env.items() if k != variable}):
        refused = subprocess.run([*args, "-sd", str(tmp_path / "a")], env=missing, capture_output=True, text=True)
        assert refused.returncode == 78 and variable in refused.stderr, refused.stderr
    with subprocess.Popen([*args, "-sd", str(tmp_path / "b")], env=env, stderr=subprocess.DEVNULL) as server:
        try:
            wait_for_port(port, 10, server)  # every password set: the server runs
        finally:
            server.terminate()
    address = f"nats://{role}:@127.0.0.1:{port}"
    client = subprocess.run([str(CHEQUERED), "rejects", "--nats", address], capture_output=True, text=True, env=env)
    assert client.returncode == 2 and f"password of user '{role}' is empty" in client.stdout, client.stdout
