"""Snapshots: restoring one and folding the rest equals folding the whole log."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from nats.aio.client import Client

from schemas.events import Event, PitIn, PitOut
from schemas.results import encode_classification
from services.classification import snapshot
from services.classification.fold import fold_log
from services.classification.projector import ClassificationProjector
from services.ingest.service import IngestService
from tests.classification.test_fold_properties import races
from tests.classification.test_projector import offline
from tests.factory import SessionWriter, resumed, session_fold, small_race
from tests.live import send, wait_for_classification


@settings(max_examples=100, deadline=None)
@given(races(), st.data())
def test_snapshot_then_rest_equals_the_whole_fold(events: list[Event], data: st.DataObject) -> None:
    restored, whole = resumed(events, data.draw(st.integers(1, len(events))))
    assert encode_classification(restored.classification()) == encode_classification(whole.classification())
    assert restored.seen == whole.seen


def test_a_snapshot_of_another_format_is_ignored() -> None:
    w = SessionWriter()
    state = fold_log(enumerate([w.opened()], start=1)).sessions[w.session.key]
    data = snapshot.encode(state).replace(b"\xa1v%c" % snapshot.SNAPSHOT_VERSION, b"\xa1v\x63")
    assert snapshot.decode(data) is None
    assert snapshot.decode(b"garbage") is None


def test_pit_and_stint_state_survive_a_snapshot() -> None:
    w = SessionWriter()
    events = [*small_race(w, cars=2, laps=3), w.event(PitIn(number="1"), 350_000)]
    state = session_fold(events)
    restored = snapshot.decode(snapshot.encode(state))
    assert restored is not None
    for s in (state, restored):
        s.apply(100, w.event(PitOut(number="1"), 400_000))
    assert encode_classification(restored.classification()) == encode_classification(state.classification())


async def test_restarted_projector_resumes_from_its_snapshot(nats_url: str, nc: Client) -> None:
    ingest = IngestService(nats_url)
    await ingest.start()
    try:
        w = SessionWriter()
        race = small_race(w)
        first = ClassificationProjector(nats_url, snapshot_every=20)
        await first.start()
        stored = await send(nc, race[:50])
        await wait_for_classification(nc, w.session.key, stored[-1][0])
        await first.stop()
        stored += await send(nc, race[50:])
        second = ClassificationProjector(nats_url, snapshot_every=20)
        await second.start()
        try:
            assert second.resumed_from >= 20  # did not fold from sequence 1
            live = await wait_for_classification(nc, w.session.key, stored[-1][0])
            assert encode_classification(live) == offline(stored, w.session.key)
        finally:
            await second.stop()
    finally:
        await ingest.stop()
