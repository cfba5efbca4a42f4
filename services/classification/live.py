"""The live classification, updated row by row instead of rebuilt.

Most events concern one car (a lap, a pit stop, a driver change), so the
classification after one is the one before with that car's row rebuilt, the
car moved to its new place by insertion (no sort), and only the rows whose
place or gaps it changed amended: the cars it passed, the cars whose gaps are
taken to it. Rows are kept encoded, so the value written to KV is mostly bytes
already made. Races, practice and qualifying alike, before and after the
chequered flag.

The result is the same, byte for byte, as :func:`~services.classification.rules.classify`
over the same state (a property test folds random sessions and compares after
every event). Whatever is not one car's business rebuilds everything through
:func:`~services.classification.rules.build`: a flag, a decision, the chequered
flag, an entry that moves a car to another class, results, the finish window
closing, a lap that changes the winner's distance (every status is measured
against it), a position drop in force; so does a first build after a restore:
nothing here is part of a snapshot.

What is kept between two updates, besides the rows: each car's
:class:`~services.classification.rules.Standing` (updated in place, so the
places that name it stay right), the keys of the order, its place, its best
lap and sectors when last built (a change moves the session's fastest laps),
and the instant it would turn ``stopped`` for not being seen
(``silent_after``), the only way the clock alone changes a row.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Set as AbstractSet
from heapq import heapify, heappop, heappush

import msgspec

from schemas.events import Flag, PenaltyKind
from schemas.results import Classification, ClassifiedCar, LapRef, ResultStatus
from services.classification.car import keep_fastest_sectors
from services.classification.rules import (
    GAP_FIELDS,
    HOLD_NO_FASTEST,
    Build,
    Fastest,
    Flags,
    Frame,
    Place,
    Standing,
    build,
    classification,
    ending,
    fastest_laps,
    flags,
    placed,
    places,
    row,
    settle,
    standing,
)
from services.classification.state import SessionState

_encoder = msgspec.json.Encoder()
_CARS = b'"cars":['

Epoch = tuple[object, ...]
"""What a fast update needs unchanged since the last build: the session's opening, whether the red flag is out,
start, finish, results, entries and decisions, whether it has ended and whether its finish window has closed (on
the session's clock). The red flag is the only flag that changes rows (a suspended race stops no car for being
silent; a race ended under it is cut off there); any other changes only the value's flag periods, made again for
each value, and the finish is the instant of the chequered flag, not the flag."""


def _epoch(state: SessionState) -> tuple[Epoch, int | None]:
    """The session's epoch, and when its finish window closes (it moves with the slowest lap: only whether it has
    closed changes a row)."""
    settled_at, ended = ending(state)
    closed = settled_at is not None and state.as_of > settled_at  # every car still out is ``stopped``
    epoch = (
        id(state.opened),
        state.flag is Flag.RED,
        state.started_at,
        state.chequered_at,
        state.results,
        len(state.decisions),
        ended,
        closed,
    )
    return epoch, settled_at


class LiveClassification:
    """The last classification of one session, by row, and what it was built from; see the module."""

    def __init__(self) -> None:
        self._built: Build | None = None
        self._epoch: Epoch = ()
        self._fast = False
        """Whether rows may be updated one car at a time: not with a position drop (it moves a car inside its group)."""
        self._rows: dict[str, ClassifiedCar] = {}
        self._numbers: list[str] = []
        """The cars in result order."""
        self._blobs: list[bytes] = []
        """Their rows encoded, in the same order (a row's position is its index + 1)."""
        self._keys: list[tuple[int, ...]] = []
        """Their ordering keys, in the same order."""
        self._standings: dict[str, Standing] = {}
        self._places: dict[str, Place] = {}
        self._bests: dict[str, Best] = {}
        self._best_times: Counter[int] = Counter()
        """How many cars hold each best lap time: with no two alike, the order cannot move a fastest lap."""
        self._shared_times = 0
        """How many best lap times more than one car holds."""
        self._silent_after: dict[str, int | None] = {}
        self._silences: list[tuple[int, str]] = []
        """A heap of (``silent_after``, car), stale entries included: the next car the clock may turn ``stopped``."""
        self._flags: tuple[tuple[object, ...], Flags] | None = None
        """The session's :func:`~services.classification.rules.flags`, and the last of its periods they were made
        with."""

    def update(self, state: SessionState, touched: set[str] | None) -> None:
        """Bring the rows up to ``state``; ``touched``: the cars changed since the last update (None: anything may
        have changed)."""
        epoch, settled_at = _epoch(state)
        if touched is None or not self._fast or self._epoch != epoch or not self._update(state, touched, settled_at):
            self._rebuild(state)
            self._epoch = epoch

    def classification(self, state: SessionState) -> Classification:
        built = self._built
        assert built is not None, "update() first"
        return classification(state, built, [self._rows[number] for number in self._numbers], self._flags_of(state))

    def encoded(self, state: SessionState) -> bytes:
        """What :func:`~schemas.results.encode_classification` gives for :meth:`classification`, from the rows
        kept encoded: the value without its cars, with the cars spliced in."""
        built = self._built
        assert built is not None, "update() first"
        head = _encoder.encode(classification(state, built, [], self._flags_of(state)))
        at = head.index(_CARS) + len(_CARS)  # the first: no string holds an unescaped quote
        blobs = self._blobs
        if not blobs:
            return head
        # one join, one copy of each row (a 24-hour race's value is some 300 KB): the head goes with the first and
        # last rows for the join, which are put back after it
        first, last = blobs[0], blobs[-1]
        blobs[0] = head[:at] + first
        blobs[-1] += head[at:]
        try:
            return b",".join(blobs)
        finally:
            blobs[0], blobs[-1] = first, last

    def _flags_of(self, state: SessionState) -> Flags:
        """The session's flags, made again only when its periods changed: a flag shown adds a period or changes
        the last one (ends it, or replaces it when shown at the same instant), never one before."""
        periods = state.flag_periods
        last = periods[-1] if periods else None
        since = (len(periods), last.flag, last.start, last.end) if last is not None else ()
        if self._flags is None or self._flags[0] != since:
            self._flags = since, flags(state)
        return self._flags[1]

    # -- a whole build ------------------------------------------------------

    def _rebuild(self, state: SessionState) -> None:
        built = self._built = build(state)
        self._fast = not any(d.kind is PenaltyKind.POSITION_DROP for ds in built.decisions.values() for d in ds)
        self._rows = {r.number: r for r in built.rows}
        self._numbers = [r.number for r in built.rows]
        self._blobs = [_encoder.encode(r) for r in built.rows]
        self._keys = [built.key(s) for s in built.order]
        self._standings = dict(zip(self._numbers, built.order, strict=True))
        self._places = dict(zip(self._numbers, built.places, strict=True))
        self._bests = {number: self._best_of(s, built) for number, s in self._standings.items()}
        self._best_times = Counter([ms for _, ms, _ in self._bests.values() if ms is not None])
        self._shared_times = sum(1 for n in self._best_times.values() if n > 1)
        rules = state.rules
        self._silent_after = {number: s.car.silent_after(rules) for number, s in self._standings.items()}
        self._silences = [(at, n) for n, at in self._silent_after.items() if at is not None and at >= state.as_of]
        heapify(self._silences)

    @staticmethod
    def _best_of(s: Standing, built: Build) -> Best:
        best = built.bests[s.car.number]
        index = best.lap_index
        return index, None if index is None else s.car.laps_ms[index], tuple(best.sectors)

    # -- one car at a time --------------------------------------------------

    def _update(self, state: SessionState, touched: set[str], settled_at: int | None) -> bool:
        """Rebuild the rows of the ``touched`` cars and amend those they reach; False when it takes a whole build
        (a car moved to another class, or one that moved the winner's distance)."""
        built = self._built
        assert built is not None
        built.settled_at = settled_at
        dirty = set(touched)
        if built.racing:  # the clock alone turns a car silent for too long ``stopped``
            silences = self._silences
            while silences and silences[0][0] < state.as_of:
                at, number = heappop(silences)
                if self._silent_after[number] == at:
                    dirty.add(number)
        if not dirty:
            return True
        start = self._move(state, dirty)
        if start is None:
            return False
        moved = start < len(built.order)
        dirty |= self._new_fastest(state, dirty, moved)
        replaced: set[str] = set()
        if moved:
            built.places = places(built.order, start, built.places)
            for number, place in zip(self._numbers[start:], built.places[start:], strict=True):
                if place != self._places.get(number):
                    self._places[number] = place
                    replaced.add(number)
        gaps: dict[str, set[int]] = {}
        for number in dirty:
            for follower, slot in self._followers(number):
                gaps.setdefault(follower, set()).add(slot)
        rules = state.rules
        for number in dirty:
            s = self._standings[number]
            self._store(row(state, s, self._places[number], built))
            silent_after = self._silent_after[number] = s.car.silent_after(rules)
            if silent_after is not None:
                heappush(self._silences, (silent_after, number))
        for number in (replaced | gaps.keys()) - dirty:
            self._amend(number, ALL_GAPS if number in replaced else gaps[number], built)
        return True

    def _move(self, state: SessionState, dirty: set[str]) -> int | None:
        """Each dirty car's standing afresh, and its place in the order by insertion (a car entered since: its
        first place); the first index of the order that changed (its length: none). None when it takes a whole
        build: a car changed the distance the others' is measured against, or its class."""
        built = self._built
        assert built is not None
        frame, order, keys, numbers, blobs = built.frame, built.order, self._keys, self._numbers, self._blobs
        start: int | None = None
        for number in sorted(dirty):
            car = state.cars[number]
            fresh = standing(state, car, built.decisions.get(number, []), frame.cutoff, frame.ended)
            s = self._standings.get(number)
            if s is None:
                s = self._standings[number] = fresh
                built.standings.append(s)
                old = None
            else:
                old = self._places[number].position - 1  # as last placed: another car moved here may shift it
                if old >= len(order) or order[old] is not s:
                    old = bisect_left(keys, built.key(s))
                assert order[old] is s
                past = self._rows[number]
                if (past.class_name, past.sub_class) != (car.class_name, car.sub_class):
                    return None
                if _moves_the_distance(frame, s, fresh):
                    return None
            settle(state, fresh, frame)
            s.take(fresh)
            key = built.key(s)
            if old is not None and not ((old + 1 < len(keys) and keys[old + 1] < key) or (old and keys[old - 1] > key)):
                keys[old] = key
                continue
            if old is not None:
                del order[old], keys[old], numbers[old], blobs[old]
            new = bisect_left(keys, key)
            order.insert(new, s)
            keys.insert(new, key)
            numbers.insert(new, number)
            blobs.insert(new, b"")  # a dirty car's row is stored afresh
            start = min(new, old if old is not None else new, len(order) if start is None else start)
        return len(order) if start is None else start

    def _new_fastest(self, state: SessionState, dirty: set[str], moved: bool) -> set[str]:
        """The session's fastest laps and best sectors after the dirty cars' bests changed (or the order did, with
        two best laps alike: the car ahead holds it); the cars whose row that changes. A best improved by laps
        appended is taken where it beats what is held; anything else takes a walk over the order."""
        built = self._built
        assert built is not None
        again = moved and self._shared_times > 0
        fastest = built.fastest
        for number in dirty:
            s = self._standings[number]
            built.bests[number] = s.car.bests(s.counted, state.rules)
            best, old = self._best_of(s, built), self._bests.get(number, NO_BEST)
            if best == old:
                continue
            self._bests[number] = best
            times = self._best_times
            if old[1] is not None:
                times[old[1]] -= 1
                self._shared_times -= times[old[1]] == 1  # no longer shared
            if best[1] is not None:
                times[best[1]] += 1
                self._shared_times += times[best[1]] == 2  # shared now
            if not again:
                taken = _taken(fastest, s, best) if _improves(old, best) else None
                again = taken is None
                fastest = taken or fastest
        if again:
            fastest = fastest_laps(built.order, built.bests)
        before, after = built.fastest.lap, fastest.lap
        built.fastest = fastest
        if (before and before.number) == (after and after.number):
            return set()
        return {ref.number for ref in (before, after) if ref is not None}  # its row says if its last lap is the best

    def _followers(self, number: str) -> list[tuple[str, int]]:
        """The cars whose gaps are taken to car ``number``, each with which gap (an index in ``GAP_FIELDS``): in each
        of its groups (all, its class, its sub-class), the next car's interval, and every car's gap when it leads.
        One walk down the order from the car, as far as the groups reach."""
        place = self._places[number]
        car = self._standings[number].car
        class_name, sub_class = car.class_name, car.sub_class
        leads = place.position == 1
        leads_class = place.class_position == 1
        leads_sub_class = sub_class is not None and place.sub_class_position == 1
        next_overall, next_in_class, next_in_sub_class = True, True, sub_class is not None
        standings = self._standings
        found: list[tuple[str, int]] = []
        for other_number in self._numbers[place.position :]:
            if next_overall or leads:
                if next_overall:
                    found.append((other_number, 1))
                    next_overall = False
                if leads:
                    found.append((other_number, 0))
            if next_in_class or leads_class or next_in_sub_class or leads_sub_class:
                other = standings[other_number].car
                if other.class_name == class_name:
                    if next_in_class:
                        found.append((other_number, 3))
                        next_in_class = False
                    if leads_class:
                        found.append((other_number, 2))
                    if sub_class is not None and other.sub_class == sub_class:
                        if next_in_sub_class:
                            found.append((other_number, 5))
                            next_in_sub_class = False
                        if leads_sub_class:
                            found.append((other_number, 4))
            elif not leads:
                break
        return found

    def _amend(self, number: str, slots: AbstractSet[int], built: Build) -> None:
        """A row whose place, or a car its gaps are taken to, changed: its positions and those gaps afresh."""
        current = self._rows[number]
        s, place = self._standings[number], self._places[number]
        if slots is ALL_GAPS:
            fields = placed(s, place, built.gap)
            changes = {name: value for name, value in fields.items() if getattr(current, name) != value}
        else:
            changes = {}
            gap = built.gap
            for slot in slots:
                name, value = GAP_FIELDS[slot], gap(s, place[3 + slot])  # type: ignore[arg-type]
                if getattr(current, name) != value:
                    changes[name] = value
        if changes:
            self._store(msgspec.structs.replace(current, **changes))

    def _store(self, new: ClassifiedCar) -> None:
        self._rows[new.number] = new
        self._blobs[new.position - 1] = _encoder.encode(new)


ALL_GAPS = frozenset(range(len(GAP_FIELDS)))

Best = tuple[int | None, int | None, tuple[int | None, ...]]
"""A car's best as last built: the index of its best lap, that lap's time, its best sectors."""
NO_BEST: Best = (None, None, ())


def _moves_the_distance(frame: Frame, was: Standing, now: Standing) -> bool:
    """Whether a car's new distance changes the winner's, which every status of a finished race is measured
    against: it covers more, or it was the one that covered the most."""
    if not (frame.race and frame.over and now.status is ResultStatus.RUNNING and now.laps != was.laps):
        return False
    return now.laps > frame.winner_laps or was.laps == frame.winner_laps


def _taken(fastest: Fastest, s: Standing, best: Best) -> Fastest | None:
    """``fastest`` once car ``s``'s best improved to ``best``: each fastest lap it beats, or holds already, is its new
    best lap, its sectors count for the best sectors; None when only the walk over the order can say (a time alike
    another car's: the car ahead holds it)."""
    car = s.car
    sectors = list(fastest.sectors)
    keep_fastest_sectors(sectors, best[2])  # the least of each car's: order does not matter
    index, ms, _ = best
    if index is None or ms is None or s.status in HOLD_NO_FASTEST:
        return fastest._replace(sectors=sectors)

    def takes(held: LapRef | None) -> bool | None:
        if held is None or held.number == car.number or ms < held.ms:
            return True
        return None if ms == held.ms else False

    class_name, sub_class = car.class_name, car.sub_class
    overall, in_class = takes(fastest.lap), takes(fastest.per_class.get(class_name))
    in_sub_class = takes(fastest.per_sub_class.get((class_name, sub_class))) if sub_class is not None else False
    if overall is None or in_class is None or in_sub_class is None:
        return None
    ref = LapRef(number=car.number, class_name=class_name, lap=car.lap_numbers[index], ms=ms, sub_class=sub_class)
    per_class, per_sub_class = fastest.per_class, fastest.per_sub_class
    if in_class:
        per_class = dict(sorted({**per_class, class_name: ref}.items()))
    if in_sub_class and sub_class is not None:
        per_sub_class = dict(sorted({**per_sub_class, (class_name, sub_class): ref}.items()))
    return Fastest(ref if overall else fastest.lap, per_class, per_sub_class, sectors)


def _improves(old: Best, new: Best) -> bool:
    """Whether ``new`` is as good as ``old`` or better in every part: what laps appended can do (a correction or
    a deletion can make a best worse)."""
    if (old[1] is not None and (new[1] is None or new[1] > old[1])) or len(new[2]) < len(old[2]):
        return False
    return all(n is not None and (o is None or n <= o) for o, n in zip(old[2], new[2], strict=False) if o is not None)
