"""The hub's fan-out, fed directly (no NATS): bounded queues, slow clients dropped, snapshots when needed."""

from __future__ import annotations

import json

import msgspec
import pytest

from schemas.results import Classification, ClassifiedCar, decode_classification, encode_classification
from services.classification.fold import ClassificationProjection, fold_log
from services.gateway import delta as delta_module
from services.gateway import hub as hub_module
from services.gateway.hub import ClassificationHub, QueuedFeed
from services.gateway.messages import Snapshot, SnapshotReason, StreamMessage, Update
from tests.factory import SessionWriter, small_race
from tests.gateway.clients import Holder
from tests.gateway.races import broadcast_race

decode = msgspec.json.Decoder(StreamMessage).decode


def _base() -> Classification:
    w = SessionWriter()
    return fold_log(enumerate(small_race(w, cars=2, laps=1), 1)).sessions[w.session.key].classification()


BASE = _base()
KEY = BASE.session.key


def value(seq: int) -> bytes:
    return encode_classification(msgspec.structs.replace(BASE, last_seq=seq))


async def test_a_slow_client_is_dropped_and_the_others_get_everything() -> None:
    hub = ClassificationHub(queue_size=3)
    hub.apply(KEY, value(1))
    slow, fast = hub.subscribe(KEY, None), hub.subscribe(KEY, None)
    assert isinstance(decode((await fast.next()).text()), Snapshot)  # type: ignore[union-attr]
    got = []
    for seq in range(2, 10):
        hub.apply(KEY, value(seq))
        message = await fast.next()
        assert message is not None
        got.append(message.seq)
    assert got == list(range(2, 10))
    assert hub.dropped == 1 and hub.client_count() == 1
    drained = [await slow.next() for _ in range(2)]
    assert drained[0] is not None and drained[0].kind == "snapshot"  # its backlog, then the end of the feed
    assert drained[1] is None and slow.overflowed


async def test_clients_waiting_for_a_session_get_its_first_value_as_a_snapshot() -> None:
    hub = ClassificationHub()
    waiting = hub.subscribe(KEY, since=3)
    hub.apply(KEY, value(7))
    message = await waiting.next()
    assert message is not None
    decoded = decode(message.text())
    assert isinstance(decoded, Snapshot) and decoded.seq == 7 and decoded.reason is SnapshotReason.CONNECTED


async def test_a_value_going_backwards_resets_clients_with_a_snapshot() -> None:
    hub = ClassificationHub()
    hub.apply(KEY, value(9))
    client = hub.subscribe(KEY, since=9)
    hub.apply(KEY, value(9))  # the same value again: nothing
    hub.apply(KEY, value(4))
    message = await client.next()
    assert message is not None
    decoded = decode(message.text())
    assert isinstance(decoded, Snapshot) and decoded.reason is SnapshotReason.RESET and decoded.seq == 4


async def test_a_rebuilt_buckets_value_behind_the_one_held_is_not_sent() -> None:
    """After a move to a rebuilt bucket, its value older than the one clients hold (the live projector wrote a later
    one to the old bucket after the rebuild read the log) is skipped until the later one arrives there; a value
    going backwards after that still resets."""
    hub = ClassificationHub()
    hub.apply(KEY, value(9))
    client = hub.subscribe(KEY, since=9)
    hub.moving()
    hub.apply(KEY, value(8))  # the rebuilt bucket's: behind
    hub.apply(KEY, value(10))
    message = await client.next()
    assert message is not None and isinstance(decode(message.text()), Update) and message.seq == 10
    hub.apply(KEY, value(4))
    message = await client.next()
    assert message is not None
    decoded = decode(message.text())
    assert isinstance(decoded, Snapshot) and decoded.reason is SnapshotReason.RESET and decoded.seq == 4


async def test_a_value_that_is_not_a_classification_is_ignored() -> None:
    hub = ClassificationHub()
    hub.apply(KEY, value(2))
    client = hub.subscribe(KEY, since=2)
    hub.apply(KEY, b"{not json")
    hub.apply(KEY, value(3))
    message = await client.next()
    assert message is not None and isinstance(decode(message.text()), Update) and message.seq == 3


async def test_a_client_applying_every_update_holds_each_kv_value_byte_for_byte() -> None:
    """The hub fed a race's values as the KV holds them: the snapshot, then each delta applied in order,
    reproduce every value exactly; a client resuming mid-way from a held value gets the same."""
    w = SessionWriter()
    projection = ClassificationProjection()
    values: list[bytes] = []
    for seq, event in enumerate(broadcast_race(w), 1):
        projection.apply(seq, event)
        values.append(encode_classification(projection.sessions[w.session.key].classification()))
    hub = ClassificationHub(queue_size=len(values) + 1)
    key = w.session.key
    hub.apply(key, values[0])
    feeds: list[tuple[QueuedFeed, Holder]] = [(hub.subscribe(key, None), Holder())]
    for i, value in enumerate(values[1:], 1):
        hub.apply(key, value)
        if i == len(values) // 2:  # resumes from the value the first client holds (one update behind)
            held = feeds[0][1].held
            assert held is not None
            feeds.append((hub.subscribe(key, since=held.last_seq), Holder(held)))
        for feed, holder in feeds:
            while feed.ready():
                message = await feed.next()
                assert message is not None
                holder.take(message.kind, decode(message.text()))
            assert holder.held is not None and encode_classification(holder.held) == value
    assert len(feeds) == 2 and hub.dropped == 0


