"""Scoring one round: its sessions' classifications in, every competitor's points of the round out.

A car's points in a session are the scale at its class position (times the
round's multiplier and a shortened race's factor), its bonuses, and the
intermediate points it took in that race. Drivers share them as the
championship says; teams and manufacturers take whole cars.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field

from msgspec import Struct, structs

from schemas.events import ResultsStatus, SessionKind
from schemas.results import CarState, Classification, ClassifiedCar, ResultStatus, SessionPhase
from schemas.standings import Award, AwardKind, ResultRef, RoundState, SharedDrive, TableKind, TeamStandings
from services.standings import bonus
from services.standings.eligibility import car_scores, eligible_drivers, share, why_not_scoring
from services.standings.rulebook import RoundRules, Rulebook, TableKey
from services.standings.scales import PointsScale, SessionRule, shortened_factor
from services.standings.ties import NO_FINISH
from services.standings.units import WHOLE, as_points, scaled

Part = tuple[int, Award]
"""Points in units, and the award that shows them."""
Intermediates = Mapping[str, Mapping[int, Classification]]
"""Session slug to race time (ms) to the classification as it stood then."""


class RoundEntry(Struct, kw_only=True):
    """A competitor's round in one table. Filled while the round is scored, never changed after."""

    units: int = 0
    finishes: list[int] = []
    """Scoring race finishes (in the table's class, or overall): what count-back reads."""
    results: list[ResultRef] = []
    awards: list[Award] = []
    ineligible: list[str] = []


class RoundPoints(Struct, frozen=True, kw_only=True):
    """Everything one round gives, per table and competitor: what the standings add up."""

    event: str
    index: int
    state: RoundState
    sequences: dict[str, int]
    """Session key to the last stream sequence of the classification scored."""
    tables: dict[TableKey, dict[str, RoundEntry]]


@dataclass(slots=True)
class _Car:
    team: str
    manufacturer: str
    entry: RoundEntry = field(default_factory=RoundEntry)


@dataclass(slots=True)
class _Round:
    """The round being scored: per class key, cars by number and drivers by name."""

    def keys_of(self, class_name: str) -> tuple[str | None, ...]:
        keys = self.book.keys_of(class_name)
        return keys if self.only is None else tuple(key for key in keys if key in self.only)

    book: Rulebook
    rules: RoundRules
    crews: Mapping[str, Sequence[str]]
    only: Collection[str | None] | None
    cars: dict[str | None, dict[str, _Car]] = field(default_factory=dict)
    drivers: dict[str | None, dict[str, RoundEntry]] = field(default_factory=dict)


def score_round(
    book: Rulebook,
    event: str,
    sessions: Mapping[str, Classification],
    crews: Mapping[str, Sequence[str]],
    intermediates: Intermediates | None = None,
    *,
    only: Collection[str | None] | None = None,
) -> RoundPoints:
    """Score a round from its sessions' classifications (slug to classification, final or live).

    ``crews`` maps a car number to its drivers (``EntryRegistered.crew``); a car
    missing from it is crewed by the drivers of its drive times. Intermediate
    points need the classification at each ``at_ms`` of the race's rule
    (:func:`services.standings.timeline.classifications_at`); instants not given
    have not been reached and score nothing. ``only`` scores these class keys
    (None: overall) and leaves the other tables empty: a live update rescoring
    the classes whose running order changed.
    """
    rules = book.round(event)
    scoring = _Round(book, rules, crews, only)
    sequences = {}
    for slug, classification in sorted(sessions.items(), key=lambda item: (item[1].started_at or 0, item[0])):
        sequences[classification.session.key] = classification.last_seq
        _score_session(scoring, slug, classification, (intermediates or {}).get(slug, {}))
    return RoundPoints(
        event=event,
        index=rules.index,
        state=round_state(rules, sessions),
        sequences=sequences,
        tables=_tables(scoring),
    )


