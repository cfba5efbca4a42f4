"""Who owns what among projector replicas: rendezvous hashing, pure.

A session, or a partition of the log, goes to the live replica with the highest
hash of (replica, key). Every replica computes the same answer from the same
member list with no coordination. :func:`owner` moves only the keys of a
replica that leaves or joins; :func:`assign` shares the log's partitions evenly
(no replica holds more than one partition beyond another), in partition order,
each to the highest-hashed replica not yet full, so little beyond that moves.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable


def _weight(member: str, key: str) -> int:
    return int.from_bytes(hashlib.blake2b(f"{member}\x00{key}".encode(), digest_size=8).digest(), "big")


def owner(key: str, members: Iterable[str]) -> str | None:
    """The member that owns ``key``; None with no member."""
    return max(members, key=lambda member: (_weight(member, key), member), default=None)


def assign(partitions: int, members: Iterable[str]) -> dict[int, str]:
    """Partition -> the member that reads it, for partitions ``0 .. partitions - 1`` ({} with no member)."""
    live = sorted(set(members))
    if not live:
        return {}
    even, extra = divmod(partitions, len(live))  # ``extra`` members read one partition more
    load = dict.fromkeys(live, 0)
    owners: dict[int, str] = {}
    for partition in range(partitions):
        ranked = sorted(live, key=lambda member: (_weight(member, f"partition {partition}"), member), reverse=True)
        chosen = next(m for m in ranked if load[m] < even or (load[m] == even and extra > 0))
        if load[chosen] == even:
            extra -= 1
        load[chosen] += 1
        owners[partition] = chosen
    return owners


def owned(partitions: int, members: Iterable[str], member: str) -> frozenset[int]:
    """The partitions ``member`` reads."""
    return frozenset(p for p, holder in assign(partitions, members).items() if holder == member)
