"""From a folded session to its classification: the rules stewards sign.

Races: cars are grouped (classified; not classified and retired; did not
start; disqualified; excluded) and ordered inside each group by distance
(laps, less any deducted), then by total time (start to the last counted
crossing, plus time penalties), then entry order; position drops move a car
down inside its group. Before the chequered flag every car is ``running``.

Practice and qualifying: by best valid lap, ties to who set it first; or, for
SRO-style sessions, by the average of the drivers' best laps (floored to the
millisecond), cars with fewer drivers' times behind.

Positions, gaps and fastest laps are given overall, per class and per
sub-class (a group inside a class: LMP2 Pro/Am, an SRO cup).

A session settles on its own timing clock (``as_of``, the latest event
folded), never a wall clock: once the chequered flag is out, a car that has
not crossed the line within the finish window (``rules.finish_window_ms``, or
the slowest lap of the session) is ``stopped`` and the session ``finished``;
while the race runs, a car silent for ``rules.not_seen_laps`` of its best laps
is ``stopped`` too.

Every decision in force is listed on its car with what it did.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import NamedTuple

from schemas.events import (
    ClassificationRules,
    Flag,
    LapDeleted,
    PenaltyIssued,
    PenaltyKind,
    QualifyingFormat,
    SessionKind,
)
from schemas.results import (
    MESSAGES_IN_VALUE,
    AppliedDecision,
    CarState,
    Classification,
    ClassifiedCar,
    DecisionState,
    Disagreement,
    DriveTime,
    FlagPeriod,
    FlagTime,
    Gap,
    LapRef,
    ResultStatus,
    SessionPhase,
)
from services.classification.car import Bests, CarRecord, keep_fastest_sectors
from services.classification.errors import FoldError
from services.classification.state import SessionState

GROUP_ORDER = {
    ResultStatus.RUNNING: 0,
    ResultStatus.CLASSIFIED: 0,
    ResultStatus.NOT_CLASSIFIED: 1,
    ResultStatus.DID_NOT_FINISH: 1,
    ResultStatus.DID_NOT_START: 2,
    ResultStatus.DISQUALIFIED: 3,
    ResultStatus.EXCLUDED: 4,
}


@dataclass(eq=False)
class Standing:
    """A car's result in the making: what the rules need to order it (compared by identity)."""

    car: CarRecord
    counted: int
    took_flag: bool
    laps: int = 0
    last_crossing: int | None = None
    penalty_ms: int = 0
    laps_deducted: int = 0
    positions_dropped: int = 0
    status: ResultStatus = ResultStatus.RUNNING
    decisions: list[AppliedDecision] = field(default_factory=list)
    qualifying_ms: int | None = None
    qualifying_set_at: int = 0
    missing_drivers: int = 0
    """Average-of-drivers qualifying: drivers short of a time; such cars go behind."""
    total_ms: int | None = None
    start: int = 0
    """The instant its race time is counted from (the start, or its first lap's start without one)."""
    done: bool = False
    """It will not cross the line again in this race: it took the flag or retired, or the race is over."""

    def take(self, fresh: Standing) -> None:
        """Become ``fresh``, the same car's standing made again, in place: the places that name this one stay right.
        (Field by field: compiled (:mod:`services.classification.compiled`), a standing has no ``__dict__``.)"""
        for name in STANDING_FIELDS:
            setattr(self, name, getattr(fresh, name))


STANDING_FIELDS = tuple(f.name for f in fields(Standing))


def _decisions(state: SessionState, over: bool) -> dict[str, list[AppliedDecision]]:
    """Decisions in force per car, and their state; unserved pit penalties convert once the race is over."""
    per_car: dict[str, list[AppliedDecision]] = {}
    for decision_id in sorted(state.decisions):
        decision = state.decisions[decision_id]
        if isinstance(decision, LapDeleted):
            applied = AppliedDecision(
                decision=decision_id, kind=None, state=DecisionState.APPLIED, lap=decision.lap, reason=decision.reason
            )
        else:
            applied = _penalty(decision, decision_id in state.cars[decision.number].served, over)
        per_car.setdefault(decision.number, []).append(applied)
    return per_car


