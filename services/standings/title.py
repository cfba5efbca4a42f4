"""Who can still win: the title permutations of a standings table, under the configuration in force.

A competitor's *minimum* is what they have counted from declared results (more results never lower a best-N
total). Their *maximum* adds everything still on offer to them: every scoring session of the rounds to come and of
the running round (the sessions the rules list, a rule for every race of a kind counting one), the intermediate
classifications not reached yet, the bonuses, each share as their crew splits it, dropped scores applied; what the
running round has decided (its sessions over, the intermediate classifications reached) counts as it stands. A
competitor whose maximum is below a rival's minimum (or equal to it, and losing the tie-break even if they win
every race left) is out; one whose minimum no rival's maximum reaches (or only ties, losing the tie-break) has won
the title.

With only the last race left, each contender's conditions are stated on finishing positions: "1st; or 2nd with #7
lower than 3rd". Bonus points still on offer count against the contender, so a condition is sufficient; an exact
tie the count-back cannot settle from positions alone counts against them too. Crew-mates who share every result
are one contender. Pure: plain functions over the rounds' points.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

from msgspec import structs

from schemas.events import SessionKind
from schemas.results import Classification, SessionPhase
from schemas.standings import (
    AwardKind,
    Condition,
    Contender,
    Contenders,
    CountbackPositions,
    DropUnit,
    FastestLapTo,
    LiveRow,
    LiveStandings,
    PointsAdjustment,
    Requirement,
    RoundState,
    SharedDrive,
    Standings,
    TableKind,
    TeamStandings,
    TitleFight,
    TitleStatus,
    TitleTable,
)
from services.standings import adjustments as decisions
from services.standings.bonus import awards_pole
from services.standings.drops import Item, PartTotal, around, dropped
from services.standings.rounds import RoundEntry, RoundPoints
from services.standings.rulebook import RoundRules, Rulebook, TableKey
from services.standings.scales import IntermediateRule, SessionRule
from services.standings.tables import items
from services.standings.ties import Record, tie_key
from services.standings.units import ZERO, denominator, display_units, units

OUT = 0
"""A finishing position out of the points, or no finish."""


@dataclass(frozen=True, slots=True, eq=False)
class Chance:
    """A scoring session still to come, or running: what it can still give (hashed by identity)."""

    round: int
    session: str
    race: bool
    rule: SessionRule | None
    pole: bool
    fastest_lap: bool
    intermediates: tuple[IntermediateRule, ...]
    """Those not reached yet."""
    countback: bool
    """Its finish counts back."""


def chances(book: Rulebook, event: str, sessions: Mapping[str, Classification] | None = None) -> tuple[Chance, ...]:
    """The round's scoring sessions still to come or running: its opened sessions not over yet, and those not
    opened yet: the calendar's (its sessions not cancelled), or without a calendar the sessions its rules score (a
    rule for every race of a kind counts one race; once a race is opened, no qualifying is still to come)."""
    rules = book.round(event)
    opened = dict(sessions or {})
    found: list[Chance] = []
    for slug, classification in sorted(opened.items()):
        over = classification.results is not None or classification.phase is SessionPhase.FINISHED
        chance = None if over else _chance(book, rules, slug, classification.kind, classification)
        if chance is not None:
            found.append(chance)
    if rules.scheduled:  # the calendar lists the round's sessions: those not opened yet are still to come
        for slug, scheduled in rules.scheduled.items():
            chance = None if slug in opened else _chance(book, rules, slug, scheduled.kind, None)
            if chance is not None:
                found.append(chance)
        return tuple(found)
    kinds = {c.kind for c in opened.values()}
    raced = SessionKind.RACE in kinds  # the grid is set: no qualifying is still to come
    for rule in rules.rules:
        if raced and rule.kind is not SessionKind.RACE:
            continue
        missing = sorted(rule.sessions - opened.keys()) if rule.sessions else [] if rule.kind in kinds else [""]
        for slug in missing:
            chance = _chance(book, rules, slug or rule.kind.value, rule.kind, None)
            if chance is not None:
                found.append(chance)
    if rules.pole and not raced and not any(c.pole for c in found) and SessionKind.QUALIFYING not in kinds:
        for slug in rules.bonus.pole_sessions or [SessionKind.QUALIFYING.value]:
            chance = _chance(book, rules, slug, SessionKind.QUALIFYING, None)
            if chance is not None:
                found.append(chance)
    return tuple(found)


def _chance(
    book: Rulebook, rules: RoundRules, slug: str, kind: SessionKind, classification: Classification | None
) -> Chance | None:
    rule = rules.rule_for(slug, kind)
    pole = awards_pole(rules, slug, kind)
    if rule is None and not pole:
        return None
    race = kind is SessionKind.RACE and rule is not None
    started = classification.started_at if classification is not None else None
    reached = set()
    if rule is not None and classification is not None and started is not None:
        reached = {i.at_ms for i in rule.intermediates if classification.as_of >= started + i.at_ms}
    return Chance(
        round=rules.index,
        session=slug,
        race=race,
        rule=rule,
        pole=pole,
        fastest_lap=race and rules.fastest_lap > 0 and (classification is None or rules.awards_fastest_lap(slug)),
        intermediates=tuple(i for i in rule.intermediates if i.at_ms not in reached) if rule is not None else (),
        countback=race and (not book.countback_sessions or slug in book.countback_sessions),
    )


@dataclass(slots=True)
class _Runner:
    """A competitor of the table, as the permutations see them (amounts in units of the table's denominator)."""

    name: str
    declared: dict[int, RoundEntry]
    excluded: dict[int, PointsAdjustment]
    deducted: Fraction
    running: tuple[int, RoundEntry] | None = None
    number: str | None = None
    """Their car in the next race: the last they raced."""
    crew: int = 1
    """Drivers of the table sharing that car."""
    decided: list[Fraction] = field(default_factory=list)
    """The running round's results already decided (its sessions over, the intermediate classifications passed)."""
    decided_finishes: list[int] = field(default_factory=list)
    ahead: dict[int, list[Fraction]] = field(default_factory=dict)
    """Round index to the most each of its sessions still on offer can give them."""
    least: int = 0
    most: int = 0
    record: Record = field(default_factory=lambda: Record("", (), ()))
    """From declared rounds."""
    best: Record = field(default_factory=lambda: Record("", (), ()))
    """Winning every race left."""


@dataclass(frozen=True, slots=True)
class _Table:
    """What every permutation of one table reads."""

    book: Rulebook
    kind: TableKind
    class_key: str | None
    over: int
    remaining: Mapping[int, tuple[Chance, ...]]


def title_fight(
    book: Rulebook,
    key: TableKey,
    rounds: Sequence[RoundPoints],
    adjustments: Sequence[PointsAdjustment],
    open_rounds: Mapping[int, tuple[Chance, ...]],
    order: Sequence[str],
    live: Mapping[str, float],
) -> TitleFight | None:
    """The table's title fight. ``rounds``: every round with points (declared, and the running one as it stands);
    ``open_rounds``: the running round's index to its chances (a round without points has the chances its rules
    give); ``order`` and ``live``: the table as it stands (competitor order, points shown). None without
    competitors."""
    touching = decisions.for_table(adjustments, key)
    runners = _runners(book, key, rounds, touching)
    if not runners:
        return None
    held = {points.index for points in rounds if points.state is not RoundState.RUNNING}
    remaining = {
        rules.index: open_rounds[rules.index] if rules.index in open_rounds else chances(book, event)
        for event, rules in book.rounds.items()
        if rules.index not in held
    }
    seen: dict[tuple[Chance, int], Fraction] = {}

    def most(chance: Chance, crew: int) -> Fraction:
        """The most one competitor takes from a session (remembered: it depends on the crew's size only)."""
        found = seen.get((chance, crew))
        if found is None:
            found = seen[chance, crew] = _most(book, rules_of(book, chance.round), chance, key, crew)
        return found

    for runner in runners.values():
        _decided(runner, remaining)
        runner.ahead = {index: [most(c, runner.crew) for c in found] for index, found in remaining.items()}
    over = denominator(
        p
        for r in runners.values()
        for p in (
            *(q for e in r.declared.values() for q in (e.points, *e.result_points)),
            *r.decided,
            *(q for found in r.ahead.values() for q in found),
            r.deducted,
        )
    )
    table = _Table(book, key[0], key[1], over, remaining)
    for runner in runners.values():
        _bounds(table, runner)
    crews = _units(runners, order)
    status = _statuses(book, {members[0]: runners[members[0]] for members in crews})
    last = _last_race(book, key[0], remaining)
    leader = next((name for name in order if name in runners), None)
    everyone = sorted((runners[members[0]] for members in crews), key=lambda r: -r.most)
    finals = _Finals(table, last) if last is not None else None
    contenders = []
    for members in crews:
        first = runners[members[0]]
        mine = status[first.name]
        if mine is None:
            continue
        racing = finals is not None and mine is TitleStatus.CONTENDER
        conditions = _conditions(finals, first, everyone) if finals is not None and racing else []
        contenders.append(
            Contender(
                competitors=members,
                number=first.number,
                points=display_units(first.least, over),
                live_points=live.get(first.name, 0.0),
                max_points=display_units(first.most, over),
                status=mine,
                leads=leader in members,
                conditions=conditions,
                condition=_words(mine, conditions),
            )
        )
    return TitleFight(
        decided=any(c.status is TitleStatus.CHAMPION for c in contenders),
        remaining=sum(len(found) for found in remaining.values()),
        contenders=contenders,
    )


def contenders(standings: Standings | LiveStandings) -> Contenders:
    """Every table's title fight (the REST API's and ``chequered standings --contenders --format json``'s value)."""
    return Contenders(
        championship=standings.championship,
        live=standings.live,
        tables=[
            TitleTable(kind=t.kind, class_name=t.class_name, label=t.label, title=t.title)
            for t in standings.tables
            if t.title is not None
        ],
    )


def as_it_stands(fight: TitleFight, rows: Sequence[LiveRow]) -> TitleFight:
    """The same fight with the table as it stands now: who leads, the live points, in that order."""
    at = {row.competitor: (row.position, row.points) for row in rows}
    leader = rows[0].competitor if rows else None
    contenders = [
        structs.replace(c, live_points=at.get(c.competitors[0], (0, 0.0))[1], leads=leader in c.competitors)
        for c in fight.contenders
    ]
    contenders.sort(key=lambda c: at.get(c.competitors[0], (len(at) + 1, 0.0))[0])
    return structs.replace(fight, contenders=contenders)


def rules_of(book: Rulebook, index: int) -> RoundRules:
    return next(rules for rules in book.rounds.values() if rules.index == index)


def _runners(
    book: Rulebook, key: TableKey, rounds: Sequence[RoundPoints], touching: Mapping[str, list[PointsAdjustment]]
) -> dict[str, _Runner]:
    """Every competitor of the table but those excluded from the championship, with their car for the next race."""
    expelled = {name for name, listed in touching.items() if decisions.excluded_from_championship(listed)}
    runners: dict[str, _Runner] = {}
    latest: dict[str, tuple[int, str]] = {}
    for points in sorted(rounds, key=lambda p: p.index):
        for name, entry in points.tables.get(key, {}).items():
            if name in expelled:
                continue
            runner = runners.get(name)
            if runner is None:
                listed = touching.get(name, [])
                runner = runners[name] = _Runner(
                    name, {}, decisions.exclusions(book, listed), decisions.deducted(listed)
                )
            if points.state is RoundState.RUNNING:
                runner.running = (points.index, entry)
            else:
                runner.declared[points.index] = entry
            if entry.results:
                latest[name] = (points.index, entry.results[-1].number)
    sharing: dict[tuple[int, str], int] = {}
    for car in latest.values():
        sharing[car] = sharing.get(car, 0) + 1
    for name, car in latest.items():
        runners[name].number = car[1]
        runners[name].crew = sharing[car] if key[0] is TableKind.DRIVERS else 1
    return runners


def _decided(runner: _Runner, remaining: Mapping[int, tuple[Chance, ...]]) -> None:
    """What the running round has decided for the runner: the results of its sessions over, and the intermediate
    points of its race running."""
    if runner.running is None:
        return
    index, entry = runner.running
    open_sessions = {c.session for c in remaining.get(index, ())}
    for result, points, finish in zip(entry.results, entry.result_points, entry.result_finishes, strict=True):
        if result.session not in open_sessions:
            runner.decided.append(points)
            if finish is not None:
                runner.decided_finishes.append(finish)
            continue
        halfway = (
            p
            for award, p in zip(entry.awards, entry.award_points, strict=True)
            if award.kind is AwardKind.INTERMEDIATE
            and award.session == result.session
            and award.number == result.number
        )
        runner.decided.append(sum(halfway, ZERO))


def _most(book: Rulebook, rules: RoundRules, chance: Chance, key: TableKey, crew: int) -> Fraction:
    """The most one competitor of a table can take from a session still on offer."""
    kind, class_key = key
    cars = book.config.standings.manufacturer_cars if kind is TableKind.MANUFACTURERS else 1
    total = ZERO
    if chance.rule is not None:
        scales = [chance.rule.scale_for(class_key), *(b.scale for b in book.bands if b.scale is not None)]
        total += max(sum((s.at(i) for i in range(1, cars + 1)), ZERO) for s in scales) * rules.multiplier
        for intermediate in chance.intermediates:
            total += sum((intermediate.scale.at(i) for i in range(1, cars + 1)), ZERO) * rules.multiplier
        if chance.race:
            total += rules.beyond * cars
    if chance.pole:
        total += rules.pole
    to_driver = book.config.bonus.fastest_lap_to is FastestLapTo.DRIVER
    fastest = rules.fastest_lap if chance.fastest_lap and (kind is TableKind.DRIVERS or not to_driver) else ZERO
    if kind is TableKind.DRIVERS and book.config.shared_drive is SharedDrive.SPLIT and crew > 1:
        return total / crew + (fastest if to_driver else fastest / crew)
    return total + fastest


def _with(table: _Table, declared: Mapping[Item, int], extra: Mapping[int, Iterable[Fraction]]) -> dict[Item, int]:
    """A runner's results as drops count them: the declared ones, and ``extra`` amounts for rounds not declared."""
    out = dict(declared)
    by_result = table.book.config.drops.unit is DropUnit.RESULT
    for index, amounts in extra.items():
        listed = [units(p, table.over) for p in amounts]
        if not listed:
            continue
        if by_result:
            out.update({(index, k): u for k, u in enumerate(listed)})
        else:
            out[index, 0] = sum(listed)
    return out


def _counted(table: _Table, runner: _Runner, results: Mapping[Item, int]) -> int:
    gone = dropped(table.book.parts, results, runner.excluded)
    total = sum(u for item, u in results.items() if item not in gone and item[0] not in runner.excluded)
    return total - units(runner.deducted, table.over)


def _bounds(table: _Table, runner: _Runner) -> None:
    """The runner's minimum and maximum, and their count-back records at worst and at best."""
    running = runner.running[0] if runner.running is not None else None
    extra = {index: [*(runner.decided if index == running else ()), *ahead] for index, ahead in runner.ahead.items()}
    declared = items(table.book, runner.declared, table.over)
    runner.least = _counted(table, runner, declared)
    runner.most = _counted(table, runner, _with(table, declared, extra))
    finishes = {i: e.finishes for i, e in runner.declared.items() if i not in runner.excluded}
    runner.record = Record.of(runner.name, finishes, len(table.book.rounds))
    best = runner.record
    for index, found in table.remaining.items():
        wins = [1] * sum(1 for c in found if c.countback)
        if index == running:
            wins += runner.decided_finishes
        if wins and index not in runner.excluded:
            best = best.adding(index, wins)
    runner.best = best


def _ahead(book: Rulebook, a: Record, b: Record) -> bool:
    """Whether ``a`` is ahead of ``b`` on the tie-breaks (the name settles what nothing else does)."""
    return tie_key(a, book.ties) < tie_key(b, book.ties)


def _statuses(book: Rulebook, runners: Mapping[str, _Runner]) -> dict[str, TitleStatus | None]:
    """Champion, contender, or out (None)."""
    by_least = sorted(runners.values(), key=lambda r: -r.least)
    by_most = sorted(runners.values(), key=lambda r: -r.most)
    out: dict[str, TitleStatus | None] = {}
    for runner in runners.values():
        beaten = False
        for rival in by_least:
            if rival.least < runner.most:
                break
            if rival is not runner and (rival.least > runner.most or _ahead(book, rival.record, runner.best)):
                beaten = True
                break
        if beaten:
            out[runner.name] = None
            continue
        won = True
        for rival in by_most:
            if rival.most < runner.least:
                break
            if rival is not runner and (rival.most > runner.least or not _ahead(book, runner.record, rival.best)):
                won = False
                break
        out[runner.name] = TitleStatus.CHAMPION if won else TitleStatus.CONTENDER
    return out


def _units(runners: Mapping[str, _Runner], order: Sequence[str]) -> list[list[str]]:
    """Every runner, crew-mates sharing every result as one (a title they share), in the order of the table as it
    stands; the first of each is the one the tie-breaks read (the others would follow it only by name)."""
    ranked = [name for name in order if name in runners] + sorted(set(runners) - set(order))
    groups: dict[tuple[object, ...], list[str]] = {}
    for name in ranked:
        r = runners[name]
        same = (r.number, r.least, r.most, r.record.finishes, r.record.latest, r.best.finishes, r.best.latest)
        groups.setdefault(same, []).append(name)
    return list(groups.values())


def _last_race(book: Rulebook, kind: TableKind, remaining: Mapping[int, tuple[Chance, ...]]) -> Chance | None:
    """The one race left, when it is all that is left and each competitor of the table races one car in it."""
    one_car = kind is TableKind.DRIVERS or (
        kind is TableKind.TEAMS and book.config.standings.teams is TeamStandings.ENTRY
    )
    left = [c for found in remaining.values() for c in found]
    if not one_car or len(left) != 1:
        return None
    race = left[0]
    return race if race.race and race.rule is not None and not race.intermediates and not race.pole else None


class _Finals:
    """Each runner's total and count-back record at every finish of the last race: O(1) each, computed once."""

    def __init__(self, table: _Table, race: Chance) -> None:
        assert race.rule is not None
        self.table, self.race = table, race
        self.rules = rules_of(table.book, race.round)
        self.scale = race.rule.scale_for(table.class_key)
        self.positions = [*range(1, len(self.scale.points) + 1), OUT]
        self._seen: dict[tuple[str, int, bool], tuple[int, Record]] = {}
        self._around: dict[str, tuple[int, PartTotal]] = {}

    def of(self, runner: _Runner, position: int, bonuses: bool) -> tuple[int, Record]:
        """If their car finishes at ``position`` (OUT: out of the points, with a finish just behind them when
        ``bonuses``, none otherwise); ``bonuses``: with the bonus points still on offer at that position."""
        key = (runner.name, position, bonuses)
        found = self._seen.get(key)
        if found is None:
            found = self._seen[key] = self._final(runner, position, bonuses)
        return found

    def _final(self, runner: _Runner, position: int, bonuses: bool) -> tuple[int, Record]:
        table, race, rules = self.table, self.race, self.rules
        points = self.scale.at(position) * rules.multiplier
        if rules.beyond and (position > rules.bonus.beyond_position if position != OUT else bonuses):
            points += rules.beyond
        top = rules.bonus.fastest_lap_top
        fastest = bonuses and race.fastest_lap and (not top or OUT != position <= top)
        to_driver = table.book.config.bonus.fastest_lap_to is FastestLapTo.DRIVER
        split = table.kind is TableKind.DRIVERS and table.book.config.shared_drive is SharedDrive.SPLIT
        if split and runner.crew > 1:
            points /= runner.crew
        if fastest and (table.kind is TableKind.DRIVERS or not to_driver):
            points += (
                rules.fastest_lap / runner.crew if split and not to_driver and runner.crew > 1 else rules.fastest_lap
            )
        running = runner.running is not None and runner.running[0] == race.round
        decided = runner.decided if running else []
        over = table.over
        if table.book.config.drops.unit is DropUnit.RESULT:
            live = [units(p, over) for p in (*decided, points)]
        else:
            live = [units(sum(decided, points), over)]
        fixed, part = self._part(runner)
        total = fixed + part.total(live, race.round in runner.excluded) - units(runner.deducted, over)
        finish = position if position != OUT else (len(self.scale.points) + 1 if bonuses else None)
        finishes = [*(runner.decided_finishes if running else ()), *([finish] if finish and race.countback else [])]
        if finishes and race.round not in runner.excluded:
            return total, runner.record.adding(race.round, finishes)
        return total, runner.record

    def _part(self, runner: _Runner) -> tuple[int, PartTotal]:
        held = self._around.get(runner.name)
        if held is None:
            results = items(self.table.book, runner.declared, self.table.over)
            held = self._around[runner.name] = around(self.table.book.parts, results, runner.excluded, self.race.round)
        return held


def _conditions(finals: _Finals, contender: _Runner, everyone: Sequence[_Runner]) -> list[Condition]:
    """The ways ``contender`` wins the title in the last race, best position first (``everyone``: one runner per
    crew sharing every result, strongest first)."""
    least = finals.of(contender, OUT, False)[0]
    rivals = [r for r in everyone if r.name != contender.name and r.most >= least]
    found = []
    for p in finals.positions:
        mine = finals.of(contender, p, False)
        requirements = []
        for rival in rivals:
            if rival.most < mine[0]:
                continue
            lower_than = _threshold(finals, mine, p, contender, rival)
            if lower_than is None:
                break
            if lower_than:
                requirements.append(Requirement(rival=rival.name, number=rival.number, lower_than=lower_than))
        else:
            found.append(Condition(position=p, rivals=requirements))
    return found


def _threshold(finals: _Finals, mine: tuple[int, Record], p: int, contender: _Runner, rival: _Runner) -> int | None:
    """The position the rival must finish lower than for the contender, at ``p``, to stay ahead (0: anywhere); None
    when no result of the rival will do. Positions are tried from the worst up; the first the contender loses to
    sets the requirement."""
    if rival.number is not None and rival.number == contender.number:
        candidates = [p]  # a crew-mate with another history: the same finish
    elif rival.number is None:
        candidates = [OUT]  # not racing
    else:
        candidates = [OUT, *(q for q in reversed(finals.positions) if q not in (OUT, p))]
    for q in candidates:
        if not _beats(finals.table, mine, finals.of(rival, q, True)):
            return None if q in (OUT, p) else q
    return 0


def _beats(table: _Table, mine: tuple[int, Record], theirs: tuple[int, Record]) -> bool:
    if mine[0] != theirs[0]:
        return mine[0] > theirs[0]
    if table.book.config.countback.positions is CountbackPositions.OVERALL and table.class_key is not None:
        return False  # class positions alone cannot settle an overall count-back
    return _ahead(table.book, mine[1], theirs[1])


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _words(status: TitleStatus, conditions: Sequence[Condition], shown: int = 3) -> str:
    """The conditions as a broadcast says them, the first ``shown``: "wins the title if 2nd or better; or 3rd with
    #7 and #9 lower than 2nd"."""
    if status is TitleStatus.CHAMPION:
        return "has won the title"
    if not conditions:
        return ""
    free = [c.position for c in conditions if not c.rivals and c.position != OUT]
    clauses = ["1st" if max(free) == 1 else f"{_ordinal(max(free))} or better"] if free else []
    for c in conditions:
        place = _ordinal(c.position) if c.position != OUT else "out of the points"
        if c.rivals:
            by_place: dict[int, list[str]] = {}
            for r in c.rivals:
                by_place.setdefault(r.lower_than, []).append(f"#{r.number}" if r.number else r.rival)
            needs = "; ".join(f"{_listed(names)} lower than {_ordinal(at)}" for at, names in sorted(by_place.items()))
            clauses.append(f"{place} with {needs}")
        elif c.position == OUT:
            clauses.append(f"{place}: whatever the others do")
    more = "; or ..." if len(clauses) > shown else ""
    return "wins the title if " + "; or ".join(clauses[:shown]) + more


def _listed(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