def _score_session(
    scoring: _Round, slug: str, classification: Classification, at: Mapping[int, Classification]
) -> None:
    rules, config = scoring.rules, scoring.book.config
    kind = classification.kind
    rule = rules.rule_for(slug, kind)
    pole = bonus.awards_pole(rules, slug, kind)
    if rule is None and not pole:
        return
    race = kind is SessionKind.RACE and rule is not None
    over = classification.results is not None or classification.phase is SessionPhase.FINISHED
    factor, shortened = shortened_factor(config.shortened, classification) if race and over else (WHOLE, "")
    min_drive = rules.min_drive_ms if race and over else 0
    must = config.eligibility.must_be_classified
    fastest = bonus.fastest_laps(classification) if race and rules.fastest_lap else {}
    halfway = _intermediates(scoring, rule, slug, at) if rule is not None and rule.intermediates else {}
    for car in classification.cars:
        keys = scoring.keys_of(car.class_name)
        if not keys:
            continue
        scores = car_scores(car.status, must)
        crew = scoring.crews.get(car.number) or [d.driver for d in car.drive_times]
        eligible, short = eligible_drivers(crew, car.drive_times, min_drive)
        reasons = [] if scores else [why_not_scoring(slug, car.number, car.status)]
        result = ResultRef(
            session=slug,
            number=car.number,
            position=car.position,
            class_position=car.class_position,
            status=car.status,
        )
        for key in keys:
            position = car.class_position if key is not None else car.position
            parts: list[Part] = []
            if scores:
                if rule is not None:
                    parts += _position(rules, rule.scale_for(key), slug, car.number, key, position, factor, shortened)
                if race:
                    parts += bonus.race_bonuses(rules, slug, car.number, position, fastest.get(key) == car.number)
                if pole and position == 1:
                    parts.append(bonus.pole(rules, slug, car.number))
            if car.status not in (ResultStatus.DISQUALIFIED, ResultStatus.EXCLUDED):
                parts += halfway.get((key, car.number), ())
            finish = position if race and scores else None
            _add_car(scoring, key, car, result, parts, finish, reasons)
            _add_drivers(scoring, key, slug, crew, eligible, short, result, parts, finish, reasons)


def _position(
    rules: RoundRules,
    scale: PointsScale,
    slug: str,
    number: str,
    key: str | None,
    position: int,
    factor: int,
    shortened: str,
) -> list[Part]:
    points = scale.at(position)
    if not points:
        return []
    units = scaled(points, rules.multiplier, factor)
    detail = f"{'class ' if key is not None else ''}P{position} ({scale.name})"
    if rules.multiplier != WHOLE:
        detail += f" x{rules.multiplier / WHOLE:g}"
    if shortened:
        detail += f"; {shortened}"
    award = Award(kind=AwardKind.POSITION, session=slug, number=number, points=as_points(units), detail=detail)
    return [(units, award)]


def _intermediates(
    scoring: _Round, rule: SessionRule, slug: str, at: Mapping[int, Classification]
) -> dict[tuple[str | None, str], list[Part]]:
    """(class key, car number) to the points it took at the race's intermediate instants: a car still running
    then, at its position then (a car already retired scores nothing, and moves no one up)."""
    out: dict[tuple[str | None, str], list[Part]] = {}
    must = scoring.book.config.eligibility.must_be_classified
    multiplier = scoring.rules.multiplier
    for intermediate in rule.intermediates:
        classification = at.get(intermediate.at_ms)
        if classification is None:
            continue
        for car in classification.cars:
            if not car_scores(car.status, must) or car.state is CarState.RETIRED:
                continue
            for key in scoring.keys_of(car.class_name):
                position = car.class_position if key is not None else car.position
                points = intermediate.scale.at(position)
                if points:
                    units = scaled(points, multiplier)
                    detail = f"{intermediate.label}: {'class ' if key is not None else ''}P{position}"
                    award = Award(
                        kind=AwardKind.INTERMEDIATE,
                        session=slug,
                        number=car.number,
                        points=as_points(units),
                        detail=f"{detail} ({intermediate.scale.name})",
                    )
                    out.setdefault((key, car.number), []).append((units, award))
    return out


