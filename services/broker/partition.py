"""Who owns what among projector replicas: rendezvous hashing, pure.

A session, or a partition of the log, goes to the live replica with the highest
hash of (replica, key). Every replica computes the same answer from the same
member list with no coordination. :func:`owner` moves only the keys of a
replica that leaves or joins; :func:`assign` shares the log's partitions evenly
(no replica holds more than one partition beyond another), in partition order,
each to the highest-hashed replica not yet full, so little beyond that moves.
:func:`balance` shares them by weight instead, for a rebuild's worker processes.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Iterable, Mapping


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


def balance(weights: Mapping[int, int], workers: int) -> list[frozenset[int]]:
    """The partitions of ``weights`` (partition -> events it holds) in at most ``workers`` shares of about equal
    weight, every partition in one share, none empty: the heaviest first, each to the lightest share so far (a
    share outweighs another by at most its own heaviest partition). A partition of no weight is in a share too:
    what is stored in it meanwhile is read."""
    count = max(1, min(workers, sum(1 for weight in weights.values() if weight > 0)))
    shares: list[tuple[int, int, list[int]]] = [(0, i, []) for i in range(count)]
    for partition in sorted(weights, key=lambda p: (-weights[p], p)):
        load, i, members = heapq.heappop(shares)
        members.append(partition)
        heapq.heappush(shares, (load + weights[partition], i, members))
    return [frozenset(members) for _, _, members in sorted(shares, key=lambda share: share[1])]
