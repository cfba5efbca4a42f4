"""Scoring one round: its sessions' classifications in, every competitor's points of the round out.

A car's points in a session are the scale at its *scoring position* (times the round's multiplier and a
shortened race's factor, or a shortened race's own scale), its bonuses, and the intermediate points it took in
that race. A scoring position is a place among the cars of the class (or overall) that score: a result that
scores nothing passes its place down to the cars behind, unless the championship keeps it vacant (a guest entry,
a disqualified car: ``eligibility.vacant``). Drivers share a car's points as the championship says (in full,
split, or nothing for a shared car); teams and manufacturers take whole cars. Every amount is an exact fraction.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache

from msgspec import Struct, structs

from schemas.events import ResultsStatus, SessionKind
from schemas.results import CarState, Classification, ClassifiedCar, ResultStatus, SessionPhase
from schemas.standings import (
    Award,
    AwardKind,
    CountbackPositions,
    FastestLapTo,
    ResultRef,
    RoundState,
    SharedDrive,
    TableKind,
    TeamStandings,
    Vacancy,
)
from services.standings import bonus
from services.standings.bonus import Part, Setter
from services.standings.eligibility import car_scores, eligible_drivers, share, why_not_scoring
from services.standings.rulebook import RoundRules, Rulebook, TableKey
from services.standings.scales import PointsScale, SessionRule, ShortenedBy, shortened
from services.standings.ties import NO_FINISH
from services.standings.units import ONE, ZERO, display

Intermediates = Mapping[str, Mapping[int, Classification]]
"""Session slug to race time (ms) to the classification as it stood then."""


class RoundEntry(Struct, kw_only=True):
    """A competitor's round in one table. Filled while the round is scored, never changed after."""

    points: Fraction = ZERO
    finishes: list[int] = []
    """Scoring race finishes count-back reads (its sessions, its positions)."""
    results: list[ResultRef] = []
    result_finishes: list[int | None] = []
    """Each result's finish for count-back (None: none), in the order of ``results``."""
    result_points: list[Fraction] = []
    """Each result's points, in the order of ``results``: what drops by results count."""
    awards: list[Award] = []
    award_points: list[Fraction] = []
    """Each award's exact points, in the order of ``awards`` (what is decided of a running round)."""
    ineligible: list[str] = []

    def add(self, result: ResultRef, parts: Sequence[Part], finish: int | None, reasons: Sequence[str]) -> None:
        # on every lap of a running race: as few Fraction operations as the parts need
        points = parts[0][0] if len(parts) == 1 else sum((part[0] for part in parts), ZERO)
        self.results.append(result)
        self.result_points.append(points)
        self.result_finishes.append(finish)
        if reasons:
            self.ineligible += reasons
        if points:
            self.points = self.points + points if self.points else points
        if parts:
            self.awards += [part[1] for part in parts]
            self.award_points += [part[0] for part in parts]
        if finish is not None:
            self.finishes.append(finish)


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
        keys = self._keys.get(class_name)
        if keys is None:
            keys = self.book.keys_of(class_name)
            if self.only is not None:
                keys = tuple(key for key in keys if key in self.only)
            self._keys[class_name] = keys
        return keys

    book: Rulebook
    rules: RoundRules
    crews: Mapping[str, Sequence[str]]
    guests: Collection[str]
    only: Collection[str | None] | None
    cars: dict[str | None, dict[str, _Car]] = field(default_factory=dict)
    drivers: dict[str | None, dict[str, RoundEntry]] = field(default_factory=dict)
    _keys: dict[str, tuple[str | None, ...]] = field(default_factory=dict)


def score_round(
    book: Rulebook,
    event: str,
    sessions: Mapping[str, Classification],
    crews: Mapping[str, Sequence[str]],
    intermediates: Intermediates | None = None,
    *,
    guests: Collection[str] = (),
    only: Collection[str | None] | None = None,
) -> RoundPoints:
    """Score a round from its sessions' classifications (slug to classification, final or live).

    ``crews`` maps a car number to its drivers (``EntryRegistered.crew``); a car missing from it is crewed by the
    drivers of its drive times. ``guests``: the numbers of entries not eligible for points. Intermediate points
    need the classification at each ``at_ms`` of the race's rule (``services.standings.fold.classifications_at``);
    instants not given have not been reached and score nothing. ``only`` scores these class keys (None: overall)
    and leaves the other tables empty: a live update rescoring the classes a lap touched.
    """
    rules = book.round(event)
    scoring = _Round(book, rules, crews, guests, only)
    sequences = {}
    for slug, classification in sorted(sessions.items(), key=_in_order):
        sequences[classification.session.key] = classification.last_seq
        _score_session(scoring, slug, classification, (intermediates or {}).get(slug, {}))
    return RoundPoints(
        event=event,
        index=rules.index,
        state=round_state(rules, sessions),
        sequences=sequences,
        tables=_tables(scoring),
    )