def _add_car(
    scoring: _Round,
    key: str | None,
    car: ClassifiedCar,
    result: ResultRef,
    parts: list[Part],
    finish: int | None,
    reasons: list[str],
) -> None:
    cars = scoring.cars.setdefault(key, {})
    haul = cars.get(car.number)
    if haul is None:
        haul = cars[car.number] = _Car(car.team, car.manufacturer)
    else:
        haul.team, haul.manufacturer = car.team, car.manufacturer
    entry = haul.entry
    entry.results.append(result)
    entry.ineligible += reasons
    for units, award in parts:
        entry.units += units
        entry.awards.append(award)
    if finish is not None:
        entry.finishes.append(finish)


def _add_drivers(
    scoring: _Round,
    key: str | None,
    slug: str,
    crew: Sequence[str],
    eligible: list[str],
    short: Mapping[str, str],
    result: ResultRef,
    parts: list[Part],
    finish: int | None,
    reasons: list[str],
) -> None:
    drivers = scoring.drivers.setdefault(key, {})
    mode, n = scoring.book.config.shared_drive, len(eligible)
    if mode is SharedDrive.SPLIT and n > 1:
        shared = [(share(units, n, mode), award) for units, award in parts]
        parts = [(units, structs.replace(award, points=as_points(units))) for units, award in shared]
    units = sum(part[0] for part in parts)
    for driver in crew:
        entry = drivers.get(driver)
        if entry is None:
            entry = drivers[driver] = RoundEntry()
        entry.results.append(result)
        entry.ineligible += reasons
        if driver in short:
            entry.ineligible.append(f"{slug}: {driver} {short[driver]}")
            continue
        entry.units += units
        entry.awards += [part[1] for part in parts]
        if finish is not None:
            entry.finishes.append(finish)


def _best_cars(cars: Mapping[str, _Car], group: Callable[[_Car], str], n: int) -> dict[str, RoundEntry]:
    """Per team or manufacturer, its best ``n`` cars' round: most points, then best finish, then number."""
    grouped: dict[str, list[tuple[str, _Car]]] = {}
    for number, car in cars.items():
        grouped.setdefault(group(car), []).append((number, car))
    out = {}
    for name, members in grouped.items():
        best = sorted(members, key=lambda m: (-m[1].entry.units, min(m[1].entry.finishes, default=NO_FINISH), m[0]))
        chosen = [car.entry for _, car in best[:n]]
        if len(chosen) == 1:
            out[name] = chosen[0]
        else:
            out[name] = RoundEntry(
                units=sum(e.units for e in chosen),
                finishes=sorted(p for e in chosen for p in e.finishes),
                results=[r for e in chosen for r in e.results],
                awards=[a for e in chosen for a in e.awards],
                ineligible=[w for e in chosen for w in e.ineligible],
            )
    return out


def _tables(scoring: _Round) -> dict[TableKey, dict[str, RoundEntry]]:
    tables: dict[TableKey, dict[str, RoundEntry]] = {}
    settings = scoring.book.config.standings
    for kind, key in scoring.book.table_keys:
        cars = scoring.cars.get(key, {})
        if kind is TableKind.DRIVERS:
            tables[kind, key] = scoring.drivers.get(key, {})
        elif kind is TableKind.TEAMS and settings.teams is TeamStandings.ENTRY:
            tables[kind, key] = {f"{car.team} #{number}": car.entry for number, car in cars.items()}
        elif kind is TableKind.TEAMS:
            tables[kind, key] = _best_cars(cars, lambda car: car.team, 1)
        else:
            tables[kind, key] = _best_cars(cars, lambda car: car.manufacturer, settings.manufacturer_cars)
    return tables


def round_state(rules: RoundRules, sessions: Mapping[str, Classification]) -> RoundState:
    """Scheduled without a session; running until every scoring race so far is declared. The ``state`` of
    :func:`score_round`, known without scoring."""
    if not sessions:
        return RoundState.SCHEDULED
    races = [c for slug, c in sessions.items() if c.kind is SessionKind.RACE and rules.rule_for(slug, c.kind)]
    if not races or any(c.results is None for c in races):
        return RoundState.RUNNING
    return RoundState.FINAL if all(c.results is ResultsStatus.FINAL for c in races) else RoundState.PROVISIONAL
