"""Ingest against a real nats-server: acknowledgements, de-duplication, rejections, order."""

from __future__ import annotations

import dataclasses

import msgspec
import pytest
from nats.aio.client import Client
from nats.js.api import DiscardPolicy, StreamConfig

from schemas.events import (
    LapCorrected,
    ScoreboardCar,
    ScoreboardReason,
    ScoreboardReported,
    encode_event,
)
from schemas.ingest import Accepted, IngestReply, RejectCode, Rejected, RejectedEvent
from schemas.subjects import EVENTS_STREAM, REJECTS_STREAM, ingest_subject
from services.broker.reader import read_events
from services.broker.topology import Topology, TopologyConflict, ensure_topology
from services.ingest.client import Producer
from services.ingest.service import IngestService
from services.ops.rejects import read_rejects
from tests.factory import T0, SessionWriter


async def ask(nc: Client, subject: str, data: bytes) -> bytes:
    """A raw request to ingest, which answers from the moment ``start`` returns."""
    return (await nc.request(subject, data, timeout=5)).data


async def test_ingest_answers_the_first_request_sent_as_start_returns(nc: Client, nats_url: str) -> None:
    """nats-py's flush can come back before the server has seen the subscription made just before it: ingest said
    it was started and the first request got "no responders", sometimes. Two hundred starts in a row."""
    w = SessionWriter()
    for _ in range(200):
        ingest = IngestService(nats_url)
        await ingest.start()
        try:
            data = await ask(nc, ingest_subject(w.session), b"[1, 2")
            [reply] = msgspec.json.decode(data, type=list[IngestReply])
        finally:
            await ingest.stop()
        assert isinstance(reply, Rejected) and reply.code is RejectCode.MALFORMED


async def test_accepted_with_sequence_and_duplicate_answered_with_the_original(
    nc: Client, ingest: IngestService
) -> None:
    w = SessionWriter()
    producer = Producer(nc)
    first = await producer.send(w.opened())
    assert isinstance(first, Accepted) and not first.duplicate
    entry = w.entry("7")
    second = await producer.send(entry)
    assert isinstance(second, Accepted)
    again = await producer.send(entry)
    assert again == Accepted(seq=second.seq, duplicate=True)
    assert [seq for seq, _ in await read_events(nc.jetstream(), w.session.key)] == [first.seq, second.seq]


async def test_a_batch_is_stored_at_once_and_each_event_answered_with_its_own_sequence(
    nc: Client, ingest: IngestService
) -> None:
    """A request's events go to the stream as one atomic batch: stored contiguously, in order, each answered
    with its own sequence (the batch's acknowledgement gives the last and the count)."""
    w = SessionWriter()
    events = [w.opened(), w.entry("7"), w.lap("7", 1, 100_000), w.lap("7", 2, 200_000)]
    replies = await Producer(nc).send_batch(events)
    log = await read_events(nc.jetstream(), w.session.key)
    assert [e for _, e in log] == events
    assert replies == [Accepted(seq=seq) for seq, _ in log] and [seq for seq, _ in log] == [1, 2, 3, 4]


async def test_a_batch_holding_an_id_the_stream_has_is_answered_event_by_event(
    nc: Client, ingest: IngestService
) -> None:
    """Another writer stored one of the events (ingest's ledger never saw it): the stream turns the atomic batch
    down whole for that id, and ingest sends its events one by one, so the repeat is answered ``duplicate`` with
    the first sequence and the others are stored, in order: in the first answer, not after a retry."""
    w = SessionWriter()
    opened, entry, lap = w.opened(), w.entry("7"), w.lap("7", 1, 100_000)
    elsewhere = await nc.jetstream().publish(
        f"chequered.events.{w.session.key}", encode_event(entry), headers={"Nats-Msg-Id": entry.msg_id}
    )
    batch = b"[" + b",".join(encode_event(e) for e in (opened, entry, lap)) + b"]"
    replies = msgspec.json.decode(await ask(nc, ingest_subject(w.session), batch), type=list[IngestReply])
    log = await read_events(nc.jetstream(), w.session.key)
    assert [e for _, e in log] == [entry, opened, lap]
    assert replies == [Accepted(seq=log[1][0]), Accepted(seq=elsewhere.seq, duplicate=True), Accepted(seq=log[2][0])]