def _penalty(penalty: PenaltyIssued, served: bool, over: bool) -> AppliedDecision:
    in_pit_lane = penalty.kind in (PenaltyKind.DRIVE_THROUGH, PenaltyKind.STOP_AND_GO)
    if not in_pit_lane:
        decision_state = DecisionState.APPLIED
    elif served:
        decision_state = DecisionState.SERVED
    elif over:
        decision_state = DecisionState.CONVERTED
    else:
        decision_state = DecisionState.PENDING
    return AppliedDecision(
        decision=penalty.decision,
        kind=penalty.kind,
        state=decision_state,
        time_ms=penalty.time_ms if decision_state in (DecisionState.APPLIED, DecisionState.CONVERTED) else 0,
        laps=penalty.laps,
        positions=penalty.positions,
        reason=penalty.reason,
    )


def standing(
    state: SessionState, car: CarRecord, decisions: list[AppliedDecision], cutoff: int | None, ended: bool
) -> Standing:
    """What the rules need of one car (``ended``: the race is over, no car will cross the line again)."""
    counted, took_flag = car.counted(state.chequered_at, cutoff)
    s = Standing(car=car, counted=counted, took_flag=took_flag, decisions=decisions)
    s.done = took_flag or car.retired or ended
    if counted:
        s.laps = car.lap_numbers[counted - 1]
        s.last_crossing = car.crossings[counted - 1]
    for d in decisions:
        s.penalty_ms += d.time_ms
        if d.kind is PenaltyKind.LAP_DEDUCTION:
            s.laps_deducted += d.laps
        elif d.kind is PenaltyKind.POSITION_DROP:
            s.positions_dropped += d.positions
        elif d.kind is PenaltyKind.DISQUALIFICATION:
            s.status = ResultStatus.DISQUALIFIED
        elif d.kind is PenaltyKind.EXCLUSION:
            s.status = ResultStatus.EXCLUDED
    s.laps = max(0, s.laps - s.laps_deducted)
    if s.last_crossing is not None:
        s.start = state.started_at if state.started_at is not None else car.crossings[0] - car.laps_ms[0]
        s.total_ms = s.last_crossing - s.start + s.penalty_ms
    return s


def winner_laps(standings: list[Standing]) -> int:
    """The most laps covered by a car not disqualified or excluded: the distance the others' is measured against."""
    return max((s.laps for s in standings if s.status is ResultStatus.RUNNING), default=0)


def settle(state: SessionState, s: Standing, frame: Frame) -> None:
    """What a car's standing means under the session's rules: in a race, its status once over (its distance
    against ``frame.winner_laps``); in practice and qualifying, its time, and its status once over."""
    rules = state.rules
    if frame.race:
        if frame.over and s.status is ResultStatus.RUNNING:
            _race_status(rules, s, frame.winner_laps, frame.cutoff)
    else:
        _qualifying_time(rules, s)
        if s.status is ResultStatus.RUNNING and frame.over:
            s.status = ResultStatus.CLASSIFIED if s.qualifying_ms is not None else ResultStatus.DID_NOT_START


def _race_status(rules: ClassificationRules, s: Standing, winner: int, cutoff: int | None) -> None:
    """Its status once the chequered flag (or a red flag that ended the race, at ``cutoff``) is out."""
    covered = s.laps > 0 and s.laps * 100 >= rules.min_distance_pct * winner
    if not s.car.crossings:
        s.status = ResultStatus.DID_NOT_START
    elif (
        covered
        and (s.took_flag or not rules.must_take_flag or cutoff is not None)
        and (not s.car.retired or rules.retired_classified)
    ):
        s.status = ResultStatus.CLASSIFIED
    elif s.car.retired:
        s.status = ResultStatus.DID_NOT_FINISH
    else:
        s.status = ResultStatus.NOT_CLASSIFIED


def race_key(s: Standing) -> tuple[int, ...]:
    total = s.total_ms if s.total_ms is not None else 0
    return (GROUP_ORDER[s.status], -s.laps, total, s.car.order)


def _qualifying_time(rules: ClassificationRules, s: Standing) -> None:
    if rules.qualifying is QualifyingFormat.BEST_LAP:
        best = s.car.bests(s.counted, rules).lap_index
        if best is not None:
            s.qualifying_ms = s.car.laps_ms[best]
            s.qualifying_set_at = s.car.crossings[best]
    else:
        driver_bests = sorted(s.car.driver_bests(s.counted, rules).values())[: rules.drivers_for_average]
        if driver_bests:
            s.qualifying_ms = sum(ms for ms, _ in driver_bests) // len(driver_bests)
            s.qualifying_set_at = max(at for _, at in driver_bests)
            s.missing_drivers = rules.drivers_for_average - len(driver_bests)


