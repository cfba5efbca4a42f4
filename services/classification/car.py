"""One car's timing record: laps, pit stops, stints and bests, folded one event at a time.

Laps are kept as parallel lists (lap number, crossing, lap time, sectors) so a
lap is an append, and the laps that count under a cut-off (the chequered flag,
a red flag that ended the race) are found by bisection. Pit stops and stints
are small Structs (:class:`Stop`, :class:`Stint`). A :class:`CarRecord` is a
msgspec Struct too, so it is its own snapshot format; what it computes once and
keeps (bests, stints and stops already closed) is not part of it.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence

from msgspec import Struct

from schemas import results
from schemas.events import ClassificationRules, EntryRegistered, ScoreboardCar
from services.classification.errors import FoldError


def keep_fastest_sectors(best: list[int | None], sectors: Sequence[int | None]) -> None:
    """Grow ``best`` with None (no time yet) to as many sectors as ``sectors`` and keep the faster time of each."""
    if len(best) < len(sectors):
        best += [None] * (len(sectors) - len(best))
    for i, sector in enumerate(sectors):
        if sector is not None:
            current = best[i]
            if current is None or sector < current:
                best[i] = sector


class Bests:
    """Best valid lap and sectors over a car's counted, undeleted laps."""

    __slots__ = ("lap_index", "sectors")

    def __init__(self) -> None:
        self.lap_index: int | None = None
        self.sectors: list[int | None] = []

    def copy(self) -> Bests:
        copied = Bests()
        copied.lap_index, copied.sectors = self.lap_index, list(self.sectors)
        return copied

    def offer(self, index: int, lap_ms: int, sectors: tuple[int, ...], laps_ms: list[int]) -> None:
        if self.lap_index is None or lap_ms < laps_ms[self.lap_index]:
            self.lap_index = index
        keep_fastest_sectors(self.sectors, sectors)


class Stop(Struct, array_like=True):
    """A pit stop: the in-lap (completed in the pit lane, or in progress at the pit-in line), the pit entry and the
    exit (None while in the pit lane)."""

    lap: int
    pit_in: int
    pit_out: int | None = None


class Stint(Struct, array_like=True):
    """A stint as the fold keeps it: from a start (the green flag, or a pit exit) to the next pit entry."""

    start: int
    laps_before: int
    """Laps the car had completed when the stint began."""
    driver: str | None
    """Its driver until it completes a lap (the laps then say who drove them)."""
    end: int | None = None
    """The pit entry that ended it; None while it goes on."""