async def test_restarted_ingest_still_knows_what_it_stored(nats_url: str, nc: Client) -> None:
    w = SessionWriter()
    events = [w.opened(), w.entry("7"), w.lap("7", 1, 100_000), w.lap("7", 2, 200_000)]
    service = IngestService(nats_url)
    await service.start()
    replies = await Producer(nc).send_all(events)
    await service.stop()
    restarted = IngestService(nats_url)
    await restarted.start()
    try:
        producer = Producer(nc)
        assert await producer.send(events[2]) == Accepted(seq=replies[2].seq, duplicate=True)  # type: ignore[union-attr]
        late = await producer.send(w.lap("7", 2, 210_000))
        assert isinstance(late, Rejected) and late.code is RejectCode.LAP_OUT_OF_ORDER
    finally:
        await restarted.stop()


@pytest.mark.parametrize(
    ("make", "code", "words"),
    [
        (lambda w: w.lap("99", 1, 100_000), RejectCode.UNKNOWN_CAR, "car #99 is not registered"),
        (
            lambda w: w.lap("7", 1, 100_000),
            RejectCode.LAP_OUT_OF_ORDER,
            "lap 1 of car #7 does not follow its last lap 1",
        ),
        (lambda w: w.opened(), RejectCode.SESSION_ALREADY_OPENED, "already open"),
        (
            lambda w: w.event(LapCorrected(number="7", lap=2, lap_time_ms=90_000)),
            RejectCode.UNKNOWN_LAP,
            "car #7 has no lap 2 to correct",
        ),
        (
            lambda w: w.event(
                ScoreboardReported(source="t", reason=ScoreboardReason.FIRST, cars=[ScoreboardCar(number="99")])
            ),
            RejectCode.UNKNOWN_CAR,
            "cars #99 are not registered",
        ),
    ],
)
async def test_impossible_events_rejected_with_a_reason(nc: Client, ingest: IngestService, make, code, words) -> None:  # type: ignore[no-untyped-def]
    w = SessionWriter()
    await Producer(nc).send_all([w.opened(), w.entry("7"), w.lap("7", 1, 90_000)])
    reply = await Producer(nc).send(make(w))
    assert isinstance(reply, Rejected) and reply.code is code and words in reply.reason


async def test_laps_a_scoreboard_added_are_the_cars_and_later_laps_follow_them(
    nc: Client, ingest: IngestService
) -> None:
    w = SessionWriter()
    board = ScoreboardReported(
        source="t", reason=ScoreboardReason.GAP, cars=[ScoreboardCar(number="7", laps=5, last_crossing=T0 + 1)]
    )
    replies = await Producer(nc).send_all([w.opened(), w.entry("7"), w.lap("7", 1, 1), w.event(board, 2)])
    assert all(isinstance(reply, Accepted) for reply in replies)
    late, next_lap = await Producer(nc).send_all([w.lap("7", 5, 3), w.lap("7", 6, 4)])
    assert isinstance(late, Rejected) and late.code is RejectCode.LAP_OUT_OF_ORDER
    assert isinstance(next_lap, Accepted)


async def test_event_for_a_session_never_opened(nc: Client, ingest: IngestService) -> None:
    reply = await Producer(nc).send(SessionWriter().entry("7"))
    assert isinstance(reply, Rejected) and reply.code is RejectCode.SESSION_NOT_OPENED
    assert "publish a session_opened event first" in reply.reason


async def test_malformed_and_non_positive_lap_time_are_rejected_and_kept(nc: Client, ingest: IngestService) -> None:
    w = SessionWriter()
    await Producer(nc).send_all([w.opened(), w.entry("7")])
    subject = ingest_subject(w.session)
    garbage = await ask(nc, subject, b"{not json")
    bad_lap = encode_event(w.lap("7", 1, 100_000)).replace(b'"lap_time_ms":100000', b'"lap_time_ms":0')
    zero = await ask(nc, subject, bad_lap)
    from schemas.ingest import reply_decoder

    garbage_reply, zero_reply = reply_decoder.decode(garbage), reply_decoder.decode(zero)
    assert isinstance(garbage_reply, Rejected) and garbage_reply.code is RejectCode.MALFORMED
    assert isinstance(zero_reply, Rejected) and "lap_time_ms" in zero_reply.reason and ">= 1" in zero_reply.reason
    kept = [item for _, item in await read_rejects(nc.jetstream(), w.session.key)]
    assert [r.payload for r in kept if isinstance(r, RejectedEvent)] == ["{not json", bad_lap.decode()]
    assert not [
        e for _, e in await read_events(nc.jetstream(), w.session.key) if e.body.__class__.__name__ == "LapCompleted"
    ]


