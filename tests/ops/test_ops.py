"""Operations against a real nats-server: replay, rebuild, verify, time travel, export."""

from __future__ import annotations

import asyncio
import csv
import io

import msgspec
import pytest
from nats.aio.client import Client

from schemas.events import SessionRef
from schemas.results import decode_classification, encode_classification
from schemas.subjects import CLASSIFICATION_BUCKET, READ_MODELS_BUCKET
from services.broker.reader import read_events
from services.classification.projector import ClassificationProjector
from services.cli import main
from services.ingest.client import Producer
from services.ingest.service import IngestService
from services.ops.history import history, to_csv
from services.ops.instants import Span, parse_instant
from services.ops.pacing import schedule
from services.ops.rebuild import next_version, rebuild
from services.ops.replay import replay
from services.ops.verify import verify_all
from tests.classification.test_projector import offline
from tests.commands import chequered, output, said
from tests.factory import T0, SessionWriter, small_race
from tests.live import running, wait_for_classification
from tests.polling import until


@pytest.fixture
async def stack(nats_url: str):  # type: ignore[no-untyped-def]
    projector = ClassificationProjector(nats_url)
    async with running(IngestService(nats_url), projector):
        yield projector


async def test_a_log_replayed_twice_is_stored_once(nc: Client, stack: ClassificationProjector) -> None:
    w = SessionWriter()
    log = small_race(w, cars=3, laps=5)
    first = await replay(nc, log, speed=None)
    second = await replay(nc, log, speed=None)
    assert (first.accepted, first.skipped) == (len(log), 0)
    assert (second.accepted, second.skipped) == (0, len(log))
    stored = await read_events(nc.jetstream(), w.session.key)
    assert [e.id for _, e in stored] == [e.id for e in log]


async def test_interrupted_replay_resumes_without_gaps_or_duplicates(
    nc: Client, stack: ClassificationProjector
) -> None:
    w = SessionWriter()
    log = small_race(w, cars=4, laps=20)
    task = asyncio.create_task(replay(nc, log, speed=200.0, window=1))  # ~10 s of race time at 200x: 0.05 s a lap

    async def begun() -> bool:
        return bool(await read_events(nc.jetstream(), w.session.key))

    await until(begun, "the replay to store its first events")
    task.cancel()  # what Ctrl-C does
    with pytest.raises(asyncio.CancelledError):
        await task
    partial = await read_events(nc.jetstream(), w.session.key)
    assert 0 < len(partial) < len(log)
    report = await replay(nc, log, speed=None)
    assert report.skipped == len(partial) and report.duplicates == 0
    stored = await read_events(nc.jetstream(), w.session.key)
    assert [e.id for _, e in stored] == [e.id for e in log]


def test_paced_schedule_groups_events_of_an_instant() -> None:
    w = SessionWriter()
    events = [w.lap("1", 1, 0), w.lap("2", 1, 0), w.lap("1", 2, 10_000)]
    assert [(offset, len(group)) for offset, group in schedule(events, 10.0)] == [(0.0, 2), (1.0, 1)]
    assert [len(group) for _, group in schedule(events, None)] == [3]


async def test_rebuild_during_live_ingest_ends_equal_to_the_live_state(
    nats_url: str, nc: Client, stack: ClassificationProjector
) -> None:
    w = SessionWriter()
    log = small_race(w, cars=6, laps=30)
    producer = Producer(nc, window=8)
    await producer.send_all(log[:100])
    live_ingest = asyncio.create_task(producer.send_all(log[100:]))
    report = await rebuild(nc.jetstream(), "classification")
    replies = await live_ingest
    assert report.bucket == f"{CLASSIFICATION_BUCKET}_v2"
    pointer = await (await nc.jetstream().key_value(READ_MODELS_BUCKET)).get("classification")
    assert pointer.value == report.bucket.encode()
    stored = await read_events(nc.jetstream(), w.session.key)
    assert len(stored) == len(log) == 100 + len(replies)
    new = await nc.jetstream().key_value(report.bucket)
    for _ in range(200):
        entry = await new.get(w.session.key)
        assert entry.value is not None
        value = decode_classification(entry.value)
        if value.last_seq == stored[-1][0]:
            break
        await asyncio.sleep(0.05)
    assert encode_classification(value) == offline(stored, w.session.key)
    assert stack.bucket == report.bucket


def test_bucket_versions() -> None:
    assert next_version("b", "b") == "b_v2" and next_version("b_v2", "b") == "b_v3"
    assert next_version("b_v3", "b") == "b_v2" and next_version("b_v7", "b") == "b_v2"  # two rebuild buckets


