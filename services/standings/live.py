"""The season as a standings projector keeps it, and the lap-by-lap table of the running round.

``Season`` holds every round's points. A correction rescored one round:
``put`` it, and ``standings()`` rebuilds the full read model from the rounds'
points (no classification is read again).

On every lap of the running round, ``LiveRound.update`` does the least work
that can change the answer:

- it rescores only the classes the championship fold says the lap touched (a
  car's event moves its class and the overall order while the race runs), and
  recomputes a table only when its points or finishes changed;
- ``Season.live`` recomputes only the tables of those classes, without the
  per-round breakdown: for each table it keeps, per competitor, the counted
  points of the other rounds and the sorted results of the drop part holding
  the running round (``PartTotal``), so a total with a new running result is
  O(1); one sort orders the table, and tie-break records (precomputed without
  the running round) are read only for competitors level on points.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from msgspec import structs

from schemas.results import Classification
from schemas.standings import (
    DropUnit,
    LiveRow,
    LiveStandings,
    LiveTable,
    PointsAdjustment,
    RoundState,
    Standings,
)
from services.standings import adjustments as decisions
from services.standings.drops import PartTotal, dropped
from services.standings.rounds import Intermediates, RoundEntry, RoundPoints, score_round
from services.standings.rulebook import Rulebook, TableKey
from services.standings.tables import amounts, items, record, standings
from services.standings.ties import Record, order
from services.standings.units import denominator, display, display_units, units


@dataclass(frozen=True, slots=True)
class _Base:
    """One table without the running round, in whole units of 1/``over``."""

    over: int
    """A denominator every amount of the table divides, the running round's included when the base was made."""
    fixed: dict[str, int]
    """Counted points outside the running round's drop part, before deductions."""
    deducted: dict[str, int]
    parts: dict[str, PartTotal]
    totals: dict[str, int]
    """With no result in the running round."""
    before: dict[str, int]
    """Positions without the running round."""
    records: dict[str, Record]
    """Tie-break facts without the running round."""
    excluded: dict[str, dict[int, PointsAdjustment]]
    expelled: list[str]
    """Excluded from the championship: shown last."""
    empty: PartTotal
    """For a competitor whose first result is the running round's."""
    live_records: dict[str, tuple[list[int], Record]] = field(default_factory=dict)
    """Tie-break facts with the running round's finishes they were built from: most survive a lap."""

    def divides(self, entries: Mapping[str, RoundEntry]) -> bool:
        """Whether every amount of the running round's entries is a whole number of units."""
        over = self.over
        return not any(over % p.denominator for e in entries.values() for p in (e.points, *e.result_points))


@dataclass(slots=True)
class _Running:
    """What ``live`` keeps for a running round: the bases of its tables and its last live tables."""

    bases: dict[TableKey, _Base]
    tables: dict[TableKey, LiveTable] = field(default_factory=dict)


