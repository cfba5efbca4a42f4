"""The bulk reader (services/broker/bulkread.py): every message of its filters, in order, to the head; a lost
message or connection read again from a new consumer; the server held back while the reader is behind; no consumer
left on the stream."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext

from schemas.subjects import EVENTS_STREAM
from services.broker import bulkread
from services.broker.bulkread import StoredMsg, read_to_head
from services.broker.topology import ensure_topology

ONE = "chequered.events.c.e.one"
TWO = "chequered.events.c.e.two"


async def stored(js: JetStreamContext, count: int, size: int = 64) -> dict[str, list[int]]:
    """``count`` messages, alternately on two sessions' subjects; their sequences by subject."""
    await ensure_topology(js)
    seqs: dict[str, list[int]] = {ONE: [], TWO: []}
    for start in range(0, count, 500):
        subjects = [ONE if i % 2 else TWO for i in range(start, min(count, start + 500))]
        futures = [
            await js.publish_async(s, b"x" * size, headers={"Nats-Msg-Id": f"{s}-{i}"})
            for i, s in enumerate(subjects, start)
        ]
        for subject, ack in zip(subjects, await asyncio.gather(*futures), strict=True):
            seqs[subject].append(ack.seq)
    return seqs


async def read(js: JetStreamContext, filters: list[str], start_seq: int = 1, max_size: int = 5000) -> list[StoredMsg]:
    return [m async for batch in read_to_head(js, filters, start_seq=start_seq, max_size=max_size) for m in batch]


async def consumers(js: JetStreamContext) -> int:
    return (await js.stream_info(EVENTS_STREAM)).state.consumer_count


async def test_every_message_of_the_filters_in_order_to_the_head(nc: Client) -> None:
    js = nc.jetstream()
    seqs = await stored(js, 3000)

    whole = await read(js, ["chequered.events.>"], max_size=700)
    assert [m.seq for m in whole] == sorted(seqs[ONE] + seqs[TWO])
    assert whole[-1].pending == 0 and whole[0].data == b"x" * 64
    one, two = f"{ONE}.*", f"{TWO}.*"  # as stored: in their partitions
    assert [m.seq for m in await read(js, [one])] == seqs[ONE]
    assert [m.seq for m in await read(js, [two, one])] == sorted(seqs[ONE] + seqs[TWO])
    assert {m.subject.rpartition(".")[0] for m in await read(js, [one])} == {ONE}
    later = seqs[ONE][1000]
    assert [m.seq for m in await read(js, [one], start_seq=later)] == seqs[ONE][1000:]
    assert await read(js, ["chequered.events.c.e.none.*"]) == []
    assert await read(js, [one], start_seq=max(seqs[ONE] + seqs[TWO]) + 1) == []
    assert await consumers(js) == 0


async def test_a_reader_that_stops_early_leaves_no_consumer(nc: Client) -> None:
    js = nc.jetstream()
    await stored(js, 2000)
    reading = read_to_head(js, ["chequered.events.>"], max_size=10)
    async with contextlib.aclosing(reading):
        async for _ in reading:
            break
    assert await consumers(js) == 0