def _qualifying_key(s: Standing) -> tuple[int, ...]:
    timed = 0 if s.qualifying_ms is not None else 1
    return (GROUP_ORDER[s.status], timed, s.missing_drivers, s.qualifying_ms or 0, s.qualifying_set_at, s.car.order)


def _drop_positions(order: list[Standing]) -> list[Standing]:
    """Move each car with a position drop down inside its group, in order of the original result."""
    result = list(order)
    for s in [s for s in order if s.positions_dropped]:
        index = result.index(s)
        group = GROUP_ORDER[s.status]
        last = max(i for i, other in enumerate(result) if GROUP_ORDER[other.status] == group)
        result.insert(min(last, index + s.positions_dropped), result.pop(index))
    return result


def _laps_at(s: Standing, at: int) -> int:
    """The laps ``s`` had completed at instant ``at``, as classified (less any deducted)."""
    done = bisect_right(s.car.crossings, at, 0, s.counted)
    return max(0, s.car.lap_numbers[done - 1] - s.laps_deducted) if done else 0


def _race_time_at(s: Standing, laps: int) -> int | None:
    """The race time of ``s`` (time penalties included) when it had completed ``laps``; None if it never has."""
    index = bisect_left(s.car.lap_numbers, laps + s.laps_deducted, 0, s.counted)
    return s.car.crossings[index] - s.start + s.penalty_ms if index < s.counted else None


def race_gap(car: Standing, ahead: Standing | None) -> Gap | None:
    """The gap at the line: the difference of race times at the last lap count both have completed.

    ``car`` is a lap down only when ``ahead`` had completed more laps than it when it last crossed the line (or,
    while it still runs, when ``ahead`` is more than a lap ahead now: a car stopped on the circuit), never because
    ``ahead`` crossed the line first on the same lap. Time penalties are included: the order includes them.
    """
    if ahead is None or car.laps == 0 or car.total_ms is None or car.last_crossing is None:
        return None
    if car.done or ahead.last_crossing is None or ahead.last_crossing <= car.last_crossing:
        # a car that will not cross again is measured against every lap of the car ahead; so is one that last
        # crossed after all the laps the car ahead counts
        ahead_laps = ahead.laps
    else:
        ahead_laps = max(_laps_at(ahead, car.last_crossing), ahead.laps - 1)
    if ahead_laps > car.laps:
        return Gap(laps=ahead_laps - car.laps)
    # on the same lap, its race time at the line is its total (its last counted lap is that one)
    ahead_time = ahead.total_ms if ahead.laps == car.laps else _race_time_at(ahead, car.laps)
    if ahead_time is None:  # ordered ahead with fewer laps (another group of the result)
        return Gap(laps=ahead.laps - car.laps)
    if not car.done and ahead.laps > car.laps:
        # passed since the last line both crossed, where this car was still ahead: level until it crosses again
        return Gap(ms=max(0, car.total_ms - ahead_time))
    return Gap(ms=car.total_ms - ahead_time)


def _time_gap(car: Standing, ahead: Standing | None) -> Gap | None:
    if ahead is None or car.qualifying_ms is None or ahead.qualifying_ms is None:
        return None
    return Gap(ms=car.qualifying_ms - ahead.qualifying_ms)


def ending(state: SessionState) -> tuple[int | None, bool]:
    """When the finish window closes (None before the chequered flag), and whether the race is over for every car
    (results declared, ended under a red flag, or the window closed)."""
    settled_at = _settled_at(state)
    ended = (
        state.results is not None
        or state.red_cutoff() is not None
        or (settled_at is not None and state.as_of > settled_at)
    )
    return settled_at, ended


def _settled_at(state: SessionState) -> int | None:
    """The end of the finish window: the chequered flag plus the window (None before the flag, or without laps)."""
    window = state.rules.finish_window_ms or state.slowest_lap_ms
    return state.chequered_at + window if state.chequered_at is not None and window else None


