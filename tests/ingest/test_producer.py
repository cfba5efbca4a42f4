"""The producer's retries against a scripted ingest on a real nats-server: one budget of attempts, the same
bytes again, and the tally."""

from __future__ import annotations

import asyncio
import itertools

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st
from nats.aio.client import Client
from nats.aio.msg import Msg

from schemas.events import Event, SessionRef, encode_event
from schemas.ingest import Accepted, IngestReply, RejectCode, Rejected, RequestTag
from schemas.subjects import INGEST_PREFIX, ingest_subject
from services.ingest.client import IngestUnavailable, Producer, Tally, requests
from tests.factory import SessionWriter

UNAVAILABLE = Rejected(RejectCode.UNAVAILABLE, "the stream did not acknowledge")


class ScriptedIngest:
    """Subscribed where ingest is: answers each request with the next of ``answers`` (``None``: no answer, so
    the producer times out), then never again."""

    def __init__(self, answers: list[list[IngestReply] | None]) -> None:
        self.answers = answers
        self.requests: list[bytes] = []
        self.tags: list[RequestTag | None] = []

    async def start(self, nc: Client) -> ScriptedIngest:
        await nc.subscribe(f"{INGEST_PREFIX}.>", cb=self._answer)
        await nc.flush()
        return self

    async def _answer(self, msg: Msg) -> None:
        self.requests.append(msg.data)
        self.tags.append(RequestTag.of(msg.headers))
        answer = self.answers.pop(0) if self.answers else None
        if answer is not None:
            await msg.respond(msgspec.json.encode(answer))


def producer(nc: Client, attempts: int) -> Producer:
    return Producer(nc, attempts=attempts, backoff=0.0, timeout=0.2)


def body(*events: Event) -> bytes:
    return b"[" + b",".join(encode_event(event) for event in events) + b"]"


def events() -> list[Event]:
    w = SessionWriter()
    return [w.opened(), w.entry("7"), w.entry("8")]


async def test_no_answer_is_retried_with_the_same_bytes_within_the_budget(nc: Client) -> None:
    batch = events()
    ingest = await ScriptedIngest([]).start(nc)
    with pytest.raises(IngestUnavailable, match="no answer for a batch of 3 events after 4 attempts"):
        await producer(nc, attempts=4).send_batch(batch)
    assert ingest.requests == [body(*batch)] * 4


async def test_unavailable_events_are_sent_again_alone_and_the_budget_is_shared(nc: Client) -> None:
    opened, first, second = events()
    answers: list[list[IngestReply] | None] = [None, [Accepted(1), UNAVAILABLE, Accepted(3)], None, [Accepted(2)]]
    ingest = await ScriptedIngest(answers).start(nc)
    replies = await producer(nc, attempts=4).send_batch([opened, first, second])
    assert replies == [Accepted(1), Accepted(2), Accepted(3)]
    assert ingest.requests == [body(opened, first, second)] * 2 + [body(first)] * 2


async def test_one_budget_for_unanswered_requests_and_unavailable_events(nc: Client) -> None:
    opened, first, second = events()
    ingest = await ScriptedIngest([None, [Accepted(1), UNAVAILABLE, Accepted(3)]]).start(nc)
    with pytest.raises(IngestUnavailable, match="no answer for a batch of 1 events after 3 attempts"):
        await producer(nc, attempts=3).send_batch([opened, first, second])
    assert ingest.requests == [body(opened, first, second)] * 2 + [body(first)]


async def test_events_still_unavailable_after_the_budget(nc: Client) -> None:
    batch = events()
    ingest = await ScriptedIngest([[UNAVAILABLE] * 3] * 10).start(nc)
    stopped = r"3 events still not stored after 3 attempts \(unavailable: the stream did not acknowledge\)"
    with pytest.raises(IngestUnavailable, match=stopped):
        await producer(nc, attempts=3).send_batch(batch)
    assert len(ingest.requests) == 3


async def test_the_tally_counts_every_reply(nc: Client) -> None:
    opened, first, second = events()
    rejected = Rejected(RejectCode.UNKNOWN_CAR, "car #8 is not registered")
    await ScriptedIngest([[Accepted(5, duplicate=True), Accepted(6), rejected]]).start(nc)
    tally = Tally()
    await producer(nc, attempts=1).send_all([opened, first, second], tally.count)
    assert tally == Tally(
        sent=3, accepted=1, duplicates=1, rejected=1, rejections=[(second.id, rejected.reason)], last_seq=6
    )