def _in_order(item: tuple[str, Classification]) -> tuple[bool, int, str]:
    """Sessions in the order they ran: not started first, then by their start (signed instants), then by slug."""
    started = item[1].started_at
    return started is not None, started or 0, item[0]


def scoring_positions(
    cars: Sequence[ClassifiedCar], scores: Callable[[ClassifiedCar], bool], keeps_place: Callable[[ClassifiedCar], bool]
) -> dict[str, int]:
    """Car number to the place it scores at (``cars`` in classification order): its place among the cars that
    score or keep their place. A disqualified car that keeps its place holds the one it had on the road."""
    placed = [car for car in cars if scores(car) or (keeps_place(car) and car.status is not ResultStatus.DISQUALIFIED)]
    disqualified = [car for car in cars if car.status is ResultStatus.DISQUALIFIED and keeps_place(car)]
    held = sorted((sum(1 for other in placed if _ahead_on_road(other, car)), i) for i, car in enumerate(disqualified))
    for place, i in reversed(held):
        placed.insert(place, disqualified[i])
    return {car.number: position for position, car in enumerate(placed, start=1) if scores(car)}


def _ahead_on_road(car: ClassifiedCar, other: ClassifiedCar) -> bool:
    if car.laps != other.laps:
        return car.laps > other.laps
    return (car.total_time_ms if car.total_time_ms is not None else NO_FINISH) < (
        other.total_time_ms if other.total_time_ms is not None else NO_FINISH
    )


@dataclass(slots=True)
class _Session:
    """What scoring one session needs, worked out once."""

    slug: str
    race: bool
    rule: SessionRule | None
    pole: bool
    cut: ShortenedBy | None
    min_drive: int
    fastest: dict[str | None, list[Setter]]
    countback: bool
    """Its finishes count back."""


def _score_session(
    scoring: _Round, slug: str, classification: Classification, at: Mapping[int, Classification]
) -> None:
    rules, book = scoring.rules, scoring.book
    kind = classification.kind
    rule = rules.rule_for(slug, kind)
    pole = bonus.awards_pole(rules, slug, kind)
    if rule is None and not pole:
        return
    race = kind is SessionKind.RACE and rule is not None
    over = classification.results is not None or classification.phase is SessionPhase.FINISHED
    cut = shortened(book.bands, classification) if race and over else None
    withheld = cut is not None and not rules.bonus.fastest_lap_shortened
    session = _Session(
        slug=slug,
        race=race,
        rule=rule,
        pole=pole,
        cut=cut,
        min_drive=rules.min_drive_ms if race and over else 0,
        fastest=bonus.fastest_laps(classification) if race and rules.awards_fastest_lap(slug) and not withheld else {},
        countback=race and (not book.countback_sessions or slug in book.countback_sessions),
    )
    must = book.config.eligibility.must_be_classified
    vacant = book.config.eligibility.vacant

    def scores(car: ClassifiedCar) -> bool:
        return car.number not in scoring.guests and car_scores(car.status, must)

    def keeps_place(car: ClassifiedCar) -> bool:
        return (Vacancy.GUEST in vacant and car.number in scoring.guests) or (
            Vacancy.DISQUALIFIED in vacant and car.status is ResultStatus.DISQUALIFIED
        )

    halfway = _intermediates(scoring, rule, slug, at, keeps_place) if rule is not None and rule.intermediates else {}
    by_key: dict[str | None, list[ClassifiedCar]] = {}
    for car in classification.cars:
        for key in scoring.keys_of(car.class_name):
            by_key.setdefault(key, []).append(car)
    overall: dict[str, int] | None = None
    if book.config.countback.positions is CountbackPositions.OVERALL and session.countback:
        overall = scoring_positions(classification.cars, scores, keeps_place)
    for key in sorted(by_key, key=lambda key: (key is None, key or "")):
        cars = by_key[key]
        positions = scoring_positions(cars, scores, keeps_place) if key is not None or overall is None else overall
        counted_back = overall if overall is not None else positions
        for car in cars:
            if car.number in scoring.guests:
                continue  # not a competitor of the championship
            position = positions.get(car.number)
            parts: list[Part] = []
            fastest: tuple[Part, Setter] | None = None
            if position is not None:
                parts, fastest = _session_parts(scoring, session, car, key, position)
            if car.status not in (ResultStatus.DISQUALIFIED, ResultStatus.EXCLUDED):
                parts += halfway.get((key, car.number), ())
            finish = counted_back.get(car.number) if session.countback else None
            reasons = [] if position is not None else [why_not_scoring(slug, car.number, car.status)]
            result = ResultRef(
                session=slug,
                number=car.number,
                position=car.position,
                class_position=car.class_position,
                status=car.status,
            )
            to_driver = fastest is not None and book.config.bonus.fastest_lap_to is FastestLapTo.DRIVER
            car_parts = parts if fastest is None or to_driver else _ranked([*parts, fastest[0]])
            _add_car(scoring, key, car, result, car_parts, finish, reasons)
            _add_drivers(scoring, key, session, car, result, parts, fastest, finish, reasons)