def _car_state(state: SessionState, s: Standing, settled_at: int | None, racing: bool) -> CarState:
    car = s.car
    if s.took_flag:
        return CarState.FINISHED
    if car.retired:
        return CarState.RETIRED
    if settled_at is not None and state.as_of > settled_at and car.crossings:
        return CarState.STOPPED  # no crossing within the finish window
    if car.in_pit:
        return CarState.IN_PIT
    if racing and car.not_seen(state.as_of, state.rules):
        return CarState.STOPPED
    if car.out_lap:
        return CarState.OUT_LAP
    return CarState.RUNNING if car.crossings else CarState.NOT_STARTED


def _phase(state: SessionState, standings: list[Standing], cutoff: int | None, settled_at: int | None) -> SessionPhase:
    if state.results is not None or cutoff is not None:
        return SessionPhase.FINISHED
    if state.chequered_at is None:
        return SessionPhase.RUNNING if state.started_at is not None else SessionPhase.SCHEDULED
    on_track = [s for s in standings if s.car.crossings and not s.car.retired and not s.took_flag]
    if not on_track or (settled_at is not None and state.as_of > settled_at):
        return SessionPhase.FINISHED
    return SessionPhase.FINISHING


def flag_periods(state: SessionState) -> list[FlagPeriod]:
    """The session's flag periods as the read models carry them."""
    return [FlagPeriod(flag=period.flag, start=period.start, end=period.end) for period in state.flag_periods]


class Flags(NamedTuple):
    """A session's flag periods as the read models carry them, and what its flags' times are made of: the time
    under each flag in the periods that ended, and the flags still out since when (their time grows with the
    clock)."""

    periods: list[FlagPeriod]
    ended: dict[Flag, int]
    out: list[tuple[Flag, int]]


def flags(state: SessionState) -> Flags:
    ended: dict[Flag, int] = {}
    out: list[tuple[Flag, int]] = []
    for period in state.flag_periods:
        if period.flag is Flag.CHEQUERED:
            continue
        if period.end is None:
            out.append((period.flag, period.start))
        else:
            ended[period.flag] = ended.get(period.flag, 0) + max(0, period.end - period.start)
    return Flags(flag_periods(state), ended, out)


def _time_under_flags(found: Flags, as_of: int) -> list[FlagTime]:
    totals = found.ended
    if found.out:
        totals = dict(totals)
        for flag, start in found.out:
            totals[flag] = totals.get(flag, 0) + max(0, as_of - start)
    return [FlagTime(flag, ms) for flag, ms in sorted(totals.items())]


class _Ahead:
    """The leader and the car ahead inside one group (overall, a class or a sub-class), as the order is walked."""

    __slots__ = ("ahead", "count", "leader")

    def __init__(self, count: int = 0, leader: Standing | None = None, ahead: Standing | None = None) -> None:
        self.count = count
        self.leader = leader
        self.ahead = ahead


class Place(NamedTuple):
    """Where a car stands in the order: its positions, and the cars its gaps are taken to (None: it leads)."""

    position: int
    class_position: int
    sub_class_position: int | None
    leader: Standing | None
    ahead: Standing | None
    class_leader: Standing | None
    class_ahead: Standing | None
    sub_class_leader: Standing | None
    sub_class_ahead: Standing | None


GAP_FIELDS = ("gap", "interval", "class_gap", "class_interval", "sub_class_gap", "sub_class_interval")
"""A row's gaps, each taken to the car a :class:`Place` names from its fourth field on, in this order."""


def places(order: list[Standing], start: int = 0, before: list[Place] | None = None) -> list[Place]:
    """Each car's place, in result order. With ``before``, the places of an order that differs only from index
    ``start`` on: the cars ahead of it keep theirs, and the groups are taken up where they stood there. (Made
    again from where the order changed at each pass: the walk is written out, about 0.6 µs a car.)"""
    found = before[:start] if before is not None else []
    classes: dict[str, _Ahead] = {}
    sub_classes: dict[tuple[str, str], _Ahead] = {}
    count, leader, ahead = _resume(order, found, classes, sub_classes) if found else (0, None, None)
    append = found.append
    for s in order[len(found) :]:
        entry = s.car.entry
        class_name, sub_class = entry.class_name, entry.sub_class
        group = classes.get(class_name)
        if group is None:
            group = classes[class_name] = _Ahead()
        class_leader, class_ahead = group.leader, group.ahead
        group.count += 1
        group.leader, group.ahead = class_leader or s, s
        if sub_class is None:
            sub_position, sub_leader, sub_ahead = None, None, None
        else:
            sub = sub_classes.get((class_name, sub_class))
            if sub is None:
                sub = sub_classes[class_name, sub_class] = _Ahead()
            sub_leader, sub_ahead = sub.leader, sub.ahead
            sub.count += 1
            sub.leader, sub.ahead = sub_leader or s, s
            sub_position = sub.count
        count += 1
        append(Place(count, group.count, sub_position, leader, ahead, class_leader, class_ahead, sub_leader, sub_ahead))
        leader, ahead = leader or s, s
    return found


