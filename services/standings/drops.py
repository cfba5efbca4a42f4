"""Dropped scores: which results count.

The season is cut in consecutive parts (one part when only ``best`` is set);
in each part the best N results count. A result is a round's points, or (drops
by results) one car's points in one session, so a driver with two cars in a
round has two. An excluded round cannot be dropped: each of its results takes
one of the part's slots with nothing. Equal results: the earlier counts (the
choice never changes a total). Points here are whole numbers of a common unit
(``services.standings.units``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import accumulate

from schemas.standings import Drops


@dataclass(frozen=True, slots=True)
class SeasonPart:
    first: int
    last: int
    """Round indexes, 1-based, inclusive."""
    best: int | None
    """None: every result counts."""

    def holds(self, index: int) -> bool:
        return self.first <= index <= self.last


def season_parts(drops: Drops, rounds: int) -> tuple[SeasonPart, ...]:
    """The parts of a season of ``rounds`` rounds: as the parts give their sizes, or split evenly."""
    if not drops.parts:
        return (SeasonPart(1, rounds, drops.best),)
    count = len(drops.parts)
    sizes = [
        p.rounds if p.rounds is not None else rounds // count + (i < rounds % count) for i, p in enumerate(drops.parts)
    ]
    parts, first = [], 1
    for part, size in zip(drops.parts, sizes, strict=True):
        parts.append(SeasonPart(first, first + size - 1, part.best))
        first += size
    return tuple(parts)


Item = tuple[int, int]
"""A result: its round's index and its place among the round's results (0 when the unit is the round)."""


def dropped(parts: tuple[SeasonPart, ...], results: Mapping[Item, int], forced: Collection[int]) -> dict[Item, str]:
    """The results that do not count, and why.

    ``results`` maps each result to its points; ``forced`` are the excluded
    rounds, whose results count with nothing whatever their points.
    """
    out: dict[Item, str] = {}
    for part in parts:
        if part.best is None:
            continue
        slots = max(0, part.best - sum(1 for item in results if item[0] in forced and part.holds(item[0])))
        free = sorted((i for i in results if part.holds(i[0]) and i[0] not in forced), key=lambda i: (-results[i], i))
        why = f"not among the best {part.best}" + (f" of rounds {part.first}-{part.last}" if len(parts) > 1 else "")
        for item in free[slots:]:
            out[item] = why
    return out


@dataclass(slots=True)
class PartTotal:
    """A competitor's counted total in the part of the season holding the running round, from the other rounds
    only: the total with the running round's results (one, or a few) is then O(their number)."""

    best: int | None
    free: list[int]
    """Points of the other rounds' results in the part, excluded rounds left out."""
    forced: int = 0
    """Results of excluded rounds in the part."""
    _prefix: list[int] = field(init=False)

    def __post_init__(self) -> None:
        self.free.sort(reverse=True)
        self._prefix = [0, *accumulate(self.free)]

    def total(self, live: Sequence[int] = (), live_excluded: bool = False) -> int:
        """The part's counted points with the running round's results (none: no result)."""
        prefix = self._prefix
        if self.best is None:
            return prefix[-1] + (sum(live) if not live_excluded else 0)
        slots = max(0, self.best - self.forced - (len(live) if live_excluded else 0))
        if not live or live_excluded:
            return prefix[min(slots, len(self.free))]
        if len(live) == 1:  # one result: it replaces the worst kept, or adds to an unfilled part
            if slots == 0:
                return 0
            if len(self.free) < slots:
                return prefix[-1] + live[0]
            return max(prefix[slots], prefix[slots - 1] + live[0])
        ranked = sorted(live, reverse=True) if len(live) > 1 else live
        best = taken = 0
        for k in range(min(len(ranked), slots) + 1):  # the best k of the running results with the best others
            best = max(best, prefix[min(slots - k, len(self.free))] + taken)
            if k < len(ranked):
                taken += ranked[k]
        return best


def around(
    parts: tuple[SeasonPart, ...], results: Mapping[Item, int], excluded: Collection[int], index: int
) -> tuple[int, PartTotal]:
    """A competitor's results (none of round ``index``) seen from round ``index``: the counted points outside the
    part holding it, and that part's :class:`PartTotal`, so the total with any result of round ``index`` is quick."""
    part = next(p for p in parts if p.holds(index))
    outside = {item: u for item, u in results.items() if not part.holds(item[0])}
    drops = dropped(parts, outside, excluded)
    fixed = sum(u for item, u in outside.items() if item not in drops and item[0] not in excluded)
    inside = [item for item in results if part.holds(item[0])]
    kept = [results[item] for item in inside if item[0] not in excluded]
    return fixed, PartTotal(part.best, kept, sum(1 for item in inside if item[0] in excluded))