async def test_wrong_subject_rejected(nc: Client, ingest: IngestService) -> None:
    a, b = SessionWriter(), SessionWriter()
    reply = await ask(nc, ingest_subject(b.session), encode_event(a.opened()))
    from schemas.ingest import reply_decoder

    decoded = reply_decoder.decode(reply)
    assert isinstance(decoded, Rejected) and decoded.code is RejectCode.WRONG_SUBJECT


async def test_order_is_kept_with_many_requests_in_flight(nc: Client, ingest: IngestService) -> None:
    w = SessionWriter()
    events = [w.opened(), *[w.entry(str(n)) for n in range(1, 6)]]
    events += [w.lap(str(n), lap, lap * 100_000 + n) for lap in range(1, 41) for n in range(1, 6)]
    replies = await Producer(nc, window=64).send_all(events)
    assert all(isinstance(r, Accepted) and not r.duplicate for r in replies)
    seqs = [r.seq for r in replies]  # type: ignore[union-attr]
    assert seqs == sorted(seqs)
    assert [e.id for _, e in await read_events(nc.jetstream())] == [e.id for e in events]


async def test_topology_setup_is_idempotent_and_refuses_silent_rewrites(nc: Client) -> None:
    js = nc.jetstream()
    await ensure_topology(js)
    await ensure_topology(js)
    info = await js.stream_info(EVENTS_STREAM)
    await js.update_stream(StreamConfig(**{**info.config.as_dict(), "duplicate_window": 60.0}))  # type: ignore[arg-type]
    with pytest.raises(TopologyConflict, match="duplicate_window"):
        await ensure_topology(js)
    assert (await js.stream_info(EVENTS_STREAM)).config.duplicate_window == 60.0
    await ensure_topology(js, Topology(), update=True)
    assert (await js.stream_info(EVENTS_STREAM)).config.duplicate_window == 7200.0


async def test_the_rejects_stream_is_bounded_in_size_and_age(nc: Client) -> None:
    """No producer can fill the disk with garbage: the rejects stream keeps 1 GiB and 30 days, oldest out first.
    A rejects stream of an older chequered (no limits) is reported, and ``setup --update`` bounds it."""
    js = nc.jetstream()
    unbounded = Topology().streams()[1]
    await js.add_stream(dataclasses.replace(unbounded, max_bytes=None, max_age=None, discard=None))
    with pytest.raises(TopologyConflict, match="max_bytes: running -1, wanted 1073741824"):
        await ensure_topology(js)
    await ensure_topology(js, update=True)
    config = (await js.stream_info(REJECTS_STREAM)).config
    assert (config.max_bytes, config.max_age, config.discard) == (1024**3, 30 * 24 * 3600.0, DiscardPolicy.OLD)


async def test_the_same_id_with_other_content_is_a_conflict_kept_with_both_payloads(
    nc: Client, ingest: IngestService
) -> None:
    """It was answered "duplicate": a producer that reused an id for another event never learnt it was dropped."""
    w = SessionWriter()
    await Producer(nc).send_all([w.opened(), w.entry("7")])
    lap = w.lap("7", 1, 100_000)
    first = await Producer(nc).send(lap)
    assert isinstance(first, Accepted)
    assert await Producer(nc).send(lap) == Accepted(seq=first.seq, duplicate=True)
    changed = msgspec.structs.replace(lap, at=lap.at + 5)
    refused = await Producer(nc).send(changed)
    assert isinstance(refused, Rejected) and refused.code is RejectCode.CONFLICT
    assert f"stored at seq {first.seq} with other content" in refused.reason
    [kept] = [r for _, r in await read_rejects(nc.jetstream(), w.session.key) if isinstance(r, RejectedEvent)]
    assert kept.payload == encode_event(changed).decode() and kept.stored_payload == encode_event(lap).decode()
    assert kept.stored_seq == first.seq and kept.event_id == lap.id
    assert [e for _, e in await read_events(nc.jetstream(), w.session.key)][-1] == lap