def _resume(
    order: list[Standing],
    ahead: list[Place],
    classes: dict[str, _Ahead],
    sub_classes: dict[tuple[str, str], _Ahead],
) -> tuple[int, Standing, Standing]:
    """The groups of the cars after ``ahead`` as they stand after it (the last car of each group there is the one it
    resumes from), found walking back from the end of ``ahead``, only as far as the last of them (one car entered
    at the end of the order: a few steps); the overall group's count, leader and last car."""
    wanted: set[str] = set()
    wanted_sub: set[tuple[str, str]] = set()
    for s in order[len(ahead) :]:
        entry = s.car.entry
        wanted.add(entry.class_name)
        if entry.sub_class is not None:
            wanted_sub.add((entry.class_name, entry.sub_class))
    for index in range(len(ahead) - 1, -1, -1):
        if not (wanted or wanted_sub):
            break
        s, place = order[index], ahead[index]
        entry = s.car.entry
        class_name, sub_class = entry.class_name, entry.sub_class
        if class_name in wanted:
            wanted.discard(class_name)
            classes[class_name] = _Ahead(place.class_position, place.class_leader or s, s)
        if sub_class is not None and (class_name, sub_class) in wanted_sub:
            wanted_sub.discard((class_name, sub_class))
            assert place.sub_class_position is not None
            sub_classes[class_name, sub_class] = _Ahead(place.sub_class_position, place.sub_class_leader or s, s)
    return len(ahead), order[0], order[len(ahead) - 1]


GapRule = Callable[[Standing, "Standing | None"], "Gap | None"]


def placed(s: Standing, place: Place, gap: GapRule) -> dict[str, int | Gap | None]:
    """The fields of a car's row that depend on its place: positions, gaps and intervals."""
    return {
        "position": place.position,
        "class_position": place.class_position,
        "sub_class_position": place.sub_class_position,
        **dict(zip(GAP_FIELDS, gaps(s, place, gap), strict=True)),
    }


def gaps(s: Standing, place: Place, gap: GapRule) -> tuple[Gap | None, ...]:
    """A car's gaps, in the order of ``GAP_FIELDS``; a gap to the same car taken once (the leader is often its
    class's leader, the car ahead of the same class)."""
    to_leader, to_ahead = gap(s, place.leader), gap(s, place.ahead)
    class_leader, class_ahead = place.class_leader, place.class_ahead
    to_class_leader = to_leader if class_leader is place.leader else gap(s, class_leader)
    to_class_ahead = to_ahead if class_ahead is place.ahead else gap(s, class_ahead)
    if place.sub_class_position is None:
        return to_leader, to_ahead, to_class_leader, to_class_ahead, None, None
    sub_leader, sub_ahead = place.sub_class_leader, place.sub_class_ahead
    return (
        to_leader,
        to_ahead,
        to_class_leader,
        to_class_ahead,
        to_class_leader if sub_leader is class_leader else gap(s, sub_leader),
        to_class_ahead if sub_ahead is class_ahead else gap(s, sub_ahead),
    )


HOLD_NO_FASTEST = frozenset({ResultStatus.DISQUALIFIED, ResultStatus.EXCLUDED})
"""Statuses whose cars hold no fastest lap (their sectors count for the best sectors)."""


class Fastest(NamedTuple):
    """The session's fastest laps (overall, per class, per sub-class: each in the order of its keys, as a value
    lists them) and best sectors."""

    lap: LapRef | None
    per_class: dict[str, LapRef]
    per_sub_class: dict[tuple[str, str], LapRef]
    sectors: list[int | None]


