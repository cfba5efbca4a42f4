"""The hub's fan-out, fed directly (no NATS): bounded queues, slow clients dropped, snapshots when needed."""

from __future__ import annotations

import msgspec

from schemas.results import Classification, encode_classification
from services.classification.fold import fold_log
from services.gateway.hub import ClassificationHub
from services.gateway.messages import Snapshot, SnapshotReason, StreamMessage, Update
from tests.factory import SessionWriter
from tests.gateway.races import small_race

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


async def test_a_value_that_is_not_a_classification_is_ignored() -> None:
    hub = ClassificationHub()
    hub.apply(KEY, value(2))
    client = hub.subscribe(KEY, since=2)
    hub.apply(KEY, b"{not json")
    hub.apply(KEY, value(3))
    message = await client.next()
    assert message is not None and isinstance(decode(message.text()), Update) and message.seq == 3
