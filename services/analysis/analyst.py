"""A session's analysis, kept in step with its fold: laps placed as they are folded, rebuilt when history changes.

:class:`SessionAnalyst` wraps the classification fold of one session. Its
:meth:`~SessionAnalyst.take` places every lap folded since the last call, in
crossing order, with :mod:`services.analysis.order`; a lap once placed never
changes, so a live chart only ever appends. When an event would change a lap
already placed (a crossing earlier than one placed, a flag or a pit event
dated before a placed crossing, a deleted lap, a class change, an event this
module does not know), the next :meth:`~SessionAnalyst.take` places every lap
anew and says so: the result is always the one a single pass over the whole
log gives (:func:`analyse`), which the property tests check.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from itertools import repeat

from schemas import events
from schemas.analysis import (
    CarAnalysis,
    CarHead,
    CarStints,
    ChartSeries,
    ChartUpdate,
    DriverTime,
    DriveVerdict,
    LapLine,
    PitStopLine,
    SectorBest,
    SectorTime,
    SessionAnalysis,
    StintLine,
)
from schemas.results import ClassifiedCar
from services.analysis.laps import FlagTimeline, PitLaps, is_clean, lap_line, lap_point, may_be_best
from services.analysis.order import BestLapOrder, FastestLaps, Order, RaceOrder
from services.classification.car import CarRecord
from services.classification.fold import ClassificationProjection, SessionFold
from services.classification.rules import flag_periods
from services.structs import carried

APPEND_ONLY = (
    events.SessionOpened,
    events.SessionStarted,
    events.LapCompleted,
    events.LineCrossing,
    events.DriverChanged,
    events.CarRetired,
    events.SessionFinished,
    events.PenaltyIssued,
    events.PenaltyServed,
    events.ResultsDeclared,
)
"""Events that never change a lap already placed (a lap's own order is checked when it is placed)."""

Key = tuple[int, int, int]
"""A lap's place in crossing order: (crossing, the car's entry order, the lap's index in the car's laps)."""


class SessionAnalyst:
    def __init__(self, fold: SessionFold) -> None:
        self.fold = fold
        self._projection = ClassificationProjection()
        self._projection.sessions[fold.session.key] = fold
        self._stale = False
        self._reset()

    def _reset(self) -> None:
        race = self.fold.opened is None or self.fold.opened.kind is events.SessionKind.RACE
        self._order_type: type[RaceOrder] | type[BestLapOrder] = RaceOrder if race else BestLapOrder
        self._overall: Order = self._order_type()
        self._classes: dict[str, Order] = {}
        self._fastest = FastestLaps()
        self._last: Key | None = None
        self.lines: dict[str, list[LapLine]] = {}
        """Per car, its laps placed so far."""
        self.placed: list[tuple[str, LapLine]] = []
        """Every lap placed so far, in crossing order (with its car's number)."""

    # -- folding ------------------------------------------------------------

    def apply(self, seq: int, event: events.Event) -> str | None:
        """Fold one stored event of the session; the reason when the fold refuses it (nothing changes then)."""
        rewrites = self._rewrites(event)
        refused = self._projection.apply(seq, event)
        if refused is not None:
            return refused.reason
        self._stale = self._stale or rewrites
        return None

    def _rewrites(self, event: events.Event) -> bool:
        """Whether the event may change a lap already placed."""
        body = event.body
        if isinstance(body, APPEND_ONLY):
            return False
        if isinstance(body, events.FlagChanged):
            return body.sector is None and self._last is not None and event.at < self._last[0]
        if isinstance(body, events.PitIn | events.PitOut):
            placed = self.lines.get(body.number)
            return placed is not None and event.at < placed[-1].at
        if isinstance(body, events.EntryRegistered):
            car = self.fold.cars.get(body.number)
            return car is not None and body.number in self.lines and car.class_name != body.class_name
        if isinstance(body, events.DecisionWithdrawn):
            return isinstance(self.fold.decisions.get(body.decision), events.LapDeleted)
        return True  # a deleted lap, or an event this module does not know

    def take(self) -> list[tuple[str, LapLine]] | None:
        """Place the laps folded since the last call, in crossing order, and return them; None when every lap
        was placed anew instead (a lap already placed changed): :attr:`lines` then holds them all."""
        if self.fold.opened is None:
            return []
        rebuilt = self._stale
        pending = self._pending()
        if pending and self._last is not None and pending[0][:3] < self._last:
            rebuilt = True
        if rebuilt:
            self._stale = False
            self._reset()
            pending = self._pending()
        new = self._place(pending)
        return None if rebuilt else new

    def _pending(self) -> list[tuple[int, int, int, CarRecord]]:
        pending: list[tuple[int, int, int, CarRecord]] = []
        for car in self.fold.cars.values():
            placed, count = len(self.lines.get(car.number, ())), len(car.crossings)
            if placed < count:
                new = count - placed
                pending += zip(
                    car.crossings[placed:], repeat(car.order, new), range(placed, count), repeat(car, new), strict=True
                )
        pending.sort()  # by (crossing, entry order, index): unique, so a car record is never compared
        return pending

    def _place(self, pending: list[tuple[int, int, int, CarRecord]]) -> list[tuple[str, LapLine]]:
        if not pending:
            return []
        flags = FlagTimeline(self.fold.flag_periods)
        per_car: dict[str, tuple[PitLaps, Order, list[LapLine]]] = {}
        overall, fastest, placed, rules = self._overall, self._fastest, self.placed, self.fold.rules
        new: list[tuple[str, LapLine]] = []
        for at, _, index, car in pending:
            number = car.number
            context = per_car.get(number)
            if context is None:
                class_order = self._classes.get(car.class_name)
                if class_order is None:
                    class_order = self._classes[car.class_name] = self._order_type()
                context = per_car[number] = (PitLaps(car), class_order, self.lines.setdefault(number, []))
            pits, class_order, lines = context
            lap, lap_ms = car.lap_numbers[index], car.laps_ms[index]
            valid = may_be_best(car, index, rules)
            line = lap_line(
                car,
                index,
                valid,
                overall.place(number, lap, at, lap_ms, valid),
                class_order.place(number, lap, at, lap_ms, valid),
                pits,
                flags,
            )
            if valid:
                fastest.offer(number, car.class_name, line.driver, lap, at, lap_ms)
            lines.append(line)
            placed.append((number, line))
            new.append((number, line))
        self._last = pending[-1][:3]
        return new

    # -- read models ----------------------------------------------------------

    def analysis(self) -> SessionAnalysis:
        """The whole read model, in classification order (call :meth:`take` first to place every lap)."""
        fold = self.fold
        opened = fold.opened
        assert opened is not None, "a session that was never opened has no analysis"
        rules = fold.rules
        classification = fold.classification()
        cars = [self._car(row, rules) for row in classification.cars]
        best, class_best = _sector_bests(cars)
        return SessionAnalysis(
            session=fold.session,
            name=opened.name,
            kind=opened.kind,
            time_zone=opened.time_zone,
            track_length_m=opened.track_length_m,
            last_seq=fold.last_seq,
            as_of=fold.as_of,
            started_at=fold.started_at,
            chequered_at=fold.chequered_at,
            results=fold.results,
            min_drive_ms=rules.min_drive_ms,
            max_drive_ms=rules.max_drive_ms,
            flag_periods=classification.flag_periods,
            best_sectors=best,
            class_best_sectors=class_best,
            fastest_laps=list(self._fastest.changes),
            cars=cars,
        )

    def car(self, number: str) -> CarAnalysis | None:
        """One car's part of :meth:`analysis` (None: not in the classification), without the others'."""
        row = next((row for row in self.fold.classification().cars if row.number == number), None)
        return None if row is None else self._car(row, self.fold.rules)

    def _counted(self, car: CarRecord) -> int:
        return car.counted(self.fold.chequered_at, self.fold.red_cutoff())[0]

    def _car(self, row: ClassifiedCar, rules: events.ClassificationRules) -> CarAnalysis:
        car = self.fold.cars[row.number]
        lines = self.lines.get(car.number, [])
        counted = lines[: self._counted(car)]
        stints = self._stints(car)
        stops = _stops(car)
        return carried(
            CarAnalysis,
            car,
            position=row.position,
            class_position=row.class_position,
            status=row.status,
            laps=lines,
            stints=stints,
            stops=stops,
            pit_time_ms=sum(stop.lane_ms or 0 for stop in stops),
            drive_times=_drive_times(car, counted, stints, rules),
            best_sectors=_best_sectors(counted),
        )

    def _stints(self, car: CarRecord) -> list[StintLine]:
        lines = self.lines.get(car.number, [])
        stints = []
        for stint in car.stints(self._counted(car)):
            laps = lines[stint.from_lap - 1 : stint.from_lap - 1 + stint.laps]
            valid = [line.lap_ms for line in laps if line.valid]
            clean = [line.lap_ms for line in laps if is_clean(line)]
            best_ms = min(valid) if valid else None
            average_ms = sum(clean) // len(clean) if clean else None
            stints.append(carried(StintLine, stint, best_ms=best_ms, average_ms=average_ms))
        return stints

    def heads(self, numbers: Iterable[str]) -> list[CarHead]:
        cars = self.fold.cars
        return [
            CarHead(number=n, class_name=cars[n].class_name, team=cars[n].team, driver=cars[n].driver) for n in numbers
        ]

    def car_stints(self, numbers: Iterable[str]) -> list[CarStints]:
        cars = self.fold.cars
        return [CarStints(number=n, stints=self._stints(cars[n]), stops=_stops(cars[n])) for n in numbers]

    def series(self) -> ChartSeries:
        """Every lap placed so far, for charts (call :meth:`take` first)."""
        fold = self.fold
        assert fold.opened is not None, "a session that was never opened has no series"
        classification = fold.classification()
        order = [row.number for row in classification.cars]
        return ChartSeries(
            seq=fold.last_seq,
            session=fold.session,
            name=fold.opened.name,
            session_kind=fold.opened.kind,
            started_at=fold.started_at,
            as_of=fold.as_of,
            flag_periods=classification.flag_periods,
            cars=self.heads(order),
            points=[lap_point(number, line) for number, line in self.placed],
            stints=self.car_stints(order),
        )

    def update(self, base_seq: int, new: list[tuple[str, LapLine]]) -> ChartUpdate:
        """What :meth:`take` placed, as the update of a chart that holds the series up to ``base_seq``."""
        touched = list(dict.fromkeys(number for number, _ in new))
        return ChartUpdate(
            seq=self.fold.last_seq,
            base_seq=base_seq,
            as_of=self.fold.as_of,
            points=[lap_point(number, line) for number, line in new],
            flag_periods=flag_periods(self.fold),  # not a whole classification for them
            cars=self.heads(touched),
            stints=self.car_stints(touched),
        )


def _stops(car: CarRecord) -> list[PitStopLine]:
    stops = []
    for stop in car.pit_stops():
        index = bisect_left(car.lap_numbers, stop.lap)
        driver_in = car.lap_drivers[index] if index < len(car.lap_numbers) else car.driver
        driver_out = None
        if stop.pit_out is not None:
            out = bisect_right(car.crossings, stop.pit_out)
            driver_out = car.lap_drivers[out] if out < len(car.crossings) else car.driver
        stops.append(carried(PitStopLine, stop, driver_in=driver_in, driver_out=driver_out))
    return stops


def _verdict(ms: int, rules: events.ClassificationRules) -> DriveVerdict:
    if rules.min_drive_ms is None and rules.max_drive_ms is None:
        return DriveVerdict.UNJUDGED
    if rules.min_drive_ms is not None and ms < rules.min_drive_ms:
        return DriveVerdict.SHORT
    if rules.max_drive_ms is not None and ms > rules.max_drive_ms:
        return DriveVerdict.OVER
    return DriveVerdict.OK


def _drive_times(
    car: CarRecord, counted: list[LapLine], stints: list[StintLine], rules: events.ClassificationRules
) -> list[DriverTime]:
    """Every driver of the crew (and anyone else who drove), with time at the wheel, laps and stints."""
    categories = {driver.name: driver.category for driver in car.entry.crew}
    names = list(categories) + sorted({s.driver for s in stints if s.driver is not None} - set(categories))
    times = []
    for name in names:
        ms = sum(s.time_ms for s in stints if s.driver == name)
        times.append(
            DriverTime(
                driver=name,
                ms=ms,
                laps=sum(line.driver == name for line in counted),
                stints=sum(s.driver == name for s in stints),
                category=categories.get(name, events.DriverCategory.UNRATED),
                verdict=_verdict(ms, rules),
            )
        )
    return times


def _best_sectors(lines: list[LapLine]) -> list[SectorTime | None]:
    best: list[SectorTime | None] = []
    for line in lines:
        if not line.valid:
            continue
        if len(best) < len(line.sectors_ms):
            best += [None] * (len(line.sectors_ms) - len(best))
        for i, ms in enumerate(line.sectors_ms):
            held = best[i]
            if held is None or ms < held.ms:
                best[i] = SectorTime(ms=ms, lap=line.lap, driver=line.driver)
    return best


def _sector_bests(cars: list[CarAnalysis]) -> tuple[list[SectorBest], list[SectorBest]]:
    """The best of each sector overall and in each class; equal times go to the car ahead in the result."""
    overall: dict[int, SectorBest] = {}
    by_class: dict[tuple[str, int], SectorBest] = {}
    for car in cars:
        for i, time in enumerate(car.best_sectors):
            if time is None:
                continue
            best = SectorBest(
                sector=i + 1, number=car.number, class_name=car.class_name, driver=time.driver, lap=time.lap, ms=time.ms
            )
            if i + 1 not in overall or time.ms < overall[i + 1].ms:
                overall[i + 1] = best
            key = (car.class_name, i + 1)
            if key not in by_class or time.ms < by_class[key].ms:
                by_class[key] = best
    return [overall[s] for s in sorted(overall)], [by_class[k] for k in sorted(by_class)]


def analyse(fold: SessionFold) -> SessionAnalysis:
    """The analysis of a folded session: every lap placed in one pass over its crossings."""
    analyst = SessionAnalyst(fold)
    analyst.take()
    return analyst.analysis()