def fastest_laps(order: list[Standing], bests: dict[str, Bests]) -> Fastest:
    """Fastest lap overall, per class and per sub-class, and the session's best sectors; in result order, so equal
    times go to the car ahead."""
    fastest: LapRef | None = None
    per_class: dict[str, LapRef] = {}
    per_sub_class: dict[tuple[str, str], LapRef] = {}
    sectors: list[int | None] = []
    for s in order:
        best = bests[s.car.number]
        keep_fastest_sectors(sectors, best.sectors)
        if best.lap_index is None or s.status in HOLD_NO_FASTEST:
            continue
        car = s.car
        ms = car.laps_ms[best.lap_index]
        in_class = per_class.get(car.class_name)
        sub_key = (car.class_name, car.sub_class) if car.sub_class is not None else None
        in_sub_class = per_sub_class.get(sub_key) if sub_key is not None else None
        beats_sub_class = sub_key is not None and (in_sub_class is None or ms < in_sub_class.ms)
        if not (fastest is None or ms < fastest.ms or in_class is None or ms < in_class.ms or beats_sub_class):
            continue
        ref = LapRef(
            number=car.number,
            class_name=car.class_name,
            lap=car.lap_numbers[best.lap_index],
            ms=ms,
            sub_class=car.sub_class,
        )
        if fastest is None or ms < fastest.ms:
            fastest = ref
        if in_class is None or ms < in_class.ms:
            per_class[car.class_name] = ref
        if sub_key is not None and beats_sub_class:
            per_sub_class[sub_key] = ref
    return Fastest(fastest, dict(sorted(per_class.items())), dict(sorted(per_sub_class.items())), sectors)


class Frame(NamedTuple):
    """What every car's standing is read against."""

    race: bool
    over: bool
    """The chequered flag is out, or results are declared."""
    cutoff: int | None
    ended: bool
    winner_laps: int
    """Once a race is over: the distance the others' is measured against (:func:`winner_laps`)."""


@dataclass
class Build:
    """A classification and what it was built from: :class:`~services.classification.live.LiveClassification`
    keeps it to update rows, not rebuild them."""

    frame: Frame
    settled_at: int | None
    racing: bool
    key: Callable[[Standing], tuple[int, ...]]
    gap: GapRule
    decisions: dict[str, list[AppliedDecision]]
    standings: list[Standing]
    order: list[Standing]
    places: list[Place]
    bests: dict[str, Bests]
    fastest: Fastest
    rows: list[ClassifiedCar]


def row(state: SessionState, s: Standing, place: Place, build: Build) -> ClassifiedCar:
    """One car's row of the classification (made for every car a value changes: each field read once)."""
    car = s.car
    entry = car.entry
    number = entry.number
    rules = state.rules
    best = build.bests[number]
    best_index = best.lap_index
    counted = s.counted
    if counted:
        last = counted - 1
        last_ms = car.laps_ms[last] or None  # 0: a lap taken from a scoreboard
        personal_best = best_index == last and car.may_be_best(last, rules)
        fastest = build.fastest.lap
        session_best = personal_best and fastest is not None and fastest.number == number
        last_sectors = list(car.sectors[last])
    else:
        last_ms, personal_best, session_best, last_sectors = None, False, False, []
    stints = car.stints(counted)
    drive: dict[str, int] = {}
    for stint in stints:
        if stint.driver is not None:
            drive[stint.driver] = drive.get(stint.driver, 0) + stint.time_ms
    stops = car.pit_stops()
    bounds = car.stint_bounds
    # the last stint after the first began at the last pit out
    laps_at_last_out = bounds[-1].laps_before if len(bounds) > 1 else 0
    best_sectors = best.sectors
    gap, interval, class_gap, class_interval, sub_class_gap, sub_class_interval = gaps(s, place, build.gap)
    return ClassifiedCar(
        position=place.position,
        class_position=place.class_position,
        sub_class_position=place.sub_class_position,
        gap=gap,
        interval=interval,
        class_gap=class_gap,
        class_interval=class_interval,
        sub_class_gap=sub_class_gap,
        sub_class_interval=sub_class_interval,
        number=number,
        class_name=entry.class_name,
        team=entry.team,
        car=entry.car,
        manufacturer=entry.manufacturer,
        driver=car.driver,
        laps=s.laps,
        last_lap_ms=last_ms,
        best_lap_ms=car.laps_ms[best_index] if best_index is not None else None,
        best_lap=car.lap_numbers[best_index] if best_index is not None else None,
        pit_stops=len(stops),
        state=_car_state(state, s, build.settled_at, build.racing),
        last_crossing=s.last_crossing,
        status=s.status,
        took_flag=s.took_flag,
        total_time_ms=s.total_ms if build.frame.race else None,
        penalty_time_ms=s.penalty_ms,
        decisions=s.decisions,
        last_lap_personal_best=personal_best,
        last_lap_session_best=session_best,
        last_sectors_ms=last_sectors,
        best_sectors_ms=list(best_sectors),
        ideal_lap_ms=sum(best_sectors) if best_sectors and None not in best_sectors else None,  # type: ignore[arg-type]
        pit_time_ms=sum([stop.lane_ms or 0 for stop in stops]) if stops else 0,
        laps_since_pit=max(0, counted - laps_at_last_out),
        stops=stops,
        stints=stints,
        drive_times=[DriveTime(name, ms) for name, ms in sorted(drive.items())],
        qualifying_ms=s.qualifying_ms,
        sub_class=entry.sub_class,
        crew=entry.crew,
        scoreboard_laps=car.from_scoreboard(counted),
        scoreboard_position=car.board.position if car.board is not None else None,
        disagreements=[
            Disagreement(what=what, ours=ours, scoreboard=theirs) for what, ours, theirs in car.disagreements
        ]
        if car.disagreements
        else [],
    )


