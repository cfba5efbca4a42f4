"""Who owns a session among projector replicas: rendezvous hashing, pure.

Each session goes to the live replica with the highest hash of (replica,
session). Every replica computes the same answer from the same member list
with no coordination, and when a replica joins or leaves only the sessions it
gains or held move.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable


def _weight(member: str, key: str) -> int:
    return int.from_bytes(hashlib.blake2b(f"{member}\x00{key}".encode(), digest_size=8).digest(), "big")


def owner(key: str, members: Iterable[str]) -> str | None:
    """The member that owns ``key``; None with no member."""
    return max(members, key=lambda member: (_weight(member, key), member), default=None)
