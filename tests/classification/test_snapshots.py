"""Snapshots: restoring one and folding the rest equals folding the whole log."""

from __future__ import annotations

import os
import subprocess
import sys

import msgspec
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


def test_a_snapshot_of_the_format_before_is_ignored() -> None:
    """Version 1 copied the state field by field, stops and stints as positional lists: the fold starts from the
    log rather than read it as the state's own Structs."""
    w = SessionWriter()
    old = {"v": 1, "session": msgspec.to_builtins(w.session), "opened": None, "last_seq": 1, "as_of": 0}
    assert snapshot.decode(msgspec.msgpack.encode(old | {"cars": [], "stint_bounds": [[0, 0, "A", None]]})) is None


def test_cars_come_back_in_the_order_they_registered() -> None:
    """A snapshot writes the cars sorted by number (so the same state gives the same bytes); restored, they are in
    the order they registered, as in the state that was saved."""
    w = SessionWriter()
    state = fold_log(enumerate([w.opened(), w.entry("9"), w.entry("10"), w.entry("1")], start=1)).sessions
    restored = snapshot.decode(snapshot.encode(state[w.session.key]))
    assert restored is not None and list(restored.cars) == ["9", "10", "1"]


SNAPSHOT_BYTES = """
import hashlib
from services.classification import snapshot
from services.classification.fold import fold_log
from services.simulator.endurance import RaceSpec, simulate

events = simulate(RaceSpec(seed=5, cars=8, duration_ms=1_800_000))
state = next(iter(fold_log(enumerate(events, start=1)).sessions.values()))
print(hashlib.sha256(snapshot.encode(state)).hexdigest())
"""


def test_the_same_state_gives_the_same_bytes_in_any_process() -> None:
    """Sets of ids and decisions are written sorted: a snapshot does not depend on the process's hash seed."""
    digests = {
        subprocess.run(
            [sys.executable, "-c", SNAPSHOT_BYTES],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2", "3")
    }
    assert len(digests) == 1, digests


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