async def test_a_client_behind_takes_every_ready_message_at_once_in_order() -> None:
    hub = ClassificationHub()
    hub.apply(KEY, value(1))
    client = hub.subscribe(KEY, None)
    for seq in range(2, 6):
        hub.apply(KEY, value(seq))
    first = await client.next()
    assert first is not None and first.kind == "snapshot"
    taken = client.take_ready(3)
    assert [m.seq for m in taken if m is not None] == [2, 3, 4]
    assert [m.seq for m in client.take_ready(10) if m is not None] == [5] and client.take_ready(10) == []


async def test_a_snapshot_says_when_its_latest_crossing_was_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    """A value taken later only for a race-control message carries no later crossing: a page connecting then runs
    its clock from when the crossing was taken, not from the message (it would run minutes behind)."""
    clock = iter([1_000, 2_000, 300_000])
    monkeypatch.setattr(hub_module, "wall_ms", lambda: next(clock, 400_000))
    hub = ClassificationHub()
    hub.apply(KEY, value(1))  # taken at 1 s
    later = msgspec.structs.replace(BASE, last_seq=2, cars=[*BASE.cars])  # the same crossings, a message more
    hub.apply(KEY, encode_classification(later))  # taken at 300 s
    client = hub.subscribe(KEY, None)
    message = await client.next()
    assert message is not None
    snapshot = decode(message.text())
    assert isinstance(snapshot, Snapshot) and snapshot.seq == 2
    assert snapshot.taken_ms == 300_000 and snapshot.crossing_ms == 1_000


async def test_a_value_whose_rows_are_not_where_msgspec_writes_them_is_sent_whole() -> None:
    """A value written by another writer (here with spaces) cannot be cut into rows: clients get it as a snapshot,
    and the next value as a delta from it."""
    hub = ClassificationHub()
    hub.apply(KEY, value(2))
    client = hub.subscribe(KEY, since=2)
    spaced = json.dumps(json.loads(value(3)), indent=1).encode()
    hub.apply(KEY, spaced)
    hub.apply(KEY, value(4))
    first, second = await client.next(), await client.next()
    assert first is not None and second is not None
    snapshot, update = decode(first.text()), decode(second.text())
    assert isinstance(snapshot, Snapshot) and snapshot.reason is SnapshotReason.RESET and snapshot.seq == 3
    assert snapshot.classification == msgspec.structs.replace(BASE, last_seq=3)
    assert isinstance(update, Update) and (update.base_seq, update.seq) == (3, 4)


async def test_a_value_with_a_row_that_is_no_row_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the rows that changed are decoded (one here), and one that is no row is refused like a value that is
    no classification: the value held stays, and the next good one is a delta from it."""
    decoded: list[bytes] = []
    row = delta_module._row

    def counted(raw: msgspec.Raw) -> ClassifiedCar:
        decoded.append(bytes(raw))
        return row(raw)

    monkeypatch.setattr(delta_module, "_row", counted)
    hub = ClassificationHub()
    hub.apply(KEY, value(2))
    client = hub.subscribe(KEY, since=2)
    moved = msgspec.structs.replace(BASE.cars[1], laps=BASE.cars[1].laps + 1)
    hub.apply(KEY, encode_classification(msgspec.structs.replace(BASE, last_seq=3, cars=[BASE.cars[0], moved])))
    assert len(decoded) == 1 and b'"number":"%s"' % moved.number.encode() in decoded[0]
    broken = value(4).replace(b'"laps":%d' % BASE.cars[1].laps, b'"laps":"many"', 1)
    hub.apply(KEY, broken)
    held = hub.classification(KEY)
    assert held is not None and held.last_seq == 3 and held.cars[1] == moved
    hub.apply(KEY, value(5))
    messages = [await client.next(), await client.next()]
    assert [(m.kind, m.seq) for m in messages if m is not None] == [("update", 3), ("update", 5)]
    last = decode(messages[1].text()) if messages[1] is not None else None
    assert isinstance(last, Update) and last.base_seq == 3 and last.cars == [BASE.cars[1]]


def test_listing_the_sessions_decodes_no_value_and_a_read_decodes_the_latest_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The session list and health (``heads``) come from the session fields a delta decodes anyway; a value is
    decoded whole once, when first read, and not again until the next value."""
    decoded: list[bytes] = []

    def counted(data: bytes) -> Classification:
        decoded.append(data)
        return decode_classification(data)

    monkeypatch.setattr(hub_module, "decode_classification", counted)
    hub = ClassificationHub()
    for seq in range(1, 5):
        hub.apply(KEY, value(seq))
    assert len(decoded) == 1  # the first value, sent whole
    [(head, cars)] = hub.heads()
    assert head == msgspec.structs.replace(BASE, last_seq=4, cars=[]) and cars == len(BASE.cars)
    assert len(decoded) == 1
    assert hub.classification(KEY) == hub.classification(KEY) == msgspec.structs.replace(BASE, last_seq=4)
    assert decoded[1:] == [value(4)]


async def test_a_session_named_like_the_rows_key_is_still_sent_as_deltas() -> None:
    """A name holding ``"cars":[`` (escaped in the value, so never mistaken for the rows): each value after the
    first is a delta carrying the one row that changed."""
    named = msgspec.structs.replace(BASE, name='x"cars":[{"number":"9"}],"y')
    hub = ClassificationHub()
    hub.apply(KEY, encode_classification(msgspec.structs.replace(named, last_seq=1)))
    client = hub.subscribe(KEY, since=1)
    for seq in range(2, 5):
        moved = msgspec.structs.replace(BASE.cars[0], laps=BASE.cars[0].laps + seq)
        hub.apply(KEY, encode_classification(msgspec.structs.replace(named, last_seq=seq, cars=[moved, BASE.cars[1]])))
        message = await client.next()
        assert message is not None
        update = decode(message.text())
        assert isinstance(update, Update) and update.head.name == named.name and update.cars == [moved]