_RANK = {AwardKind.POSITION: 0, AwardKind.FASTEST_LAP: 1, AwardKind.BEYOND: 2, AwardKind.POLE: 3}


def _ranked(parts: list[Part]) -> list[Part]:
    """In the order awards are shown: position, fastest lap, beyond, pole, then intermediates."""
    return sorted(parts, key=lambda part: _RANK.get(part[1].kind, len(_RANK)))


def _session_parts(
    scoring: _Round, session: _Session, car: ClassifiedCar, key: str | None, position: int
) -> tuple[list[Part], tuple[Part, Setter] | None]:
    """A scoring car's parts of a session at its scoring position, and its share of the fastest lap (apart: it may
    be the driver's, not the car's) with who set it."""
    rules = scoring.rules
    parts: list[Part] = []
    fastest: tuple[Part, Setter] | None = None
    if session.rule is not None:
        on_road = car.class_position if key is not None else car.position
        scale = session.rule.scale_for(key)
        parts += _position(rules, scale, session.slug, car.number, key, position, on_road, session.cut)
    if session.race:
        setters = session.fastest.get(key, ())
        setter = next((s for s in setters if s.number == car.number), None)
        if setter is not None and (share_ := bonus.fastest_lap(rules, session.slug, setter, len(setters), position)):
            fastest = (share_, setter)
        if (extra := bonus.beyond(rules, session.slug, car.number, position)) is not None:
            parts.append(extra)
    if session.pole and position == 1:
        parts.append(bonus.pole(rules, session.slug, car.number))
    return parts, fastest


@lru_cache(maxsize=8192)
def _position(
    rules: RoundRules,
    scale: PointsScale,
    slug: str,
    number: str,
    key: str | None,
    position: int,
    on_road: int,
    cut: ShortenedBy | None,
) -> tuple[Part, ...]:
    """The scale's points at a position, and the award that explains them. Remembered: on every lap of a running
    race most cars keep their place."""
    multiplier = rules.multiplier
    if cut is not None and cut.scale is not None:
        scale = cut.scale
    points = scale.at(position)
    factor = cut.factor if cut is not None else ONE
    if points and (multiplier != ONE or factor != ONE):
        points = points * multiplier * factor
    if not points:
        return ()
    detail = f"{'class ' if key is not None else ''}P{position} ({scale.name})"
    if on_road != position:
        detail += f", P{on_road} on the road"
    if multiplier != ONE:
        detail += f" x{float(multiplier):g}"
    if cut is not None:
        detail += f"; {cut.why}"
    return (
        (points, Award(kind=AwardKind.POSITION, session=slug, number=number, points=display(points), detail=detail)),
    )


