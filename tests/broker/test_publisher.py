"""The batch's own protocol frames: what a subscriber receives is the message as given, and nothing else gets in;
a batch is stored whole, in order, or not at all."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import ConnectionClosedError, MaxPayloadError

from schemas.events import SessionRef
from schemas.subjects import EVENTS_STREAM, events_subject
from services.broker.connection import connect
from services.broker.publisher import PipelinedPublisher, hpub_frame, write_frame
from services.broker.topology import ensure_topology

TOKEN = st.text("abcXYZ019_-", min_size=1, max_size=12)
HEADER_NAME = st.text("abcdefXYZ-", min_size=1, max_size=16).filter(lambda n: n.lower() != "status")
HEADER_VALUE = st.text(st.characters(min_codepoint=32, max_codepoint=0x2FF), min_size=1, max_size=40).filter(
    lambda v: v == v.strip(" \t") and v.strip()
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    tokens=st.lists(TOKEN, min_size=1, max_size=4),
    headers=st.dictionaries(HEADER_NAME, HEADER_VALUE, min_size=1, max_size=4),
    payload=st.binary(max_size=600),
    with_reply=st.booleans(),
)
async def test_a_frame_arrives_as_the_message_it_was_built_from(
    nc: Client, tokens: list[str], headers: dict[str, str], payload: bytes, with_reply: bool
) -> None:
    subject = "frames." + ".".join(tokens)
    reply = "_INBOX.frames.1" if with_reply else ""
    received: asyncio.Queue[Msg] = asyncio.Queue()

    async def keep(msg: Msg) -> None:
        await received.put(msg)

    sub = await nc.subscribe(subject, cb=keep)
    await nc.flush()
    await write_frame(nc, hpub_frame(subject, reply, headers, payload, "Extra-Line: 1\r\n"), len(payload))
    msg = await asyncio.wait_for(received.get(), 5)
    await sub.unsubscribe()
    assert (msg.subject, msg.reply, msg.data) == (subject, reply, payload)
    assert msg.headers == {**headers, "Extra-Line": "1"}


@pytest.mark.parametrize(
    ("subject", "headers"),
    [
        ("a.b", {"Nats-Msg-Id": "x\r\nPUB evil 1\r\n"}),  # a line break would end the frame and start another
        ("a.b\r\nPUB evil 0", {"Nats-Msg-Id": "x"}),
        ("a b", {"Nats-Msg-Id": "x"}),
        ("a.b", {"Bad Name": "x"}),
        ("a.b", {"Nats-Msg-Id: evil": "x"}),  # the value would begin inside the name
        ("", {"Nats-Msg-Id": "x"}),
    ],
)
def test_a_frame_that_would_break_is_refused_before_anything_is_written(subject: str, headers: dict[str, str]) -> None:
    with pytest.raises(
        ValueError, match=r"no subject, whitespace in a subject or reply, a bad header name or a line break"
    ):
        hpub_frame(subject, "", headers, b"{}")


async def test_a_frame_too_large_or_on_a_closed_connection_is_refused(nats_url: str) -> None:
    nc = await connect(nats_url, "frames")
    big = b"x" * (nc.max_payload + 1)
    with pytest.raises(MaxPayloadError):
        await write_frame(nc, hpub_frame("a.b", "", {"K": "v"}, big), len(big))
    await nc.close()
    with pytest.raises(ConnectionClosedError):
        await write_frame(nc, hpub_frame("a.b", "", {"K": "v"}, b"{}"), 2)


async def test_a_batch_is_stored_whole_in_order_and_one_that_would_break_writes_nothing(
    nc: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch is written in one piece at its commit: its messages are stored contiguously, in order, each under its
    own id. A message whose frame would break is refused before anything of its batch is written, the messages added
    before it included."""
    js = nc.jetstream()
    await ensure_topology(js)
    publisher = PipelinedPublisher(nc)
    await publisher.start()
    subject = events_subject(SessionRef("frames", "batch", "race"))
    written: list[bytes] = []
    send = nc._send_command

    async def counted(cmd: bytes, priority: bool = False) -> None:
        written.append(cmd)
        await send(cmd, priority)

    monkeypatch.setattr(nc, "_send_command", counted)
    try:
        batch = publisher.batch()
        for i in range(5):
            batch.add(subject, b'{"n":%d}' % i, {"Nats-Msg-Id": f"m{i}"})
        assert not written  # nothing goes out before the commit
        acks = await asyncio.wait_for(await batch.commit(), 5)
        assert len(written) == 1 and written[0].count(b"HPUB ") == 5  # then the five frames in one write
        first = acks[0].seq
        assert [ack.seq for ack in acks] == list(range(first, first + 5))
        for i, ack in enumerate(acks):
            stored = await js.get_msg(EVENTS_STREAM, ack.seq)
            assert (stored.data, (stored.headers or {}).get("Nats-Msg-Id")) == (b'{"n":%d}' % i, f"m{i}")

        broken = publisher.batch()
        broken.add(subject, b'{"n":5}', {"Nats-Msg-Id": "m5"})
        broken.add(subject, b'{"n":6}', {"Nats-Msg-Id": "m6\r\nPUB evil 0"})
        before = len(written)
        with pytest.raises(ValueError, match="a line break"):
            await broken.commit()
        assert len(written) == before
        again = publisher.batch()
        again.add(subject, b'{"n":7}', {"Nats-Msg-Id": "m7"})
        (ack,) = await asyncio.wait_for(await again.commit(), 5)
        assert ack.seq == first + 5  # nothing of the broken batch came between
        assert not publisher._batches
    finally:
        await publisher.stop()
