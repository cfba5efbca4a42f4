"""The pure resume logic: what a (re)connecting client must get."""

from __future__ import annotations

import random

import pytest

from services.gateway.messages import SnapshotReason
from services.gateway.ring import Pushed, Resume, UpdateRing


def ring_of(seqs: list[int], capacity: int = 5) -> UpdateRing[str]:
    ring: UpdateRing[str] = UpdateRing(capacity)
    for seq in seqs:
        ring.push(seq, f"v{seq}")
    return ring


def test_push_outcomes() -> None:
    ring: UpdateRing[str] = UpdateRing(3)
    assert ring.push(10, "a") is Pushed.FIRST
    assert ring.push(12, "b") is Pushed.APPENDED
    assert ring.push(12, "b again") is Pushed.STALE
    assert ring.push(11, "older") is Pushed.RESET
    assert len(ring) == 1 and ring.oldest_seq == 11


def test_capacity_evicts_the_oldest() -> None:
    ring = ring_of([1, 3, 4, 8, 9, 12, 15], capacity=5)
    assert len(ring) == 5 and ring.oldest_seq == 4 and ring.resume(12) == Resume(None, [(15, "v15")])


def test_nothing_held_means_wait_for_the_first_value() -> None:
    assert UpdateRing[str]().resume(None) == Resume(None, [])
    assert UpdateRing[str]().resume(42) == Resume(None, [])


def test_a_new_client_gets_a_snapshot() -> None:
    assert ring_of([3, 5]).resume(None) == Resume(SnapshotReason.CONNECTED, [])


@pytest.mark.parametrize(
    ("since", "expected"),
    [
        (4, [(8, "v8"), (9, "v9"), (12, "v12"), (15, "v15")]),  # the oldest held: everything after it
        (9, [(12, "v12"), (15, "v15")]),
        (15, []),  # up to date
    ],
)
def test_resume_within_the_ring_replays_what_follows_in_order(since: int, expected: list[tuple[int, str]]) -> None:
    assert ring_of([1, 3, 4, 8, 9, 12, 15]).resume(since) == Resume(None, expected)


@pytest.mark.parametrize("since", [0, 3])
def test_resume_older_than_the_ring_gets_a_snapshot_marked_gap(since: int) -> None:
    assert ring_of([1, 3, 4, 8, 9, 12, 15]).resume(since) == Resume(SnapshotReason.GAP, [])


@pytest.mark.parametrize("since", [5, 9])
def test_resume_from_a_sequence_never_sent_gets_a_snapshot(since: int) -> None:
    """Between two held values (a sequence of another session) or beyond the latest: no delta applies to it."""
    assert ring_of([4, 8]).resume(since) == Resume(SnapshotReason.GAP, [])


def test_a_resumed_client_gets_exactly_what_it_missed_or_a_gap_snapshot() -> None:
    """Random values and disconnections: each resume replays exactly the values after the client's last one,
    or, only when the ring no longer reaches back to it, announces the gap with a snapshot."""
    rng = random.Random(5)
    for _ in range(300):
        ring: UpdateRing[int] = UpdateRing(rng.randint(1, 12))
        seqs = sorted(rng.sample(range(1, 400), rng.randint(2, 60)))
        held: list[int] = []
        view: list[int] = []
        online = True
        for seq in seqs:
            ring.push(seq, seq)
            held.append(seq)
            if online:
                view.append(seq)
                online = rng.random() > 0.2
                continue
            if rng.random() < 0.3:
                missed = [s for s in held if s > view[-1]]
                resume = ring.resume(view[-1])
                if resume.snapshot is None:
                    assert [s for s, item in resume.updates] == missed
                    view += missed
                else:
                    assert resume.snapshot is SnapshotReason.GAP
                    assert ring.oldest_seq is not None and view[-1] < ring.oldest_seq
                    view.append(seq)
                online = True
        assert view == sorted(set(view)), "in order, nothing twice"
