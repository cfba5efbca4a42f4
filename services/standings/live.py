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
from fractions import Fraction

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
    StandingsRow,
    TableKind,
    TitleFight,
)
from services.standings import adjustments as decisions
from services.standings.drops import PartTotal, around
from services.standings.rounds import Intermediates, RoundEntry, RoundPoints, score_round
from services.standings.rulebook import Rulebook, TableKey
from services.standings.tables import amounts, items, record, standings
from services.standings.ties import Record, order
from services.standings.title import Chance, as_it_stands, title_fight
from services.standings.units import denominator, display, display_units, units


@dataclass(slots=True)
class _Last:
    """A table's previous lap: what a lap that changed a few competitors' points starts from."""

    entries: Mapping[str, RoundEntry] = field(default_factory=dict)
    totals: dict[str, int] = field(default_factory=dict)
    rows: dict[str, tuple[int, int, Fraction | None, LiveRow]] = field(default_factory=dict)
    """Competitor to (position, total, running points) and the row they made."""


@dataclass(frozen=True, slots=True)
class _Base:
    """One table without the running round, in whole units of 1/``over``."""

    over: int
    """A denominator every amount of the table divides, the running round's included when the base was made."""
    offsets: dict[str, int]
    """Counted points outside the running round's drop part, less deductions."""
    out_now: frozenset[str]
    """Competitors whose result of the running round is excluded."""
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
    last: _Last = field(default_factory=_Last)


@dataclass(slots=True)
class _Running:
    """What ``live`` keeps for a running round: the bases of its tables and its last live tables."""

    bases: dict[TableKey, _Base]
    tables: dict[TableKey, LiveTable] = field(default_factory=dict)
    titles: dict[TableKey, TitleFight | None] = field(default_factory=dict)
    """Each table's title fight: what a lap changes of it is only who leads and the live points (the running
    race's positions are no result yet); made again when the round's sessions or decided results change."""