class Season:
    """Every round's points and the decisions in force; the standings, recomputed only where something changed."""

    def __init__(self, book: Rulebook) -> None:
        self.book = book
        self.rounds: dict[str, RoundPoints] = {}
        self.adjustments: dict[str, PointsAdjustment] = {}
        self._standings: Standings | None = None
        self._running: dict[str, _Running] = {}
        for adjustment in book.decisions:
            self.adjust(adjustment)

    def put(self, points: RoundPoints) -> None:
        """A round scored (or rescored after a correction)."""
        self.rounds[points.event] = points
        self._standings = None
        self._running = {event: running for event, running in self._running.items() if event == points.event}
        if points.event in self._running:
            self._running[points.event].tables.clear()

    def adjust(self, adjustment: PointsAdjustment) -> None:
        """A decision on points; raises ``ValueError`` naming what is wrong with it."""
        if problems := decisions.problems(self.book.config, adjustment):
            raise ValueError(f"decision {adjustment.decision}: " + "; ".join(problems))
        self.adjustments[adjustment.decision] = adjustment
        self._standings, self._running = None, {}

    def withdraw(self, decision: str) -> bool:
        """Withdraw a decision; False when none was in force."""
        if self.adjustments.pop(decision, None) is None:
            return False
        self._standings, self._running = None, {}
        return True

    def standings(self) -> Standings:
        if self._standings is None:
            self._standings = standings(self.book, list(self.rounds.values()), list(self.adjustments.values()))
        return self._standings

    def live(self, points: RoundPoints, changed: Collection[str | None] | None = None) -> LiveStandings:
        """Hold the running round's points and return the "as it stands" tables: the same order and totals as
        ``standings()``, without the breakdown. ``changed``: the only class keys whose points may differ from
        the previous ``live`` call for this round (None: any)."""
        self.rounds[points.event] = points
        self._standings = None
        running = self._running.get(points.event)
        self._running = {} if running is None else {points.event: running}
        if running is None:
            running = self._running[points.event] = _Running({})
        tables = []
        for key in self.book.table_keys:
            table = running.tables.get(key) if changed is not None and key[1] not in changed else None
            if table is None:
                entries = points.tables.get(key, {})
                base = running.bases.get(key)
                if base is None or not base.divides(entries):
                    base = running.bases[key] = self._base(key, points)
                table = running.tables[key] = self._live_table(key, base, points)
            tables.append(table)
        return LiveStandings(
            championship=self.book.config.championship,
            round=points.event,
            tables=tables,
            sequences={key: seq for r in self.rounds.values() for key, seq in r.sequences.items()},
            live=any(r.state is RoundState.RUNNING for r in self.rounds.values()),
        )

    def _base(self, key: TableKey, running: RoundPoints) -> _Base:
        book, index = self.book, running.index
        part = next(p for p in book.parts if p.holds(index))
        entries: dict[str, dict[int, RoundEntry]] = {}
        for other in self.rounds.values():
            if other.index != index:
                for name, entry in other.tables.get(key, {}).items():
                    entries.setdefault(name, {})[other.index] = entry
        touching = decisions.for_table(self.adjustments.values(), key)
        excluded = {name: decisions.exclusions(book, adjustments) for name, adjustments in touching.items()}
        expelled = sorted(
            (name for name, adjustments in touching.items() if decisions.excluded_from_championship(adjustments)),
            key=lambda name: (name.casefold(), name),
        )
        own = {**{name: {index: entry} for name, entry in running.tables.get(key, {}).items()}, **entries}
        over = denominator(amounts(own, [a for listed in touching.values() for a in listed]))
        fixed, parts = {}, {}
        for name, by_round in entries.items():
            out = excluded.get(name, {})
            results = items(book, by_round, over)
            outside = {item: u for item, u in results.items() if not part.holds(item[0])}
            drops = dropped(book.parts, outside, out)
            fixed[name] = sum(u for item, u in outside.items() if item not in drops and item[0] not in out)
            inside = [item for item in results if part.holds(item[0])]
            parts[name] = PartTotal(
                part.best, [results[i] for i in inside if i[0] not in out], sum(1 for i in inside if i[0] in out)
            )
        deducted = {name: units(decisions.deducted(adjustments), over) for name, adjustments in touching.items()}
        totals = {
            name: fixed[name] + parts[name].total() - deducted.get(name, 0) for name in entries if name not in expelled
        }
        records = {name: record(name, entries[name], excluded.get(name, {}), len(book.rounds)) for name in entries}
        placed = order(totals.items(), records.__getitem__, book.ties)
        before = {p.name: position for position, p in enumerate(placed, start=1)}
        before.update({name: len(before) + i for i, name in enumerate(expelled, start=1) if name in entries})
        return _Base(
            over, fixed, deducted, parts, totals, before, records, excluded, expelled, PartTotal(part.best, [])
        )

    def _live_table(self, key: TableKey, base: _Base, points: RoundPoints) -> LiveTable:
        running = points.tables.get(key, {})
        totals = dict(base.totals)
        over, by_result = base.over, self.book.config.drops.unit is DropUnit.RESULT
        expelled = [name for name in base.expelled if name in running or name in base.before]
        for name, entry in running.items():
            if name in base.expelled:
                continue
            part = base.parts.get(name, base.empty)
            excluded = points.index in base.excluded.get(name, {})
            live = [units(p, over) for p in entry.result_points] if by_result else [units(entry.points, over)]
            totals[name] = base.fixed.get(name, 0) - base.deducted.get(name, 0) + part.total(live, excluded)

        def tie_record(name: str) -> Record:
            entry = running.get(name)
            known = base.records.get(name)
            if entry is None or points.index in base.excluded.get(name, {}):
                return known or Record.of(name, {}, len(self.book.rounds))
            cached = base.live_records.get(name)
            if cached is None or cached[0] != entry.finishes:
                with_running = (known or Record.of(name, {}, len(self.book.rounds))).adding(
                    points.index, entry.finishes
                )
                cached = base.live_records[name] = (entry.finishes, with_running)
            return cached[1]

        placed = order(totals.items(), tie_record, self.book.ties)
        rows = [
            LiveRow(
                position=position,
                competitor=p.name,
                points=display_units(p.units, over),
                live_points=display(running[p.name].points) if p.name in running else 0.0,
                before=base.before.get(p.name),
            )
            for position, p in enumerate(placed, start=1)
        ]
        rows += [
            LiveRow(
                position=position,
                competitor=name,
                points=0.0,
                live_points=display(running[name].points) if name in running else 0.0,
                before=base.before.get(name),
            )
            for position, name in enumerate(expelled, start=len(rows) + 1)
        ]
        return LiveTable(kind=key[0], class_name=key[1], label=self.book.label(key), rows=rows)


class LiveRound:
    """The running round as a championship fold follows it, lap by lap: only the classes its events touched are
    rescored, and only the tables whose points or finishes changed are recomputed."""

    def __init__(self, season: Season, event: str) -> None:
        self.season = season
        self.event = event
        self._entries: tuple[Mapping[str, Sequence[str]], Collection[str]] | None = None
        self._points: RoundPoints | None = None

    def update(
        self,
        sessions: Mapping[str, Classification],
        crews: Mapping[str, Sequence[str]],
        intermediates: Intermediates | None = None,
        touched: Collection[str | None] | None = None,
        *,
        guests: Collection[str] = frozenset(),
    ) -> LiveStandings:
        """The round's sessions as they stand now (and the classifications at its reached intermediate instants);
        ``touched``: the only class keys (None: overall) whose scoring can have changed since the last update
        (None: any); ``guests``: entries not eligible for points."""
        book = self.season.book
        previous = self._points
        changed: set[str | None] | None = None
        if previous is None or touched is None or (crews, guests) != self._entries:
            points = score_round(book, self.event, sessions, crews, intermediates, guests=guests)
        else:
            fresh = score_round(book, self.event, sessions, crews, intermediates, guests=guests, only=touched)
            changed = {
                key[1]
                for key, held in previous.tables.items()
                if key[1] in touched and _standing(fresh.tables[key]) != _standing(held)
            }
            tables = {key: fresh.tables[key] if key[1] in touched else held for key, held in previous.tables.items()}
            points = structs.replace(fresh, tables=tables)
        self._entries, self._points = (crews, guests), points
        return self.season.live(points, changed)


def _standing(entries: Mapping[str, RoundEntry]) -> dict[str, tuple[object, ...]]:
    """What the live tables read of a round's entries: points and finishes."""
    return {name: (entry.points, entry.result_points, entry.finishes) for name, entry in entries.items()}
