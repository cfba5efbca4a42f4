"""Dropped scores: which rounds' results count.

The season is cut in consecutive parts (one part when only ``best`` is set);
in each part the best N results count. An excluded result cannot be dropped: it
takes one of the part's slots with nothing. Equal results: the earlier round
counts (the choice never changes a total).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
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
    if not drops.parts:
        return (SeasonPart(1, rounds, drops.best),)
    parts, first = [], 1
    for part in drops.parts:
        parts.append(SeasonPart(first, first + part.rounds - 1, part.best))
        first += part.rounds
    return tuple(parts)


def dropped(parts: tuple[SeasonPart, ...], results: Mapping[int, int], forced: Collection[int]) -> dict[int, str]:
    """The rounds whose results do not count, and why.

    ``results`` maps a round index to its points (units); ``forced`` are the
    excluded rounds, counted with nothing whatever their points.
    """
    out: dict[int, str] = {}
    for part in parts:
        if part.best is None:
            continue
        slots = max(0, part.best - sum(1 for index in forced if part.holds(index)))
        free = sorted((i for i in results if part.holds(i) and i not in forced), key=lambda i: (-results[i], i))
        why = f"not among the best {part.best}" + (f" of rounds {part.first}-{part.last}" if len(parts) > 1 else "")
        for index in free[slots:]:
            out[index] = why
    return out


@dataclass(slots=True)
class PartTotal:
    """A competitor's counted total in the part of the season holding the running round, from the other rounds
    only: the total with any result of the running round is then O(1)."""

    best: int | None
    free: list[int]
    """Points of the other rounds of the part, excluded rounds left out."""
    forced: int = 0
    """Excluded rounds in the part."""
    _prefix: list[int] = field(init=False)

    def __post_init__(self) -> None:
        self.free.sort(reverse=True)
        self._prefix = [0, *accumulate(self.free)]

    def total(self, live: int | None, live_excluded: bool = False) -> int:
        """The part's counted points with the running round's result (None: no result)."""
        prefix = self._prefix
        if self.best is None:
            return prefix[-1] + (live if live is not None and not live_excluded else 0)
        slots = max(0, self.best - self.forced - (1 if live_excluded else 0))
        kept = prefix[min(slots, len(self.free))]
        if live is None or live_excluded or slots == 0:
            return kept
        if len(self.free) < slots:
            return kept + live
        return max(kept, prefix[slots - 1] + live)