class Season:
    """Every round's points and the decisions in force; the standings, recomputed only where something changed."""

    def __init__(self, book: Rulebook) -> None:
        self.book = book
        self.rounds: dict[str, RoundPoints] = {}
        self.adjustments: dict[str, PointsAdjustment] = {}
        self.open: dict[int, tuple[Chance, ...]] = {}
        """The running round's index to its scoring sessions still to come or running (its championship fold says);
        a round without points has the sessions its rules give."""
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
            self._running[points.event].titles.clear()

    def adjust(self, adjustment: PointsAdjustment) -> None:
        """A decision on points; raises ``ValueError`` naming what is wrong with it."""
        if problems := decisions.problems(self.book.config, adjustment, self.book.rounds):
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
        """The full standings, every row explained, each table with its title fight."""
        if self._standings is None:
            rounds, adjustments = list(self.rounds.values()), list(self.adjustments.values())
            plain = standings(self.book, rounds, adjustments)
            tables = [
                structs.replace(table, title=self._title(table.kind, table.class_name, table.rows))
                for table in plain.tables
            ]
            self._standings = structs.replace(plain, tables=tables)
        return self._standings

    def _title(
        self, kind: TableKind, class_key: str | None, rows: Sequence[StandingsRow | LiveRow]
    ) -> TitleFight | None:
        order = [row.competitor for row in rows]
        live = {row.competitor: row.points for row in rows}
        rounds, adjustments = list(self.rounds.values()), list(self.adjustments.values())
        return title_fight(self.book, (kind, class_key), rounds, adjustments, self.open, order, live)

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
        if changed is None:
            running.titles.clear()
        tables = []
        for key in self.book.table_keys:
            table = running.tables.get(key) if changed is not None and key[1] not in changed else None
            if table is None:
                base = running.bases.get(key)
                table = self._live_table(key, base, points) if base is not None else None
                if table is None:  # a first lap, or an amount the base's unit does not divide
                    base = running.bases[key] = self._base(key, points)
                    table = self._live_table(key, base, points)
                    assert table is not None
                if key in running.titles:
                    title = running.titles[key]
                    title = as_it_stands(title, table.rows) if title is not None else None
                else:
                    title = running.titles[key] = self._title(key[0], key[1], table.rows)
                table = running.tables[key] = structs.replace(table, title=title)
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
            results = items(book, by_round, over)
            fixed[name], parts[name] = around(book.parts, results, excluded.get(name, {}), index)
        deducted = {name: units(decisions.deducted(adjustments), over) for name, adjustments in touching.items()}
        totals = {
            name: fixed[name] + parts[name].total() - deducted.get(name, 0) for name in entries if name not in expelled
        }
        records = {name: record(name, entries[name], excluded.get(name, {}), len(book.rounds)) for name in entries}
        placed = order(totals.items(), records.__getitem__, book.ties)
        before = {p.name: position for position, p in enumerate(placed, start=1)}
        before.update({name: len(before) + i for i, name in enumerate(expelled, start=1) if name in entries})
        offsets = {name: fixed.get(name, 0) - deducted.get(name, 0) for name in entries.keys() | deducted.keys()}
        out_now = frozenset(name for name, out in excluded.items() if index in out)
        base = _Base(
            over, offsets, out_now, parts, totals, before, records, excluded, expelled, PartTotal(part.best, [])
        )
        base.last.totals = dict(totals)
        return base

    def _live_table(self, key: TableKey, base: _Base, points: RoundPoints) -> LiveTable | None:
        """The table with the running round's points; None when one of them is not a whole number of the base's
        units (a new share: the base is made again). Only the competitors whose running points changed since the
        previous lap are added up again, and a row that did not change is the same row."""
        running = points.tables.get(key, {})
        over, by_result, last = base.over, self.book.config.drops.unit is DropUnit.RESULT, base.last
        changed: dict[str, int] = {}
        for name, entry in running.items():
            held = last.entries.get(name)
            if held is not None and _same(held.points, entry.points) and held.result_points == entry.result_points:
                continue
            amounts = entry.result_points if by_result else (entry.points,)
            if any(over % p.denominator for p in amounts):
                return None
            if name in base.expelled:
                continue
            part = base.parts.get(name, base.empty)
            excluded = name in base.out_now
            live = [p.numerator * (over // p.denominator) for p in amounts]
            changed[name] = base.offsets.get(name, 0) + part.total(live, excluded)
        totals = last.totals
        for name in last.entries.keys() - running.keys():  # a crew changed: back to the season without the round
            if name in base.totals:
                changed[name] = base.totals[name]
            else:
                totals.pop(name, None)
        totals.update(changed)
        last.entries = running

        def tie_record(name: str) -> Record:
            entry = running.get(name)
            known = base.records.get(name)
            if entry is None or name in base.out_now:
                return known or Record.of(name, {}, len(self.book.rounds))
            cached = base.live_records.get(name)
            if cached is None or cached[0] != entry.finishes:
                with_running = (known or Record.of(name, {}, len(self.book.rounds))).adding(
                    points.index, entry.finishes
                )
                cached = base.live_records[name] = (entry.finishes, with_running)
            return cached[1]

        placed = order(totals.items(), tie_record, self.book.ties)
        expelled = [(name, 0) for name in base.expelled if name in running or name in base.before]
        rows = []
        for position, (name, total) in enumerate([*((p.name, p.units) for p in placed), *expelled], start=1):
            scored = running.get(name)
            now = scored.points if scored is not None else None
            row = last.rows.get(name)
            if row is None or row[0] != position or row[1] != total or not _same(row[2], now):
                shown = display_units(total, over) if name not in base.expelled else 0.0
                made = LiveRow(
                    position=position,
                    competitor=name,
                    points=shown,
                    live_points=display(now) if now is not None else 0.0,
                    before=base.before.get(name),
                )
                row = last.rows[name] = (position, total, now, made)
            rows.append(row[3])
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


def _same(a: Fraction | None, b: Fraction | None) -> bool:
    """Equal amounts, the same object first: scoring remembers its awards, so most laps hand back the same ones."""
    return a is b or a == b


def _standing(entries: Mapping[str, RoundEntry]) -> dict[str, tuple[object, ...]]:
    """What the live tables read of a round's entries: points and finishes."""
    return {name: (entry.points, entry.result_points, entry.finishes) for name, entry in entries.items()}
