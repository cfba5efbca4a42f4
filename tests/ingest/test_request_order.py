"""A producer's next request goes out before the answer to the one before it, and ingest judges a request while the
stream stores the one before it: the stream's order is still the order the events were sent in, whatever is lost
or not stored on the way. Against a real nats-server and an ingest of this process."""

from __future__ import annotations

import asyncio

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st
from nats.aio.client import Client
from nats.errors import ConnectionClosedError

from schemas.events import Event, LapCompleted, encode_event
from schemas.ingest import FOLLOWS_HEADER, REQUEST_HEADER, Accepted, IngestReply, RejectCode, Rejected, RequestTag
from schemas.subjects import ingest_subject
from services.broker.publisher import Ack, AtomicBatch
from services.broker.reader import read_events
from services.ingest.client import Producer
from services.ingest.rules import IngestLedger
from services.ingest.service import IngestService
from tests.factory import SessionWriter

_replies = msgspec.json.Decoder(list[IngestReply])


async def send(nc: Client, events: list[Event], tag: RequestTag | None = None) -> list[IngestReply]:
    """One request of ``events``, as the producer client sends it, with ``tag``'s headers."""
    data = b"[" + b",".join(encode_event(e) for e in events) + b"]"
    answer = await nc.request(ingest_subject(events[0].session), data, timeout=10, headers=tag.headers if tag else None)
    replies = _replies.decode(answer.data)
    return replies * len(events) if len(replies) == 1 < len(events) else replies


async def stored_ids(nc: Client, w: SessionWriter) -> list[str]:
    return [e.id for _, e in await read_events(nc.jetstream(), w.session.key)]


def unavailable(replies: list[IngestReply], reason: str) -> bool:
    return all(isinstance(r, Rejected) and r.code is RejectCode.UNAVAILABLE and reason in r.reason for r in replies)


@given(st.text(min_size=1, max_size=64).filter(lambda s: "/" not in s), st.integers(1, 10**15 - 1), st.booleans())
def test_a_tag_reads_back_from_its_headers(stream: str, number: int, follows: bool) -> None:
    tag = RequestTag(stream, number, number - 1 if follows else None)
    assert RequestTag.of(tag.headers) == tag


@pytest.mark.parametrize(
    "headers",
    [
        None,
        {},
        {FOLLOWS_HEADER: "3"},
        {REQUEST_HEADER: "s/"},
        {REQUEST_HEADER: "/4"},
        {REQUEST_HEADER: "s/-4"},
        {REQUEST_HEADER: "s/٤"},  # a digit, not an ASCII one
        {REQUEST_HEADER: "s/" + "9" * 1_000_000},  # int() of it would raise; it is not read
        {REQUEST_HEADER: "x" * 65 + "/4"},
        {REQUEST_HEADER: "s/4", FOLLOWS_HEADER: "three"},
    ],
)
def test_a_request_without_a_tag_that_reads_is_a_request_of_its_own(headers: dict[str, str] | None) -> None:
    assert RequestTag.of(headers) is None


async def test_a_request_that_follows_one_ingest_never_saw_is_stored_only_after_it(
    ingest: IngestService, nc: Client
) -> None:
    """Request 3 arrives first, saying it follows request 2 (lost on the way, or sent to the instance before a
    fail-over): nothing of it is stored. Request 2 comes again (a retry follows nothing: the producer sends it once
    the request before it is answered), then 3 again: the stream holds 1, 2, 3 in order. Request 4, following 3,
    is stored; one that follows a request that was itself refused is refused too."""
    w = SessionWriter()
    first = [w.opened(), w.entry("7"), w.entry("8")]
    second = [w.lap("7", 1, 100_000), w.lap("8", 1, 101_000)]
    third = [w.lap("7", 2, 200_000), w.lap("8", 2, 201_000)]
    fourth = [w.lap("7", 3, 300_000)]
    assert all(isinstance(r, Accepted) for r in await send(nc, first, RequestTag("p", 1, None)))
    assert unavailable(await send(nc, third, RequestTag("p", 3, 2)), "request 2 of p, which this one follows")
    assert await stored_ids(nc, w) == [e.id for e in first]
    assert all(isinstance(r, Accepted) for r in await send(nc, second, RequestTag("p", 2, None)))
    assert all(isinstance(r, Accepted) for r in await send(nc, third, RequestTag("p", 3, None)))
    assert all(isinstance(r, Accepted) for r in await send(nc, fourth, RequestTag("p", 4, 3)))
    assert await stored_ids(nc, w) == [e.id for e in first + second + third + fourth]

    fifth, sixth = [w.lap("7", 4, 400_000)], [w.lap("7", 5, 500_000)]
    assert unavailable(await send(nc, fifth, RequestTag("p", 5, 99)), "request 99 of p")
    assert unavailable(await send(nc, sixth, RequestTag("p", 6, 5)), "a request judged before this one")
    assert await stored_ids(nc, w) == [e.id for e in first + second + third + fourth]


