"""Order on points, and how ties on points are broken.

Ties are rare except between co-drivers: tie-break records are read only for
competitors level on points. Count-back compares finishes sorted best first,
then a terminator: "most wins, then most second places, ..." is exactly the
lexicographic order of those sequences.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

from schemas.standings import TieBreak
from services.standings.units import format_points

NO_FINISH = 1 << 30
"""Behind every position."""


@dataclass(frozen=True, slots=True)
class Record:
    """What the tie-breaks read of a competitor's season."""

    name: str
    finishes: tuple[int, ...]
    """Scoring race finishes (class or overall positions), best first."""
    latest: tuple[int, ...]
    """Best finish per round, the latest round first; ``NO_FINISH`` where none."""
    keys: dict[tuple[TieBreak, ...], tuple[tuple[object, ...], ...]] = field(
        default_factory=dict, compare=False, repr=False
    )
    """Its sort key under each list of rules, computed once (a live table sorts on every lap)."""

    @classmethod
    def of(cls, name: str, finishes: Mapping[int, Iterable[int]], rounds: int) -> Record:
        """From each round's finishes (round index to positions)."""
        best = {index: min(positions, default=NO_FINISH) for index, positions in finishes.items()}
        return cls(
            name,
            tuple(sorted(p for positions in finishes.values() for p in positions)),
            tuple(best.get(index, NO_FINISH) for index in range(rounds, 0, -1)),
        )

    def adding(self, index: int, finishes: Sequence[int]) -> Record:
        """With one more round's finishes (a round not in this record yet)."""
        if not finishes:
            return self
        at = len(self.latest) - index
        latest = (*self.latest[:at], min(self.latest[at], *finishes), *self.latest[at + 1 :])
        return Record(self.name, tuple(sorted((*self.finishes, *finishes))), latest)


@dataclass(frozen=True, slots=True)
class Placed:
    name: str
    units: int
    tie: str = ""


def order(
    totals: Iterable[tuple[str, int]],
    record: Callable[[str], Record],
    rules: Sequence[TieBreak],
    over: int | None = None,
) -> list[Placed]:
    """Competitors (name, points in whole units of 1/``over``) in standings order; with ``over``, say how each tie
    was broken (without, one sort: a live table on every lap, where crew-mates are level everywhere)."""
    if over is None:
        keyed = tuple(rules)
        return [Placed(*item) for item in sorted(totals, key=lambda item: (-item[1], tie_key(record(item[0]), keyed)))]
    ranked = sorted(totals, key=lambda item: -item[1])
    out: list[Placed] = []
    start = 0
    while start < len(ranked):
        units = ranked[start][1]
        end = start + 1
        while end < len(ranked) and ranked[end][1] == units:
            end += 1
        if end - start == 1:
            out.append(Placed(*ranked[start]))
        else:
            records = sorted((record(name) for name, _ in ranked[start:end]), key=lambda r: tie_key(r, rules))
            notes = _notes(Fraction(units, over), records, rules) if over else [""] * len(records)
            out += [Placed(r.name, units, note) for r, note in zip(records, notes, strict=True)]
        start = end
    return out


def tie_key(record: Record, rules: Sequence[TieBreak]) -> tuple[tuple[object, ...], ...]:
    """What orders competitors level on points under ``rules``: the lower, the further ahead."""
    rules = tuple(rules)
    key = record.keys.get(rules)
    if key is None:
        key = record.keys[rules] = _rules_key(record, rules)
    return key


def _rules_key(record: Record, rules: Sequence[TieBreak]) -> tuple[tuple[object, ...], ...]:
    return tuple(
        (*record.finishes, NO_FINISH)
        if rule is TieBreak.COUNTBACK
        else record.latest
        if rule is TieBreak.LATEST_RESULT
        else (record.name.casefold(), record.name)
        for rule in rules
    )


def _notes(points: Fraction, records: list[Record], rules: Sequence[TieBreak]) -> list[str]:
    notes = []
    for i, r in enumerate(records):
        other = records[i + 1] if i == 0 else records[i - 1]
        a, b = tie_key(r, rules), tie_key(other, rules)
        rule = rules[next(n for n in range(len(rules)) if a[n] != b[n])]
        relation = "ahead of" if i == 0 else "behind"
        notes.append(f"level on {format_points(points)} points, {relation} {other.name}: {_detail(rule, r, other)}")
    return notes


def _detail(rule: TieBreak, a: Record, b: Record) -> str:
    if rule is TieBreak.COUNTBACK:
        p = min(p for p in {*a.finishes, *b.finishes} if a.finishes.count(p) != b.finishes.count(p))
        return f"count-back, P{p} finishes {a.finishes.count(p)} to {b.finishes.count(p)}"
    if rule is TieBreak.LATEST_RESULT:
        at = next(i for i, (x, y) in enumerate(zip(a.latest, b.latest, strict=True)) if x != y)
        return f"latest result, round {len(a.latest) - at}: {_finish(a.latest[at])} to {_finish(b.latest[at])}"
    return "alphabetical order"


def _finish(position: int) -> str:
    return f"P{position}" if position != NO_FINISH else "no finish"
