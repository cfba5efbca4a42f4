"""Ingest at its limits, against real nats-servers: events too large once stored, batches too large for a
message, a full disk. Acknowledged means stored, or an explicit refusal; no request stops ingest."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import msgspec
import pytest
from nats.aio.client import Client
from nats.errors import ConnectionClosedError
from nats.js.api import StorageType, StreamConfig

from schemas.events import Driver, EntryRegistered, Event, encode_event
from schemas.ingest import MAX_BATCH_EVENTS, Accepted, IngestReply, RejectCode, Rejected, RejectedEvent
from schemas.subjects import EVENTS_STREAM, ingest_subject
from services.broker.connection import connect
from services.broker.embedded import EmbeddedNats
from services.broker.publisher import AtomicBatch
from services.broker.reader import read_events
from services.broker.topology import Topology
from services.ingest.client import IngestUnavailable, Producer
from services.ingest.rules import stored_size
from services.ingest.service import IngestService
from services.ops.rejects import read_rejects
from tests.factory import SessionWriter, small_race
from tests.live import broker_with

MAX_PAYLOAD = 8192
_replies = msgspec.json.Decoder(list[IngestReply])
_reply = msgspec.json.Decoder(IngestReply)


async def stored_once_in_order(nc: Client, events: list[Event], replies: list[IngestReply]) -> None:
    """Every event stored once, in order, and each reply is its stream sequence."""
    stored = await read_events(nc.jetstream(), events[0].session.key)
    assert [e.id for _, e in stored] == [e.id for e in events]
    assert replies == [Accepted(seq=seq) for seq, _ in stored]


@pytest.fixture
def small_messages(tmp_path: Path) -> Iterator[EmbeddedNats]:
    """A server taking messages of at most 8 KiB: large events are easy to make, and still valid."""
    with broker_with(tmp_path, f"max_payload: {MAX_PAYLOAD}\n") as server:
        yield server


@pytest.fixture
async def stack(small_messages: EmbeddedNats) -> AsyncIterator[tuple[IngestService, Client]]:
    ingest = IngestService(small_messages.url)
    await ingest.start()
    nc = await connect(small_messages.url, "tests")
    try:
        yield ingest, nc
    finally:
        await nc.close()
        await ingest.stop()


def entry_of_size(w: SessionWriter, number: str, size: int, *, canonical: bool = True) -> tuple[Event, bytes]:
    """An entry whose encoding is ``size`` bytes: canonical (every default written, as ingest stores it), or as a
    producer may send it (the drivers' default category left out, which ingest writes back in). Its text is
    within the schema's bounds (characters, not bytes: four-byte characters make it large)."""
    texts = [""] * 12

    def build() -> tuple[Event, bytes]:
        crew = [Driver("D" + texts[i], nationality="N" + texts[4 + i]) for i in range(4)]
        body = EntryRegistered(
            number=number, class_name="C" + texts[8], team="T" + texts[9], car="c" + texts[10],
            manufacturer="M" + texts[11], crew=crew,
        )  # fmt: skip
        event = w.event(body, id=f"entry-{number}")
        data = encode_event(event)
        return event, data if canonical else data.replace(b',"category":"unrated"', b"")

    for i in range(len(texts)):
        wide, narrow = divmod(size - len(build()[1]), 4)
        if wide + narrow <= 199:
            texts[i] = "\U0001d538" * wide + "a" * narrow
            break
        texts[i] = "\U0001d538" * 199
    event, data = build()
    assert len(data) == size
    return event, data


async def ask(nc: Client, subject: str, data: bytes, timeout: float = 10) -> bytes:
    return (await nc.request(subject, data, timeout=timeout)).data


async def test_an_event_that_fits_the_request_but_not_the_stream_is_refused_and_ingest_keeps_answering(
    stack: tuple[IngestService, Client],
) -> None:
    """Ingest adds the ``Nats-Msg-Id`` header to what it stores: an event that fit the request but not
    ``max_payload`` with the header made the server close ingest's connection for good ("maximum payload
    exceeded"), while the process and its readiness stayed up and every producer got "no responders"."""
    ingest, nc = stack
    w = SessionWriter()
    assert all(isinstance(r, Accepted) for r in await Producer(nc).send_all([w.opened(), w.entry("1")]))
    event, data = entry_of_size(w, "7", MAX_PAYLOAD - 30)
    assert len(data) < MAX_PAYLOAD < stored_size(event.msg_id, data)
    reply = _reply.decode(await ask(nc, ingest_subject(w.session), data))
    assert isinstance(reply, Rejected) and reply.code is RejectCode.TOO_LARGE
    assert f"at most {MAX_PAYLOAD:,}" in reply.reason
    assert ingest.ready and not ingest.nc.is_closed
    assert isinstance(await Producer(nc).send(w.lap("1", 1, 100_000)), Accepted)


async def test_an_event_that_was_not_stored_is_never_acknowledged(stack: tuple[IngestService, Client]) -> None:
    """The ledger admitted an event before publishing it; when publishing raised (the event, with its defaults
    written back, larger than ``max_payload``), the retry was answered "accepted, duplicate, seq 0" with nothing
    stored, and the car's later laps were dead-lettered."""
    _, nc = stack
    w = SessionWriter()
    opened = w.opened()
    await Producer(nc).send_all([opened])
    event, sent = entry_of_size(w, "7", MAX_PAYLOAD - 40, canonical=False)
    assert len(encode_event(event)) > MAX_PAYLOAD  # as stored it does not fit
    for _ in range(2):  # and the retry is judged afresh
        reply = _reply.decode(await ask(nc, ingest_subject(w.session), sent))
        assert isinstance(reply, Rejected) and reply.code is RejectCode.TOO_LARGE
    assert [e.id for _, e in await read_events(nc.jetstream(), w.session.key)] == [opened.id]


async def test_a_batch_with_a_good_event_and_a_malformed_oversized_one_gets_a_reply_each(
    stack: tuple[IngestService, Client],
) -> None:
    """Such a batch was answered with a single non-array reply (the rejection, echoing the item, was too large to
    keep), although the good event was stored, and the good event's retry got "duplicate, seq 0"."""
    _, nc = stack
    w = SessionWriter()
    opened = w.opened()
    malformed = b'{"id":"x","' + b"y" * (MAX_PAYLOAD - 1000) + b'":1}'
    batch = b"[" + encode_event(opened) + b"," + malformed + b"]"
    assert len(batch) < MAX_PAYLOAD
    first, second = _replies.decode(await ask(nc, ingest_subject(w.session), batch))
    assert isinstance(first, Accepted) and first.seq > 0 and not first.duplicate
    assert isinstance(second, Rejected) and second.code is RejectCode.MALFORMED and len(second.reason) <= 300
    again = _replies.decode(await ask(nc, ingest_subject(w.session), batch))
    assert again == [Accepted(seq=first.seq, duplicate=True), second]
    kept = [r for _, r in await read_rejects(nc.jetstream(), w.session.key) if isinstance(r, RejectedEvent)]
    assert [r.payload.encode() for r in kept] == [malformed, malformed]


@pytest.mark.parametrize("batched", [False, True])
async def test_a_publish_that_fails_is_answered_unavailable_and_its_retry_is_stored(
    stack: tuple[IngestService, Client], monkeypatch: pytest.MonkeyPatch, batched: bool
) -> None:
    """Any exception on the way to the stream leaves nothing admitted: the retry is stored, with its sequence;
    for an event sent on its own, and for a request's events sent as one atomic batch."""
    ingest, nc = stack
    w = SessionWriter()
    assert ingest._publisher is not None
    owner, name = (AtomicBatch, "commit") if batched else (ingest._publisher, "publish")
    send = getattr(owner, name)
    calls = 0

    async def fails_once(*args, **kwargs):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        if calls == 2:
            raise ConnectionClosedError
        return await send(*args, **kwargs)

    monkeypatch.setattr(owner, name, fails_once)
    events = [w.opened(), w.entry("7"), w.entry("8"), w.lap("7", 1, 100_000)]
    replies = await Producer(nc, backoff=0, window=2 if batched else 1).send_all(events)
    assert calls > 2
    await stored_once_in_order(nc, events, replies)


async def test_the_producer_splits_a_batch_larger_than_a_message(stack: tuple[IngestService, Client]) -> None:
    """The producer sent its whole window as one request and crashed (MaxPayloadError) when it did not fit."""
    _, nc = stack
    w = SessionWriter()
    events = small_race(w, cars=10, laps=10)
    assert sum(len(encode_event(e)) for e in events) > 3 * MAX_PAYLOAD
    replies = await Producer(nc, window=500).send_all(events)
    await stored_once_in_order(nc, events, replies)


async def test_an_event_no_message_can_carry_is_refused_by_the_producer(stack: tuple[IngestService, Client]) -> None:
    _, nc = stack
    w = SessionWriter()
    too_big = w.event(EntryRegistered(number="7", class_name="Pro", team="T" * 200, car="c", manufacturer="m",
                                      crew=[Driver("d" * 200, nationality="n" * 200) for _ in range(4)]))  # fmt: skip
    assert len(encode_event(too_big)) > 0
    nc._max_payload = len(encode_event(too_big)) + 1  # as if the server took less than this event
    replies = await Producer(nc).send_all([w.opened(), too_big])
    assert isinstance(replies[0], Accepted)
    refused = replies[1]
    assert isinstance(refused, Rejected) and refused.code is RejectCode.TOO_LARGE and "not sent" in refused.reason


async def test_a_batch_ingest_cannot_read_gets_an_array_of_one_rejection(nc: Client, nats_url: str) -> None:
    ingest = IngestService(nats_url)
    await ingest.start()
    try:
        w = SessionWriter()
        subject = ingest_subject(w.session)
        for body in (b"[1, 2", b"[" + b",".join([b"{}"] * (MAX_BATCH_EVENTS + 1)) + b"]"):
            [reply] = _replies.decode(await ask(nc, subject, body))
            assert isinstance(reply, Rejected) and reply.code in (RejectCode.MALFORMED, RejectCode.TOO_LARGE)
        kept = [r for _, r in await read_rejects(nc.jetstream(), w.session.key) if isinstance(r, RejectedEvent)]
        assert [r.code for r in kept] == [RejectCode.MALFORMED, RejectCode.TOO_LARGE]
        assert kept[1].payload_bytes is None or kept[1].payload_bytes > len(kept[1].payload.encode())
    finally:
        await ingest.stop()


SMALL_REJECTS = Topology(rejects_max_bytes=1024 * 1024)
"""The rejects stream reserves its limit: a small one, for a small store."""


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[EmbeddedNats]:
    with broker_with(tmp_path, "jetstream { max_file_store: 4MB }\n") as server:
        yield server


async def test_a_full_disk_is_answered_storage_full_at_once_and_ingest_recovers_by_itself(
    small_disk: EmbeddedNats,
) -> None:
    """The store is filled by another stream (as a disk fills with something else), then emptied. Every event of
    a 256-event batch was answered 'unavailable' after waiting out a 5-second time-out in turn (nats-py never
    resolved the refusal), blocking every producer for minutes; now each is answered storage_full at once, and
    once there is room again the same events are stored, without restarting anything."""
    ingest = IngestService(small_disk.url, SMALL_REJECTS)
    await ingest.start()
    nc = await connect(small_disk.url, "tests")
    try:
        js = nc.jetstream()
        w = SessionWriter()
        race = small_race(w, cars=16, laps=16)[:256]
        assert isinstance(await Producer(nc).send(race[0]), Accepted)
        await js.add_stream(StreamConfig(name="FILLER", subjects=["filler.>"], storage=StorageType.FILE))
        with pytest.raises(Exception, match="insufficient resources"):
            while True:
                await js.publish("filler.x", b"x" * 100_000)
        batch = b"[" + b",".join(encode_event(e) for e in race[1:]) + b"]"
        replies = _replies.decode(await ask(nc, ingest_subject(w.session), batch, timeout=30))
        assert {r.code for r in replies if isinstance(r, Rejected)} == {RejectCode.STORAGE_FULL}
        assert len(replies) == len(race) - 1
        assert ingest.ready
        await js.delete_stream("FILLER")  # operations make room
        replies = await Producer(nc).send_all(race[1:])
        stored = await read_events(js, w.session.key)
        assert [e.id for _, e in stored] == [e.id for e in race]
        assert replies == [Accepted(seq=seq) for seq, _ in stored[1:]]
        assert (await js.stream_info(EVENTS_STREAM)).state.messages == len(race)
    finally:
        await nc.close()
        await ingest.stop()


async def test_a_producer_waiting_for_room_says_so(small_disk: EmbeddedNats) -> None:
    """The producer retries storage_full as it retries unavailable (nothing was stored), and says why it gave up."""
    ingest = IngestService(small_disk.url, SMALL_REJECTS)
    await ingest.start()
    nc = await connect(small_disk.url, "tests")
    try:
        js = nc.jetstream()
        await js.add_stream(StreamConfig(name="FILLER", subjects=["filler.>"], storage=StorageType.FILE))
        with pytest.raises(Exception, match="insufficient resources"):
            while True:
                await js.publish("filler.x", b"x" * 100_000)
        with pytest.raises(IngestUnavailable, match=r"1 events still not stored after 3 attempts \(storage_full: "):
            await Producer(nc, attempts=3, backoff=0.01).send(SessionWriter().opened())
    finally:
        await nc.close()
        await ingest.stop()
