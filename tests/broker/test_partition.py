"""Sharing sessions among replicas: rendezvous hashing."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from services.broker.partition import owner

KEYS = [f"c.e{i}.race" for i in range(400)]


def owners(members: set[str]) -> dict[str, str | None]:
    return {key: owner(key, members) for key in KEYS}


def test_every_session_has_one_owner_and_the_share_is_fair() -> None:
    shares = list(owners({"r1", "r2"}).values())
    assert None not in shares and 150 < shares.count("r1") < 250


def test_a_replica_leaving_moves_only_its_own_sessions() -> None:
    before, after = owners({"r1", "r2", "r3"}), owners({"r1", "r2"})
    moved = {k for k in KEYS if before[k] != after[k]}
    assert moved == {k for k in KEYS if before[k] == "r3"}


def test_a_replica_joining_takes_a_share_and_nothing_else_moves() -> None:
    before, after = owners({"r1", "r2"}), owners({"r1", "r2", "r3"})
    moved = {k for k in KEYS if before[k] != after[k]}
    assert moved and all(after[k] == "r3" for k in moved)


@given(st.sets(st.text(min_size=1, max_size=5), min_size=1, max_size=6), st.text(max_size=20))
def test_the_owner_does_not_depend_on_the_order_members_are_listed(members: set[str], key: str) -> None:
    assert owner(key, sorted(members)) == owner(key, sorted(members, reverse=True)) in members


def test_no_member_no_owner() -> None:
    assert owner("a.b.c", []) is None