def _intermediates(
    scoring: _Round,
    rule: SessionRule,
    slug: str,
    at: Mapping[int, Classification],
    keeps_place: Callable[[ClassifiedCar], bool],
) -> dict[tuple[str | None, str], list[Part]]:
    """(class key, car number) to the points it took at the race's intermediate instants: a car still running
    then, at its place then (a car already retired scores nothing, and moves no one up)."""
    out: dict[tuple[str | None, str], list[Part]] = {}
    must = scoring.book.config.eligibility.must_be_classified
    multiplier = scoring.rules.multiplier

    def scores(car: ClassifiedCar) -> bool:
        return car.number not in scoring.guests and car_scores(car.status, must) and car.state is not CarState.RETIRED

    def holds(car: ClassifiedCar) -> bool:
        return car.state is CarState.RETIRED or keeps_place(car)

    for intermediate in rule.intermediates:
        classification = at.get(intermediate.at_ms)
        if classification is None:
            continue
        by_key: dict[str | None, list[ClassifiedCar]] = {}
        for car in classification.cars:
            for key in scoring.keys_of(car.class_name):
                by_key.setdefault(key, []).append(car)
        for key, cars in by_key.items():
            for number, position in scoring_positions(cars, scores, holds).items():
                points = intermediate.scale.at(position) * multiplier
                if points:
                    detail = f"{intermediate.label}: {'class ' if key is not None else ''}P{position}"
                    award = Award(
                        kind=AwardKind.INTERMEDIATE,
                        session=slug,
                        number=number,
                        points=display(points),
                        detail=f"{detail} ({intermediate.scale.name})",
                    )
                    out.setdefault((key, number), []).append((points, award))
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
    haul.entry.add(result, parts, finish, reasons)


def _add_drivers(
    scoring: _Round,
    key: str | None,
    session: _Session,
    car: ClassifiedCar,
    result: ResultRef,
    parts: list[Part],
    fastest: tuple[Part, Setter] | None,
    finish: int | None,
    reasons: list[str],
) -> None:
    """Each driver of the crew: the car's parts, shared as the championship says; a fastest lap credited to the
    driver who set it goes to that driver alone, in full."""
    drivers = scoring.drivers.setdefault(key, {})
    config = scoring.book.config
    crew = scoring.crews.get(car.number) or [d.driver for d in car.drive_times]
    eligible, short = eligible_drivers(crew, car.drive_times, session.min_drive)
    mode, n = config.shared_drive, len(eligible)
    to_driver = config.bonus.fastest_lap_to is FastestLapTo.DRIVER
    if fastest is not None and not to_driver:
        parts = _ranked([*parts, fastest[0]])
    why = reasons
    if mode is not SharedDrive.FULL and n > 1:
        parts = [(share(points, n, mode), award) for points, award in parts]
        parts = [(points, structs.replace(award, points=display(points))) for points, award in parts if points]
        if mode is SharedDrive.NONE and not reasons:
            why = [f"{session.slug}: #{car.number} shared by {n} drivers: a shared drive scores nothing"]
            finish = None
    for driver in crew:
        entry = drivers.get(driver)
        if entry is None:
            entry = drivers[driver] = RoundEntry()
        if driver in short:
            entry.add(result, [], None, [*why, f"{session.slug}: {driver} {short[driver]}"])
            continue
        own = parts
        if fastest is not None and to_driver and fastest[1].driver == driver:
            own = _ranked([*parts, fastest[0]])
        entry.add(result, own, finish, why)


def _best_cars(cars: Mapping[str, _Car], group: Callable[[_Car], str], n: int) -> dict[str, RoundEntry]:
    """Per team or manufacturer, its best ``n`` cars' round: most points, then best finish, then number."""
    grouped: dict[str, list[tuple[str, _Car]]] = {}
    for number, car in cars.items():
        grouped.setdefault(group(car), []).append((number, car))
    out = {}
    for name, members in grouped.items():
        best = sorted(members, key=lambda m: (min(m[1].entry.finishes, default=NO_FINISH), m[0]))
        best.sort(key=lambda m: m[1].entry.points, reverse=True)  # stable: most points, then the finish, the number
        chosen = [car.entry for _, car in best[:n]]
        if len(chosen) == 1:
            out[name] = chosen[0]
        else:
            out[name] = RoundEntry(
                points=sum((e.points for e in chosen), ZERO),
                finishes=sorted(p for e in chosen for p in e.finishes),
                results=[r for e in chosen for r in e.results],
                result_points=[p for e in chosen for p in e.result_points],
                result_finishes=[f for e in chosen for f in e.result_finishes],
                awards=[a for e in chosen for a in e.awards],
                award_points=[p for e in chosen for p in e.award_points],
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