async def test_verify_finds_an_injected_divergence_and_names_the_event(
    nc: Client, stack: ClassificationProjector
) -> None:
    w = SessionWriter()
    log = small_race(w, cars=3, laps=4)
    replies = await Producer(nc).send_all(log)
    await wait_for_classification(nc, w.session.key, replies[-1].seq)  # type: ignore[union-attr]
    assert not (await verify_all(nc.jetstream())).divergences
    await stack.stop()  # so it cannot mend what we break
    kv = await nc.jetstream().key_value(CLASSIFICATION_BUCKET)
    entry = await kv.get(w.session.key)
    assert entry.value is not None
    served = msgspec.json.decode(entry.value)
    row = next(c for c in served["cars"] if c["number"] == "2")
    row["laps"] = 99
    await kv.put(w.session.key, msgspec.json.encode(served))
    report = await verify_all(nc.jetstream())
    assert report.checked == 1 and len(report.divergences) == 1
    divergence = report.divergences[0]
    assert divergence.differences == ["car #2.laps: served 99, log says 4"]
    last_lap_of_2 = max(
        seq for seq, e in await read_events(nc.jetstream(), w.session.key) if getattr(e.body, "number", "") == "2"
    )
    assert divergence.seq == last_lap_of_2 and "LapCompleted" in divergence.event


async def test_verify_of_one_session_says_when_nothing_serves_it(
    nats_url: str, nc: Client, ingest: IngestService
) -> None:
    """A session the log holds but no read model serves (no projector here) diverges: exit 1, and why. A key the
    log holds nothing of is said, exit 2: a key mistyped read "ok: 0 read model(s) checked"."""
    w = SessionWriter(session=SessionRef("verify", "unserved", "race"))
    await Producer(nc).send_all(small_race(w, cars=2, laps=2))
    stored = await read_events(nc.jetstream(), w.session.key)
    verified = chequered("verify", "--session", w.session.key, "--nats", nats_url)
    told = said(verified.stdout)
    assert verified.returncode == 1 and f"{w.session.key} diverges" in told, output(verified)
    assert f"no read model is served, while the log holds {len(stored)} events of it" in told, output(verified)
    mistyped = "verify.unserved.rase"
    refused = chequered("verify", "--session", mistyped, "--nats", nats_url)
    reason = f"error: the log holds no event of session {mistyped}, and no read model of it is served"
    assert refused.returncode == 2 and reason in said(refused.stdout), output(refused)


def test_at_and_export_commands(nats_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    w = SessionWriter()
    log = small_race(w, cars=3, laps=6)

    async def load() -> None:
        ingest = IngestService(nats_url)
        await ingest.start()
        from services.broker.connection import connect

        nc = await connect(nats_url, "t")
        await Producer(nc).send_all(log)
        await nc.close()
        await ingest.stop()

    asyncio.run(load())
    assert main(["at", w.session.key, "--time", "0:05:00", "--nats", nats_url]) == 0
    assert main(["at", w.session.key, "--seq", "8", "--nats", nats_url]) == 0
    assert main(["at", "no.such.session", "--seq", "8", "--nats", nats_url]) == 2
    out = tmp_path / "history.csv"
    assert main(["export", w.session.key, "--out", str(out), "--nats", nats_url]) == 0
    rows = list(csv.DictReader(out.open()))
    assert rows[-1]["laps"] == "6" and {r["number"] for r in rows} == {"1", "2", "3"}


def test_history_emits_a_change_only_when_the_order_changes() -> None:
    w = SessionWriter()
    log = small_race(w, cars=2, laps=2)
    changes = list(history(enumerate(log, start=1), w.session.key))
    assert [c.cars[0].laps for c in changes] == [0, 0, 1, 1, 2, 2]
    assert [c.seq for c in changes[:2]] == [2, 3]  # each entry; the green flag changes no order
    text = "".join(to_csv(changes))
    assert len(list(csv.reader(io.StringIO(text)))) == 1 + sum(len(c.cars) for c in changes)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("6h", T0 + 6 * 3_600_000),
        ("6:00:00", T0 + 6 * 3_600_000),
        ("1h30m", T0 + 5_400_000),
        ("90min", T0 + 5_400_000),
        ("0:00:01.5", T0 + 1500),
        ("-487900800000", -487_900_800_000),
        ("1954-07-17T14:00:00+01:00", -487_854_000_000),
    ],
)
def test_session_times(text: str, expected: int) -> None:
    """Session time after the green, or an instant: epoch milliseconds are signed (1954 is before 1970)."""
    assert parse_instant(text, T0) == expected


def test_instants_need_a_zone_or_a_start() -> None:
    assert parse_instant("2026-04-19T15:00:00+02:00", None) == T0
    with pytest.raises(ValueError, match="time zone"):
        parse_instant("2026-04-19T15:00:00", None)
    with pytest.raises(ValueError, match="not started"):
        parse_instant("6h", None)


def test_a_moment_beyond_the_session_is_named_not_answered_with_its_latest_state() -> None:
    w = SessionWriter()
    span = Span.of(list(enumerate(small_race(w, cars=2, laps=3), start=5)))
    assert (span.first_seq, span.last_seq, span.started_at) == (5, 14, T0)
    assert span.outside(14, None) is None and span.outside(None, T0 + 300_137) is None
    assert span.outside(15, None) == "seq 15 is beyond the session's latest event"
    assert span.outside(4, None) == "seq 4 is before the session's first event"
    beyond = span.outside(None, T0 + 6 * 3_600_000)
    assert beyond == "2026-04-19T19:00:00Z (6:00:00 after the green) is beyond the session's latest event"
    assert span.describe() == (
        "its events run from seq 5 to 14, 2026-04-19T13:00:00Z (0:00:00 after the green) to "
        "2026-04-19T13:05:00Z (0:05:00 after the green)"
    )