async def test_a_request_judged_while_the_one_before_it_is_stored_is_not_stored_when_that_one_is_not(
    ingest: IngestService, nc: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ingest judges a request while the stream stores the one before it, with that one's events as admitted: a
    lap of a car whose entry is in the request before. When that request is not stored, the lap must not be
    either (the fold would find a lap of a car never entered): it is answered unavailable, nothing of it is
    stored, and, sent again alone, it is refused for what it is, a lap of an unknown car."""
    w = SessionWriter()
    first = [w.opened(), w.entry("7")]
    assert all(isinstance(r, Accepted) for r in await send(nc, first))
    entries, lap = [w.entry("8"), w.entry("9")], [w.lap("9", 1, 100_000)]
    committing, fail = asyncio.Event(), asyncio.Event()
    commit = AtomicBatch.commit

    async def held_then_lost(batch: AtomicBatch) -> asyncio.Future[list[Ack]]:
        committing.set()
        await fail.wait()
        raise ConnectionClosedError

    monkeypatch.setattr(AtomicBatch, "commit", held_then_lost)
    before = asyncio.create_task(send(nc, entries))
    await committing.wait()  # the entries' stage is storing them...
    judged, add = asyncio.Event(), ingest._stages.add

    def added(stage: asyncio.Task[bool], tag: RequestTag | None) -> None:
        add(stage, tag)
        judged.set()

    monkeypatch.setattr(ingest._stages, "add", added)
    after = asyncio.create_task(send(nc, [*lap, w.lap("7", 1, 100_500)]))  # ...while this is judged
    await judged.wait()
    fail.set()
    assert unavailable(await before, "the stream did not store it")
    assert unavailable(await after, "a request judged before this one was not all stored")
    monkeypatch.setattr(AtomicBatch, "commit", commit)
    assert (await Producer(nc).send(lap[0])) == Rejected(
        RejectCode.UNKNOWN_CAR,
        f"car #9 is not registered in session {w.session.key}: publish entry_registered first",
    )
    assert await stored_ids(nc, w) == [e.id for e in first]


async def test_a_producer_with_two_requests_in_flight_stores_every_event_once_in_order(
    ingest: IngestService, nc: Client
) -> None:
    """``send_all`` sends the next request before the answer to the one before (tagged as following it): many small
    requests, every event stored once, in the order sent, each answered with its sequence."""
    w = SessionWriter()
    events = [w.opened(), *(w.entry(str(n)) for n in range(1, 6))]
    events += [w.lap(str(n), lap, lap * 100_000 + n) for lap in range(1, 21) for n in range(1, 6)]
    replies = await Producer(nc, window=7).send_all(events)
    stored = await read_events(nc.jetstream(), w.session.key)
    assert [e.id for _, e in stored] == [e.id for e in events]
    assert replies == [Accepted(seq=seq) for seq, _ in stored]


async def test_what_a_request_admitted_before_ingest_failed_on_it_is_forgotten(
    ingest: IngestService, nc: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An exception while judging a request (a bug) answers it ``unavailable``. The events of it judged before were
    admitted to the ledger, and stayed there: a lap of a car entered in it was then taken, with no entry stored."""
    w = SessionWriter()
    assert all(isinstance(r, Accepted) for r in await send(nc, [w.opened()]))
    check = IngestLedger.check

    def fails_on_laps(ledger: IngestLedger, event: Event) -> Rejected | None:
        if isinstance(event.body, LapCompleted):
            raise RuntimeError("a bug")
        return check(ledger, event)

    monkeypatch.setattr(IngestLedger, "check", fails_on_laps)
    assert unavailable(await send(nc, [w.entry("9"), w.lap("9", 1, 100_000)]), "ingest could not judge this")
    monkeypatch.setattr(IngestLedger, "check", check)
    reply = await Producer(nc).send(w.lap("9", 1, 100_000))
    assert isinstance(reply, Rejected) and reply.code is RejectCode.UNKNOWN_CAR