def build(state: SessionState) -> Build:
    """Everything :func:`classify` works out, the rows included."""
    opened = state.opened
    if opened is None:
        raise FoldError(f"session {state.session.key} was never opened")
    rules = opened.rules
    race = opened.kind is SessionKind.RACE
    over = state.chequered_at is not None or state.results is not None
    cutoff = state.red_cutoff()
    decisions = _decisions(state, over)
    settled_at, ended = ending(state)
    standings = [standing(state, car, decisions.get(number, []), cutoff, ended) for number, car in state.cars.items()]
    frame = Frame(race, over, cutoff, ended, winner_laps(standings) if race and over else 0)
    for s in standings:
        settle(state, s, frame)
    key = race_key if race else _qualifying_key
    order = _drop_positions(sorted(standings, key=key))
    bests = {s.car.number: s.car.bests(s.counted, rules) for s in standings}
    racing = race and state.started_at is not None and state.results is None and state.flag is not Flag.RED
    found = Build(
        frame=frame,
        settled_at=settled_at,
        racing=racing,
        key=key,
        gap=race_gap if race else _time_gap,
        decisions=decisions,
        standings=standings,
        order=order,
        places=places(order),
        bests=bests,
        fastest=fastest_laps(order, bests),
        rows=[],
    )
    found.rows = [row(state, s, place, found) for s, place in zip(order, found.places, strict=True)]
    return found


def classification(
    state: SessionState, built: Build, rows: list[ClassifiedCar], found: Flags | None = None
) -> Classification:
    """The classification of ``built`` with these rows (in result order); ``found``: :func:`flags` of ``state``, when
    kept from before."""
    opened = state.opened
    assert opened is not None
    fastest = built.fastest
    found = flags(state) if found is None else found
    return Classification(
        session=state.session,
        name=opened.name,
        kind=opened.kind,
        last_seq=state.last_seq,
        as_of=state.as_of,
        phase=_phase(state, built.standings, built.frame.cutoff, built.settled_at),
        flag=state.flag,
        started_at=state.started_at,
        chequered_at=state.chequered_at,
        length_ms=opened.length.time_ms,
        length_laps=opened.length.laps,
        results=state.results,
        suspended=state.flag is Flag.RED,
        flag_periods=list(found.periods),  # the value's own: ``found`` may be kept for the next
        time_under_flags=_time_under_flags(found, state.as_of),
        fastest_lap=fastest.lap,
        class_fastest_laps=list(fastest.per_class.values()),
        best_sectors_ms=fastest.sectors,
        cars=rows,
        sub_class_fastest_laps=list(fastest.per_sub_class.values()),
        rules=opened.rules,
        messages=state.messages[-MESSAGES_IN_VALUE:],
        message_count=len(state.messages),
    )


def classify(state: SessionState) -> Classification:
    """The classification of a folded session, as of everything folded so far."""
    built = build(state)
    return classification(state, built, built.rows)