async def test_a_single_rejection_for_a_batch_applies_to_every_event(nc: Client) -> None:
    """Ingest answers a batch it could not judge with an array of one rejection (before, a bare rejection the
    producer could not read as a batch's answer): every event of it is sent again."""
    opened, first, second = events()
    ingest = await ScriptedIngest([[UNAVAILABLE], [Accepted(1), Accepted(2), Accepted(3)]]).start(nc)
    replies = await producer(nc, attempts=2).send_batch([opened, first, second])
    assert replies == [Accepted(1), Accepted(2), Accepted(3)]
    assert ingest.requests == [body(opened, first, second)] * 2


async def test_the_next_request_goes_before_the_answer_and_says_which_it_follows(nc: Client) -> None:
    """``send_all`` sends request 2 before request 1 is answered, tagged as following it; its retry (once 1 is
    answered) follows nothing, so an ingest that never saw request 1 (a fail-over) still judges it."""
    opened, first, _ = events()
    ingest = await ScriptedIngest([[Accepted(1)], [UNAVAILABLE], [Accepted(2)]]).start(nc)
    replies = await Producer(nc, window=1, backoff=0.0, timeout=1.0).send_all([opened, first])
    assert replies == [Accepted(1), Accepted(2)]
    assert ingest.requests == [body(opened), body(first), body(first)]
    tags = [tag for tag in ingest.tags if tag is not None]
    assert len(tags) == 3 and len({tag.stream for tag in tags}) == 1
    assert [(tag.number, tag.follows) for tag in tags] == [(1, None), (2, 1), (2, None)]


async def test_a_request_is_not_sent_again_once_the_one_before_it_failed(nc: Client) -> None:
    """A request sent before the answer to the one before it, refused while that one was unsettled, is not sent
    again once that one failed for good: stored then, it would stand before events of it sent again later."""
    first = events()[1]
    ingest = await ScriptedIngest([[UNAVAILABLE]]).start(nc)
    failed: asyncio.Future[list[IngestReply]] = asyncio.get_running_loop().create_future()
    failed.set_exception(IngestUnavailable("no answer"))
    tag = RequestTag("s", 2, 1)
    with pytest.raises(IngestUnavailable, match="the request sent before this one was not stored"):
        await producer(nc, attempts=3)._send_request(ingest_subject(first.session), [encode_event(first)], tag, failed)
    assert ingest.requests == [body(first)]


@given(sessions=st.lists(st.integers(0, 2), max_size=40), window=st.integers(1, 6))
def test_requests_are_consecutive_events_of_one_session_at_most_a_window_each(sessions: list[int], window: int) -> None:
    writers = [SessionWriter(session=SessionRef("c", "e", f"s{n}")) for n in range(3)]
    events = [writers[n].opened() for n in sessions]
    cut = list(requests(iter(events), window))  # any iterable: a feed's events are a generator
    assert [event for request in cut for event in request] == events
    assert all(0 < len(request) <= window and len({e.session for e in request}) == 1 for request in cut)
    for before, after in itertools.pairwise(cut):  # cut only where it must be
        assert len(before) == window or before[0].session != after[0].session


async def test_a_send_cancelled_as_its_answer_arrives_is_cancelled(nc: Client) -> None:
    """Ctrl-C on a replay cancels the producer's request. When the answer arrives in the same turn of the loop,
    Python 3.11's ``asyncio.wait_for`` (inside nats-py's ``request``) returns the answer and drops the
    cancellation: the send must still end cancelled, or the replay runs on."""
    await ScriptedIngest([[Accepted(seq=1)]] * 20).start(nc)
    event = events()[0]
    sending: list[asyncio.Future[IngestReply]] = []

    async def cancel_on_answer(_: Msg) -> None:
        sending[-1].cancel()  # the answer, seen by a second subscription of this connection

    await nc.subscribe("_INBOX.>", cb=cancel_on_answer)
    for _ in range(20):
        sending.append(asyncio.ensure_future(producer(nc, attempts=1).send(event)))
        with pytest.raises(asyncio.CancelledError):
            await sending[-1]