class CarRecord(Struct, array_like=True, eq=False, dict=True):
    """Everything the fold keeps of one car. Registered with :meth:`registered`; ``order`` is the order of
    registration (the last tie-break of every ranking)."""

    entry: EntryRegistered
    """As last registered: (re-)registration updates the entry's details, never its timing."""
    order: int
    driver: str | None = None
    """The driver now (the crew's first until a lap or a driver change says otherwise)."""
    lap_numbers: list[int] = []
    crossings: list[int] = []
    laps_ms: list[int] = []
    sectors: list[tuple[int, ...]] = []
    lap_drivers: list[str | None] = []
    deleted: set[int] = set()
    """Lap numbers whose times were deleted (track limits)."""
    no_best: set[int] = set()
    """Lap numbers the timing system did not count for bests (``LapCompleted.counts_for_best`` false)."""
    neutralised: set[int] = set()
    """Lap numbers run, in part at least, under the safety car or a full-course yellow."""
    reported: set[int] = set()
    """Lap numbers of entries made from a scoreboard, not from a passing (their lap time, if any, is the
    scoreboard's best lap)."""
    served: set[str] = set()
    """Decisions (drive-through, stop-and-go) the car has served."""
    stops: list[Stop] = []
    stint_bounds: list[Stint] = []
    in_pit: bool = False
    out_lap: bool = False
    retired: bool = False
    board: ScoreboardCar | None = None
    """The car on the timing system's scoreboard, as last reported."""
    disagreements: list[tuple[results.DisagreementKind, int | None, int | None]] = []
    """(what, ours, the scoreboard's) as of the last scoreboard reported."""

    def __post_init__(self) -> None:
        # computed once and kept, never part of a snapshot: after a restore they are computed again
        self._bests = Bests()
        self._bests_upto = 0
        self._bests_rules: ClassificationRules | None = None
        self._closed_stints: list[results.Stint] = []
        """Stints of ``stint_bounds`` followed by another: final, built once."""
        self._closed_stops: list[results.PitStop] = []
        """Pit stops of ``stops`` but the last: final, built once."""

    @classmethod
    def registered(cls, entry: EntryRegistered, order: int) -> CarRecord:
        return cls(entry, order, driver=entry.crew[0].name)

    def register(self, entry: EntryRegistered) -> None:
        """(Re-)registration updates the entry's details, never its timing."""
        self.entry = entry

    # the entry's details, as last registered

    @property
    def number(self) -> str:
        return self.entry.number

    @property
    def class_name(self) -> str:
        return self.entry.class_name

    @property
    def team(self) -> str:
        return self.entry.team

    @property
    def car(self) -> str:
        return self.entry.car

    @property
    def manufacturer(self) -> str:
        return self.entry.manufacturer

    @property
    def sub_class(self) -> str | None:
        return self.entry.sub_class

    # -- laps -------------------------------------------------------------

    @property
    def last_lap_number(self) -> int:
        return self.lap_numbers[-1] if self.lap_numbers else 0

    def add_lap(
        self, lap: int, at: int, lap_ms: int, sectors: tuple[int, ...], driver: str | None, counts_for_best: bool = True
    ) -> None:
        if not self.stint_bounds:
            # a car with no green-flag stint (joined late, or no session_started) starts its stint here
            self.stint_bounds.append(Stint(at - lap_ms, 0, driver or self.driver))
        if not counts_for_best:
            self.no_best.add(lap)
        self.lap_numbers.append(lap)
        self.crossings.append(at)
        self.laps_ms.append(lap_ms)
        self.sectors.append(sectors)
        self.lap_drivers.append(driver or self.driver)
        if driver:
            self.driver = driver
        self.out_lap = False

    def _index(self, lap: int) -> int | None:
        index = bisect_left(self.lap_numbers, lap)
        return index if index < len(self.lap_numbers) and self.lap_numbers[index] == lap else None

    def correct(self, lap: int, crossing: int | None, lap_ms: int | None, counts_for_best: bool | None) -> None:
        """A lap corrected by the timing system; raises :class:`FoldError`, changing nothing, when the lap was never
        recorded or the new crossing would leave its place between the laps around it."""
        index = self._index(lap)
        if index is None:
            raise FoldError(f"car #{self.number} has no lap {lap} to correct")
        if crossing is not None:
            before = self.crossings[index - 1] if index else None
            after = self.crossings[index + 1] if index + 1 < len(self.crossings) else None
            if (before is not None and crossing < before) or (after is not None and crossing > after):
                raise FoldError(f"the corrected crossing of lap {lap} of car #{self.number} leaves its place")
            self.crossings[index] = crossing
        if lap_ms is not None:
            self.laps_ms[index] = lap_ms
            self.reported.discard(lap)  # the passing reached the feed after all
        if counts_for_best is not None:
            if counts_for_best:
                self.no_best.discard(lap)
            else:
                self.no_best.add(lap)
        self.forget_bests()
        self._closed_stints.clear()  # an earlier lap changed: the stints built once are built again

    def reconcile(self, row: ScoreboardCar, rules: ClassificationRules) -> None:
        """Take what the scoreboard says beyond the passings: its lap count (one entry for the laps since the last
        passing, at the scoreboard's crossing) and its best lap when it was set on a lap no passing showed; then
        note where the two still disagree."""
        self.board = row
        last = self.crossings[-1] if self.crossings else None
        if (
            row.laps is not None
            and row.laps > self.last_lap_number
            and row.last_crossing is not None
            and (last is None or row.last_crossing >= last)
        ):
            self._insert_reported(len(self.lap_numbers), row.laps, row.last_crossing, 0)
        if row.best_lap is not None and row.best_lap_ms is not None:
            self._take_best(row.best_lap, row.best_lap_ms)
        self.disagreements = self._against(row, rules)

    def _take_best(self, lap: int, lap_ms: int) -> None:
        index = bisect_left(self.lap_numbers, lap)
        if index == len(self.lap_numbers):
            return  # beyond the laps known: nothing places it
        if self.lap_numbers[index] == lap:
            if lap in self.reported and self.laps_ms[index] != lap_ms:
                self.laps_ms[index] = lap_ms
                self.no_best.discard(lap)
                self.forget_bests()
            return
        following, later = self.crossings[index], self.lap_numbers[index]
        if index:  # placed between the entries around it, in proportion to the lap numbers
            before, earlier = self.crossings[index - 1], self.lap_numbers[index - 1]
            crossing = before + (following - before) * (lap - earlier) // (later - earlier)
        else:
            crossing = max(0, following - (later - lap) * lap_ms)
        self._insert_reported(index, lap, crossing, lap_ms)

    def _insert_reported(self, index: int, lap: int, at: int, lap_ms: int) -> None:
        if not self.stint_bounds:
            self.stint_bounds.append(Stint(at, 0, self.driver))
        if index < len(self.lap_numbers):  # a lap placed before later ones: the stints after it start a lap later
            for stint in self.stint_bounds:
                if stint.laps_before >= index and stint.laps_before:
                    stint.laps_before += 1
        self.lap_numbers.insert(index, lap)
        self.crossings.insert(index, at)
        self.laps_ms.insert(index, lap_ms)
        self.sectors.insert(index, ())
        self.lap_drivers.insert(index, self.lap_drivers[index] if index < len(self.lap_drivers) else self.driver)
        self.reported.add(lap)
        if not lap_ms:
            self.no_best.add(lap)
        self.forget_bests()
        self._closed_stints.clear()  # the stints after the lap placed start a lap later: built again

    def _against(
        self, row: ScoreboardCar, rules: ClassificationRules
    ) -> list[tuple[results.DisagreementKind, int | None, int | None]]:
        found: list[tuple[results.DisagreementKind, int | None, int | None]] = []
        if row.laps is not None and row.laps != self.last_lap_number:
            found.append((results.DisagreementKind.LAPS, self.last_lap_number, row.laps))
        best = self.bests(len(self.laps_ms), rules).lap_index
        ours = self.laps_ms[best] if best is not None else None
        if row.best_lap_ms is not None and ours != row.best_lap_ms:  # a row without a best says nothing of it
            found.append((results.DisagreementKind.BEST_LAP, ours, row.best_lap_ms))
        return found

    def from_scoreboard(self, upto: int) -> int:
        """Laps counted over the first ``upto`` entries that no passing showed: the distance less the passings."""
        if not upto:
            return 0
        distance = self.lap_numbers[upto - 1]
        reported = sum(1 for lap in self.reported if lap <= distance)
        return distance - (upto - reported)

    def counted(self, chequered_at: int | None, cutoff: int | None) -> tuple[int, bool]:
        """How many recorded laps count, and whether the car took the flag.

        ``cutoff`` (a red flag that ended the race): only crossings before it.
        ``chequered_at``: laps up to and including the first crossing at or after it.
        """
        if cutoff is not None:
            return bisect_left(self.crossings, cutoff), False
        if chequered_at is None:
            return len(self.crossings), False
        first = bisect_left(self.crossings, chequered_at)
        if first < len(self.crossings):
            return first + 1, True
        return len(self.crossings), False

    def may_be_best(self, index: int, rules: ClassificationRules) -> bool:
        """Whether the lap at ``index`` may be a best: not deleted, counted for bests by the timing system, and
        not excluded by the rules (lap 1, laps under the safety car or a full-course yellow)."""
        lap = self.lap_numbers[index]
        if lap in self.deleted or lap in self.no_best:
            return False
        if lap == 1 and not rules.lap_one_counts_for_best:
            return False
        return rules.neutralised_laps_count_for_best or lap not in self.neutralised

    def bests(self, upto: int, rules: ClassificationRules) -> Bests:
        """Bests over the first ``upto`` laps; incremental while laps are appended under the same rules. What it
        returns never changes afterwards (bests over more laps are a new object): a classification holds it."""
        if upto < self._bests_upto or (rules is not self._bests_rules and rules != self._bests_rules):
            self._bests, self._bests_upto, self._bests_rules = Bests(), 0, rules
        if upto > self._bests_upto:
            bests = self._bests.copy()
            for index in range(self._bests_upto, upto):
                if self.may_be_best(index, rules):
                    bests.offer(index, self.laps_ms[index], self.sectors[index], self.laps_ms)
            self._bests, self._bests_upto = bests, upto
        return self._bests

    def not_seen(self, at: int, rules: ClassificationRules) -> bool:
        """Out of the pit lane and silent at ``at`` for ``rules.not_seen_laps`` of its best laps since its last
        crossing: stopped somewhere on the circuit. False before it has a best lap."""
        silent_after = self.silent_after(rules)
        return silent_after is not None and at > silent_after

    def silent_after(self, rules: ClassificationRules) -> int | None:
        """The instant after which the car is :meth:`not_seen` unless it crosses the line or enters the pit lane
        first (None: it cannot be, in the pit lane, retired or without a best lap)."""
        if self.in_pit or self.retired:
            return None
        best = self.bests(len(self.crossings), rules).lap_index
        return None if best is None else self.crossings[-1] + rules.not_seen_laps * self.laps_ms[best]

    def forget_bests(self) -> None:
        """A lap deletion (or its withdrawal) changes which laps may be bests."""
        self._bests, self._bests_upto = Bests(), 0

    def driver_bests(self, upto: int, rules: ClassificationRules) -> dict[str, tuple[int, int]]:
        """Per driver: (best valid lap time, crossing of that lap), over the first ``upto`` laps."""
        best: dict[str, tuple[int, int]] = {}
        for index in range(upto):
            driver = self.lap_drivers[index]
            if driver is None or not self.may_be_best(index, rules):
                continue
            candidate = (self.laps_ms[index], self.crossings[index])
            if driver not in best or candidate < best[driver]:
                best[driver] = candidate
        return best

    # -- pit stops and stints ---------------------------------------------

    def pit_in(self, at: int, from_lap_line: bool) -> None:
        """Enter the pit lane. The pit-in line refines a stop opened by an in-lap at the line."""
        if self.in_pit:
            stop = self.stops[-1]
            if not from_lap_line and stop.pit_out is None and at < stop.pit_in:
                if self.stint_bounds and self.stint_bounds[-1].end == stop.pit_in:
                    self.stint_bounds[-1].end = at
                stop.pit_in = at
            return
        self.in_pit = True
        self.out_lap = False
        # the in-lap: the lap just completed in the pit lane, or the one in progress at the pit-in line
        self.stops.append(Stop(self.last_lap_number if from_lap_line else self.last_lap_number + 1, at))
        if self.stint_bounds and self.stint_bounds[-1].end is None:
            self.stint_bounds[-1].end = at

    def pit_out(self, at: int) -> None:
        if self.in_pit and self.stops:
            self.stops[-1].pit_out = at
        self.in_pit = False
        self.out_lap = True
        self.stint_bounds.append(Stint(at, len(self.crossings), self.driver))

    def start_stint(self, at: int) -> None:
        if not self.stint_bounds:
            self.stint_bounds.append(Stint(at, 0, self.driver))

    def change_driver(self, driver: str) -> None:
        """A driver change; a stint with no lap yet is the new driver's."""
        self.driver = driver
        stint = self.stint_bounds[-1] if self.stint_bounds else None
        if stint is not None and stint.end is None and stint.laps_before == len(self.crossings):
            stint.driver = driver

    def pit_stops(self) -> list[results.PitStop]:
        """Every stop; all but the last are final once folded (only the last stop changes), so they are built once."""
        if not self.stops:
            return []
        closed = self._closed_stops
        while len(closed) < len(self.stops) - 1:
            closed.append(_pit_stop(self.stops[len(closed)]))
        return closed + [_pit_stop(stop) for stop in self.stops[len(closed) :]]

    def stints(self, upto: int) -> list[results.Stint]:
        """Stints over the first ``upto`` laps: from a start (green, or pit out) to the next pit in.

        A stint followed by another is final once folded (later events change only the last one's bounds), so it
        is built once: a classification at every event of a 24-hour race does not rebuild every car's day of stints
        each time. The two events that change earlier laps (a correction, a lap placed from a scoreboard) drop
        what was built.
        """
        bounds = self.stint_bounds
        closed = self._closed_stints
        while len(closed) < len(bounds) - 1:
            closed.append(self._stint(len(closed), bounds[len(closed) + 1].laps_before))
        if bounds and bounds[-1].laps_before <= upto:  # every closed stint ends within ``upto``: the usual case
            return [*closed, self._stint(len(closed), upto)]
        stints = []
        for i, stint in enumerate(bounds):
            if stint.laps_before > upto:
                break
            following = bounds[i + 1].laps_before if i + 1 < len(bounds) else upto
            stints.append(closed[i] if i < len(closed) and following <= upto else self._stint(i, min(following, upto)))
        return stints

    def _stint(self, index: int, last: int) -> results.Stint:
        """The stint of ``stint_bounds[index]``, its laps ending with lap ``last`` (a count of laps)."""
        stint = self.stint_bounds[index]
        start, laps_before, end = stint.start, stint.laps_before, stint.end
        finish = end if end is not None else (self.crossings[last - 1] if last > laps_before else start)
        return results.Stint(
            driver=self.lap_drivers[laps_before] if last > laps_before else stint.driver,
            from_lap=laps_before + 1,
            laps=last - laps_before,
            start=start,
            end=end,
            time_ms=max(0, finish - start),
        )


def _pit_stop(stop: Stop) -> results.PitStop:
    lane_ms = stop.pit_out - stop.pit_in if stop.pit_out is not None else None
    return results.PitStop(lap=stop.lap, pit_in=stop.pit_in, pit_out=stop.pit_out, lane_ms=lane_ms)