@pytest.mark.parametrize("fault", ["message lost", "connection lost", "unreadable frame"])
async def test_a_lost_message_or_connection_is_read_again_from_a_new_consumer(
    nc: Client, monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    js = nc.jetstream()
    seqs = await stored(js, 3000)
    deliver = bulkread._Delivery._message
    seen = 0

    def faulty(self: bulkread._Delivery, *frame: bytes | bytearray) -> None:
        nonlocal seen
        seen += 1
        if seen == 1200:  # once: the message never reaches the reader, or the connection goes with it
            if fault == "unreadable frame":
                raise ValueError("invalid literal for int() with base 10: b'x'")
            if fault == "connection lost":
                assert self.transport is not None
                self.transport.abort()
            return
        deliver(self, *frame)  # type: ignore[arg-type]

    monkeypatch.setattr(bulkread._Delivery, "_message", faulty)
    whole = await read(js, ["chequered.events.>"], max_size=100)

    assert [m.seq for m in whole] == sorted(seqs[ONE] + seqs[TWO])
    assert await consumers(js) == 0


async def test_the_server_waits_while_the_reader_is_behind(nc: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    """Flow control is answered only while fewer than HIGH_WATER messages wait: a slow reader holds the server to
    its window (it doubles with each answer, up to the server's limit) instead of taking the whole stream into
    memory as fast as the server sends it."""
    monkeypatch.setattr(bulkread, "HIGH_WATER", 100)
    js = nc.jetstream()
    seqs = await stored(js, 6000, size=2048)
    requested: list[int] = []
    answered: list[int] = []
    deliver, write = bulkread._Delivery._message, bulkread._Delivery.write

    def watched(self: bulkread._Delivery, subject: bytes, reply: bytes, frame: bytes, *ends: int) -> None:
        if reply and not reply.startswith(b"$JS.ACK."):
            requested.append(len(self.messages))
        deliver(self, subject, reply, frame, *ends)

    def answering(self: bulkread._Delivery, data: bytes) -> None:
        if data.startswith(b"PUB "):
            answered.append(len(self.messages))
        write(self, data)

    monkeypatch.setattr(bulkread._Delivery, "_message", watched)
    monkeypatch.setattr(bulkread._Delivery, "write", answering)
    got: list[int] = []
    async for batch in read_to_head(js, ["chequered.events.>"], max_size=20):
        got += [m.seq for m in batch]
        await asyncio.sleep(0.001)

    assert got == sorted(seqs[ONE] + seqs[TWO])
    assert any(waiting >= 100 for waiting in requested), f"the reader was never behind: {requested}"
    assert answered and max(answered) < 100, f"flow control answered with {answered} waiting"


async def test_a_connection_refused_is_tried_again_then_said(nc: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    js = nc.jetstream()
    seqs = await stored(js, 100)
    opened = bulkread._open
    refusals = 1

    async def refusing(client: Client, inbox: str) -> bulkread._Delivery:
        nonlocal refusals
        if refusals:
            refusals -= 1
            raise ConnectionRefusedError("the broker is restarting")
        return await opened(client, inbox)

    monkeypatch.setattr(bulkread, "_open", refusing)
    monkeypatch.setattr(bulkread, "RETRY_PAUSE_S", 0.01)
    assert [m.seq for m in await read(js, ["chequered.events.>"])] == sorted(seqs[ONE] + seqs[TWO])

    refusals = bulkread.RETRIES + 1
    with pytest.raises(bulkread.BulkReadError, match="failed 6 times in a row"):
        await read(js, ["chequered.events.>"])


async def test_a_consumer_gone_silent_is_replaced(nc: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    """The consumer goes silent under the reader (its node restarted, a half-open connection): no message, no
    heartbeat; the read goes on from a new consumer after ``SILENT_S`` instead of giving up."""
    js = nc.jetstream()
    seqs = await stored(js, 3000)
    monkeypatch.setattr(bulkread, "SILENT_S", 0.5)
    deliver = bulkread._Delivery._message
    first: list[bulkread._Delivery] = []
    seen = 0

    def silent(self: bulkread._Delivery, *frame: bytes | bytearray) -> None:
        nonlocal seen
        first[:] = first or [self]
        seen += self is first[0]
        if self is first[0] and seen > 1200:
            return  # nothing more from the first consumer, heartbeats included
        deliver(self, *frame)  # type: ignore[arg-type]

    monkeypatch.setattr(bulkread._Delivery, "_message", silent)
    whole = await read(js, ["chequered.events.>"], max_size=100)
    assert [m.seq for m in whole] == sorted(seqs[ONE] + seqs[TWO])
    assert await consumers(js) == 0


async def test_the_live_tail_reads_what_is_stored_after_it_opened_across_a_lost_connection(nc: Client) -> None:
    """The live tail (a projector's, a recording's) opened at the head reads every message stored after it, in
    order; the connection lost once on the way, it reads on from a new consumer, and leaves none behind."""
    js = nc.jetstream()
    await ensure_topology(js)
    await js.publish(ONE, b"before")
    read: list[StoredMsg] = []
    async with bulkread.StreamTail(js, ["chequered.events.>"], start_seq=2) as tail:
        assert not tail.backlog_at_open
        assert await tail.next_batch(timeout=0.05) == []
        storing = asyncio.create_task(stored(js, 2000))
        cut = False
        while len(read) < 2000:
            if len(read) > 500 and not cut and tail._delivery is not None and tail._delivery.transport is not None:
                tail._delivery.transport.abort()  # once: what follows comes from a new consumer
                cut = True
            read += await tail.next_batch(max_size=100, timeout=5)
        after = await storing
    assert cut and [m.seq for m in read] == sorted(after[ONE] + after[TWO]) == list(range(2, 2002))
    assert await consumers(js) == 0


async def test_a_live_tail_cut_off_again_and_again_while_idle_reads_on(
    nc: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An idle live tail whose connection is lost more times in a row than :data:`bulkread.RETRIES` (a flaky network
    through a quiet hour), each new consumer alive (its heartbeats come): it reads on, as the ordered consumer it
    replaced followed the client's reconnections, instead of giving up as a read of a broker that is away does."""
    monkeypatch.setattr(bulkread, "IDLE_HEARTBEAT_S", 0.1)
    monkeypatch.setattr(bulkread, "RETRY_PAUSE_S", 0.01)
    js = nc.jetstream()
    await ensure_topology(js)
    async with bulkread.StreamTail(js, ["chequered.events.>"]) as tail:
        assert await tail.next_batch(timeout=0.01) == []
        for _ in range(bulkread.RETRIES + 2):
            delivery = tail._delivery
            assert delivery is not None and delivery.transport is not None
            alive = delivery.heard
            while delivery.heard == alive:  # a heartbeat of this consumer
                assert await tail.next_batch(timeout=0.05) == []
            delivery.transport.abort()
            assert await tail.next_batch(timeout=0.05) == []
        await js.publish(ONE, b"after")
        batch = await tail.next_batch(timeout=5)
    assert [m.data for m in batch] == [b"after"]
    assert await consumers(js) == 0
