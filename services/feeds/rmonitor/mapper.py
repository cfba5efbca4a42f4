"""RMonitor records to chequered events: a stateful but pure mapper.

:class:`RMonitorMapper` is fed parsed records in stream order and returns the
events each one produces. It never reads a clock: every ``at`` is built from
the feed's own times, so the same capture always gives the same events, and
every event id is derived from content (``<session tag>:j-<number>-<lap>``
for a lap, see :mod:`services.feeds.ids`), so a second read of a capture, or
a reconnect after which Orbits re-sends its scoreboard, gives the same ids and
the stream's de-duplication drops them.

Time rules (RMonitor has times of day and race times, never instants):

- The *session day* is the ``day`` argument, else the first date the feed
  gives (an ``$I`` date, an ``$L`` date, or a ``##`` arrival stamp seen in the
  circuit's ``time_zone``), else 2000-01-01. ``$F`` times of day are local
  times of that day in ``time_zone``; a time of day more than 12 hours before
  the previous one rolls over to the next day.
- The *race-time anchor* is the instant at which the race time was zero:
  ``time of day - race time`` of an ``$F`` heartbeat whose race clock runs
  (a flag shown, and race time above zero or a green flag). It is fixed the
  first time it is known and moved only when a heartbeat disagrees by more
  than ``reanchor_ms`` (a race-clock reset); the one-second truncation of
  ``$F`` times is thus not noise in the laps' times. A passing that arrives
  before any such heartbeat anchors on the current time of day.
- A lap's ``at`` is **anchor + the ``$J`` total time**. Laps of two cars
  therefore compare exactly as Orbits compares them, and the error of the
  whole session against real time is that of one ``$F`` (under a second; the
  IMSA ``$L`` stamps in the Sebring capture put it at 1.5 s).
- ``$L`` crossings carry their own date and time of day and use them.
- Everything else (entries, driver changes, flags) is stamped with the
  time of day of the last ``$F`` when it happens (what happens before the
  first time of day is stamped with that one).
- Until the mapper knows a time of day (and the day), events are held back
  and released in order as soon as it does; :meth:`RMonitorMapper.flush`
  releases whatever is left at the end of a capture.

Session rules:

- One mapper maps one *run* (``$B`` number) to one chequered session. It
  binds to ``run`` if given, else to the first ``$B`` that is not an idle run
  (``inactive_runs``, 95 by default). Records before any ``$B`` belong to it
  (Orbits sends entries first); records after a ``$B`` of another run are
  ignored until the bound run comes back.
- ``SessionOpened`` is emitted once, before any other event (at the first
  ``$B`` of the run, ``$I`` or event); its name and track are those known
  when it is released (pass ``name`` when a capture may start without its
  ``$B``), its kind is guessed from the name, and its length, unless given,
  is the first heartbeat's time to go + race time, or laps to go before the
  start.
- ``$I`` clears the feed's scoreboard (:attr:`RMonitorMapper.feed_positions`)
  but not chequered's state: the log of a session cannot go back, and real installs send ``$I`` mid-race and then
  re-send the whole scoreboard.
- ``SessionStarted`` comes with the first heartbeat whose race clock runs,
  at the anchor (for a green-flag start: the first green; for a capture
  joined mid-race: the reconstructed start). ``FlagChanged`` is emitted on
  each change of the ``$F`` flag; a blank flag is "no information" and
  changes nothing. The first ``Finish`` gives ``SessionFinished``, stamped
  with the leader's last passing when that passing is at most
  ``finish_window_ms`` before the flag (Orbits shows ``Finish`` when the
  leader takes it), else with the flag's time; a later ``Finish`` is a
  ``FlagChanged(chequered)``.

Lap rules (strictly increasing lap numbers per car, whatever the feed does):

- A passing with no lap time on a car with no passing yet is its first
  crossing of the line: it counts no lap. A later passing with no lap time
  takes the difference of the total times.
- A passing within ``correction_window_ms`` of the car's previous passing is
  a re-send or a correction of it (Orbits re-sends passings after a reset,
  sometimes a few milliseconds different): it produces nothing.
- A passing older than the car's last passing, or than the feed's own ``$G``
  for the car, is a re-send of an old passing (seen in the redmist captures:
  a lap from an hour earlier): it produces nothing.
- The lap number is one more than the car's last lap, or, when the feed's
  ``$G`` for the car says it has done more (a capture joined mid-race, a
  passing Orbits never sent as ``$J``), the ``$G`` count.
- A ``$G`` that shows exactly one more lap than the ``$G`` matching the car's
  last passing, at a later total time, with no ``$J``, is a lost passing: the
  lap is made from the ``$G`` (lap time = difference of total times).
- ``$G`` lap counts are *not* otherwise trusted: real captures show lap
  penalties as lower, even negative, counts there.
- A lap without a usable lap time (zero, and no previous passing to subtract)
  advances the count but produces no event (``lap_time_ms`` must be > 0).

Entries: ``$A`` and ``$COMP`` are merged per registration number and a car is
(re-)registered when the block of entry records it came in ends. The class
name comes from the ``$C`` description of the class number (``Class <n>``
while unknown; a later ``$C`` or a new class number re-registers the car).
RMonitor has no team, car or manufacturer fields: team is the ``$COMP``
additional data, else the competitor's name; car is the nationality field
when it is longer than a nationality code (installs put the car model there),
else ``unknown``; manufacturer is ``unknown``. A changed name on a registered
car is a ``DriverChanged``. A car seen in a passing before its ``$A`` is
registered with placeholders and re-registered when its ``$A`` comes. An
``$L`` pit crossing of a car not registered yet is held until the car is (a
car leaves the pit lane before its first passing), and dropped at the end if
it never is (IMSA reports unknown transponders as ``Tx<transponder>``). Car
numbers are the ``$A`` number, else the registration number, reduced to
``[A-Za-z0-9]{1,8}``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from msgspec import Struct

from schemas.events import (
    ClassificationRules,
    Driver,
    DriverChanged,
    EntryRegistered,
    Event,
    EventBody,
    Flag,
    FlagChanged,
    LapCompleted,
    PitIn,
    PitOut,
    SessionFinished,
    SessionKind,
    SessionLength,
    SessionOpened,
    SessionRef,
    SessionStarted,
)
from services.feeds.common import FALLBACK_DAY, alnum, local_epoch_ms
from services.feeds.ids import event_id
from services.feeds.rmonitor.parser import (
    ClassInfo,
    Competitor,
    CompetitorExt,
    FeedFlag,
    Heartbeat,
    Init,
    Passing,
    RacePosition,
    RMonitorRecord,
    RunInfo,
    Setting,
    TimelineCrossing,
)

DAY_MS = 86_400_000
METRES_PER_MILE = 1609.344
PIT_IN_LINES = frozenset({"PIT", "PIP"})
PIT_OUT_LINES = frozenset({"POT", "POP"})
PIT_LANE_FINISH_LINE = "SFP"
UNKNOWN = "unknown"

_FLAG_OF = {
    FeedFlag.GREEN: Flag.GREEN,
    FeedFlag.YELLOW: Flag.YELLOW,
    FeedFlag.RED: Flag.RED,
    FeedFlag.FINISH: Flag.CHEQUERED,
    FeedFlag.UNKNOWN: Flag.UNKNOWN,
}
_ENTRY_BLOCK = (Competitor, CompetitorExt, ClassInfo, Setting, RunInfo)
"""Orbits sends entries as a block of ``$A``/``$COMP``/``$B``/``$C``/``$E`` records: a car is registered once
its block ends (the next record of another type), with everything the block said, not once per record."""
_NUMBER = re.compile(r"^[A-Za-z0-9]{1,8}$")


class FeedPosition(Struct, frozen=True):
    """A car's place in the feed's own running order (``$G``)."""

    position: int
    laps: int | None
    total_ms: int | None


@dataclass
class MapperStats:
    """What the mapper made of the feed, for logs and tests."""

    laps: int = 0
    synthesized_laps: int = 0
    """Laps made from a ``$G`` because their ``$J`` never came."""
    corrections: int = 0
    """Passings dropped as re-sends or corrections of the previous one."""
    stale: int = 0
    """Passings dropped because the car (or the feed's ``$G`` for it) already had a later one."""
    start_crossings: int = 0
    untimed_laps: int = 0
    placeholders: int = 0
    """Cars registered from a passing before their ``$A``."""
    reanchors: int = 0
    unmatched_crossings: int = 0
    """``$L`` crossings of numbers never registered (``Tx4667026``: a transponder no car has), dropped."""
    ignored: int = 0
    """Records of another run, ignored."""


@dataclass
class _Car:
    registration: str
    number: str
    first_name: str = ""
    last_name: str = ""
    nationality: str = ""
    additional: str = ""
    class_number: int | None = None
    known: bool = False
    """An ``$A``/``$COMP`` was seen (else the car is a placeholder)."""
    registered: bool = False
    entry_key: tuple[str, str, str, str] | None = None
    driver: str | None = None
    registrations: int = 0
    driver_changes: int = 0
    laps: int = 0
    last_total: int | None = None
    """Race time of the last passing counted (a lap or the first crossing)."""
    matched_feed_laps: int | None = None
    """The ``$G`` lap count that goes with ``last_total``, once a ``$G`` confirmed it."""
    feed: FeedPosition | None = None
    in_pit_lane: bool = False


@dataclass
class _Pending:
    id: str
    body: EventBody | Callable[[int], EventBody]
    """The body, or a function of the event's ``at`` that makes it when the event is released."""
    race_ms: int | None = None
    """``at`` = anchor + race_ms."""
    local_ms: int | None = None
    """``at`` = this local time (ms from the session day's midnight): the event's own time, or the time of day
    when it was made; ``None`` (with no ``race_ms``) until the mapper first knows a time of day."""
    car: str | None = None
    """A lap's car: its ``at`` never goes before that car's previous lap (a race-clock reset moves the anchor)."""


@dataclass
class _Clock:
    day: date | None = None
    tod_ms: int | None = None
    day_offset: int = 0
    local_ms: int | None = None
    anchor: int | None = None


def _short_hash(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:7]


def _kind_of(name: str) -> SessionKind:
    lowered = name.casefold()
    if "qual" in lowered:
        return SessionKind.QUALIFYING
    if "race" in lowered or "hour" in lowered:
        return SessionKind.RACE
    if any(word in lowered for word in ("practice", "test", "warm")):
        return SessionKind.PRACTICE
    return SessionKind.RACE


class RMonitorMapper:
    """Maps one RMonitor run to the events of one chequered session.

    Feed it records with :meth:`feed` (each call returns the events ready so
    far) and call :meth:`flush` at the end of a capture.
    """

    def __init__(
        self,
        session: SessionRef,
        producer: str,
        day: date | None = None,
        *,
        time_zone: str = "UTC",
        name: str | None = None,
        kind: SessionKind | None = None,
        length: SessionLength | None = None,
        run: int | None = None,
        inactive_runs: Iterable[int] = (95,),
        track_length_unit_m: float = METRES_PER_MILE,
        correction_window_ms: int = 5_000,
        finish_window_ms: int = 5_000,
        reanchor_ms: int = 2_000,
        rules: ClassificationRules | None = None,
    ) -> None:
        self.session = session
        self._rules = rules or ClassificationRules()
        self.producer = producer
        self.time_zone = time_zone
        self._tz = ZoneInfo(time_zone)
        self._name = name
        self._kind = kind
        self._length = length
        self._run = run
        self._inactive = frozenset(inactive_runs)
        self._unit_m = track_length_unit_m
        self._window = correction_window_ms
        self._finish_window = finish_window_ms
        self._reanchor = reanchor_ms

        self.stats = MapperStats()
        self.feed_positions: dict[str, FeedPosition] = {}
        """The feed's last ``$G`` per car number (cleared by ``$I``)."""

        self._clock = _Clock(day=day)
        self._pending: list[_Pending] = []
        self._last_lap_local: dict[str, int] = {}
        self._cars: dict[str, _Car] = {}
        self._dirty: dict[str, _Car] = {}
        """Cars whose entry changed in the current block of entry records, registered when the block ends."""
        self._held: dict[str, list[TimelineCrossing]] = {}
        """``$L`` crossings of car numbers not registered yet (IMSA also reports unknown transponders)."""
        self._by_number: dict[str, _Car] = {}
        self._classes: dict[int, str] = {}
        self._run_name: str | None = None
        self._left = False
        self._opened = False
        self._started = False
        self._finished = False
        self._flag: FeedFlag = FeedFlag.NONE
        self._flag_raw = ""
        self._track: str | None = None
        self._track_length_m: int | None = None
        self._length_seen: SessionLength | None = None

    # -- public ------------------------------------------------------------

    def feed(self, record: RMonitorRecord, arrival: float | None = None) -> list[Event]:
        """Apply one record (``arrival``: UTC epoch seconds it arrived, if known); the events now ready."""
        if arrival is not None and self._clock.day is None:
            self._clock.day = datetime.fromtimestamp(arrival, self._tz).date()
        if not isinstance(record, _ENTRY_BLOCK):
            self._flush_registrations()
        if isinstance(record, RunInfo):
            self._on_run(record)
        elif self._left:
            self.stats.ignored += 1
        else:
            handler = self._HANDLERS.get(type(record))
            if handler is not None:
                handler(self, record)
        return self._drain()

    def flush(self) -> list[Event]:
        """Release everything still held back (the capture ended before a time of day was known)."""
        if self._clock.day is None:
            self._clock.day = FALLBACK_DAY
        if self._clock.local_ms is None:
            self._clock.local_ms = 0
        self._flush_registrations()
        self.stats.unmatched_crossings += sum(len(held) for held in self._held.values())
        self._held.clear()
        return self._drain()

    # -- time ----------------------------------------------------------------

    def _instant(self, local_ms: int) -> int:
        return max(0, local_epoch_ms(self._clock.day or FALLBACK_DAY, local_ms, self._tz))

    def _set_time_of_day(self, tod_ms: int) -> None:
        clock = self._clock
        if clock.tod_ms is not None and tod_ms < clock.tod_ms - DAY_MS // 2:
            clock.day_offset += 1
        first = clock.tod_ms is None
        clock.tod_ms = tod_ms
        clock.local_ms = clock.day_offset * DAY_MS + tod_ms
        if first:  # what happened before the first time of day happened at it
            for item in self._pending:
                if item.race_ms is None and item.local_ms is None:
                    item.local_ms = clock.local_ms

    def _local_of_date(self, when: date | None, tod_ms: int) -> int:
        if when is None:
            return self._clock.day_offset * DAY_MS + tod_ms
        if self._clock.day is None:
            self._clock.day = when
        return (when - self._clock.day).days * DAY_MS + tod_ms

    def _at(self, item: _Pending) -> int | None:
        clock = self._clock
        if clock.day is None or clock.local_ms is None:
            return None
        if item.race_ms is not None:
            if clock.anchor is None:
                clock.anchor = clock.local_ms - item.race_ms
            local = clock.anchor + item.race_ms
            if item.car is not None:
                local = max(local, self._last_lap_local.get(item.car, local))
                self._last_lap_local[item.car] = local
            return self._instant(local)
        return self._instant(item.local_ms if item.local_ms is not None else clock.local_ms)

    # -- emitting ------------------------------------------------------------

    def _emit(
        self,
        content_id: str,
        body: EventBody | Callable[[int], EventBody],
        *,
        race_ms: int | None = None,
        local_ms: int | None = None,
        car: str | None = None,
    ) -> None:
        self._open()
        if race_ms is None and local_ms is None:
            local_ms = self._clock.local_ms  # "now"
        self._pending.append(_Pending(content_id, body, race_ms, local_ms, car))

    def _open(self) -> None:
        if not self._opened:
            self._opened = True
            self._pending.append(_Pending("open", self._opened_body, local_ms=self._clock.local_ms))

    def _drain(self) -> list[Event]:
        out: list[Event] = []
        while self._pending:
            item = self._pending[0]
            at = self._at(item)
            if at is None:
                break
            self._pending.pop(0)
            body = item.body(at) if callable(item.body) else item.body
            out.append(
                Event(
                    id=event_id(self.session, item.id), session=self.session, producer=self.producer, at=at, body=body
                )
            )
        return out

    def _opened_body(self, at: int) -> SessionOpened:
        name = self._name or self._run_name or (f"Run {self._run}" if self._run is not None else "RMonitor session")
        start = datetime.fromtimestamp(at / 1000, self._tz)
        return SessionOpened(
            name=name[:200],
            kind=self._kind or _kind_of(name),
            scheduled_start=start.isoformat(timespec="seconds"),
            time_zone=self.time_zone,
            length=self._length or self._inferred_length(),
            track=self._track,
            track_length_m=self._track_length_m,
            rules=self._rules,
        )

    def _inferred_length(self) -> SessionLength:
        return self._length_seen or SessionLength()

    @staticmethod
    def _length_of(beat: Heartbeat) -> SessionLength | None:
        """Time to go + race time (to the minute when within 2 s of one), or laps to go before the start."""
        race = max(beat.race_time_ms or 0, 0)
        time_ms: int | None = None
        if beat.time_to_go_ms and beat.time_to_go_ms > 0:
            time_ms = beat.time_to_go_ms + race
            minute = round(time_ms / 60_000) * 60_000
            if minute and abs(minute - time_ms) <= 2_000:
                time_ms = minute
        laps = beat.laps_to_go if beat.laps_to_go and race == 0 else None
        return SessionLength(time_ms=time_ms, laps=laps) if time_ms or laps else None

    # -- cars ------------------------------------------------------------------

    def _number_for(self, registration: str, number: str) -> str:
        for candidate in (number.strip(), registration.strip()):
            if _NUMBER.match(candidate) and candidate not in self._by_number:
                return candidate
        cleaned = alnum(number or registration)
        if not cleaned or cleaned in self._by_number:
            cleaned = ("X" + _short_hash(registration))[:8]
        return cleaned

    def _car(self, registration: str, number: str = "") -> _Car:
        car = self._cars.get(registration)
        if car is None:
            car = _Car(registration=registration, number=self._number_for(registration, number))
            self._cars[registration] = car
            self._by_number[car.number] = car
        return car

    def _class_name(self, car: _Car) -> str:
        if car.class_number is None:
            return "Unknown"
        return self._classes.get(car.class_number) or f"Class {car.class_number}"

    def _driver_name(self, car: _Car) -> str:
        name = " ".join(part for part in (car.first_name, car.last_name) if part)
        return (name or f"#{car.number}")[:200]

    def _entry_key(self, car: _Car) -> tuple[str, str, str, str]:
        if not car.known:
            return (self._class_name(car), UNKNOWN, UNKNOWN, UNKNOWN)
        team = car.additional or " ".join(p for p in (car.first_name, car.last_name) if p) or f"#{car.number}"
        model = car.nationality if len(car.nationality) > 3 else UNKNOWN
        return (self._class_name(car)[:200], team[:200], model[:200], UNKNOWN)

    def _register(self, car: _Car) -> None:
        key = self._entry_key(car)
        driver = self._driver_name(car)
        if car.registered and key == car.entry_key and driver == car.driver:
            return
        if not car.registered or key != car.entry_key:
            nationality = car.nationality if 0 < len(car.nationality) <= 3 else None
            body = EntryRegistered(
                number=car.number,
                class_name=key[0],
                team=key[1],
                car=key[2],
                manufacturer=key[3],
                crew=[Driver(name=driver, nationality=nationality)],
            )
            content = "|".join((*key, driver))
            self._emit(f"e-{car.number}-{car.registrations}-{_short_hash(content)}", body)
            car.registrations += 1
            if not car.registered:
                car.driver = driver
            car.registered = True
            car.entry_key = key
            for held in self._held.pop(car.number, []):
                self._timeline(car, held)
        if driver != car.driver:
            content_id = f"d-{car.number}-{car.driver_changes}-{_short_hash(driver)}"
            self._emit(content_id, DriverChanged(number=car.number, driver=driver))
            car.driver_changes += 1
            car.driver = driver

    def _flush_registrations(self) -> None:
        dirty, self._dirty = self._dirty, {}
        for car in dirty.values():
            self._register(car)

    def _ensure_registered(self, car: _Car) -> None:
        if not car.registered:
            self.stats.placeholders += 1
            self._register(car)

    # -- handlers ----------------------------------------------------------------

    def _on_run(self, record: RunInfo) -> None:
        if record.run in self._inactive and self._run is None:
            return
        if self._run is None:
            self._run = record.run
        if record.run == self._run:
            self._left = False
            self._run_name = record.description or self._run_name
            self._open()
        elif not self._left:
            self._flush_registrations()  # the block before the run changed belongs to the bound run
            self._left = True

    def _on_heartbeat(self, beat: Heartbeat) -> None:
        if self._length_seen is None:
            self._length_seen = self._length_of(beat)
        if beat.time_of_day_ms is None:
            return
        self._set_time_of_day(beat.time_of_day_ms)
        clock = self._clock
        assert clock.local_ms is not None
        race = beat.race_time_ms
        running = beat.flag is not FeedFlag.NONE and race is not None and (race > 0 or beat.flag is FeedFlag.GREEN)
        if running and race is not None:
            candidate = clock.local_ms - race
            if clock.anchor is None:
                clock.anchor = candidate
            elif abs(candidate - clock.anchor) > self._reanchor:
                clock.anchor = candidate
                self.stats.reanchors += 1
        started_now = False
        if running and not self._started:
            self._started = True
            started_now = True
            self._emit("start", SessionStarted(), race_ms=0)
        self._on_flag(beat, started_now)

    def _on_flag(self, beat: Heartbeat, started_now: bool) -> None:
        flag = beat.flag
        if flag is FeedFlag.NONE:
            return
        same = flag == self._flag and (flag is not FeedFlag.UNKNOWN or beat.flag_raw == self._flag_raw)
        self._flag, self._flag_raw = flag, beat.flag_raw
        if flag is FeedFlag.GREEN and started_now:
            return  # SessionStarted says green
        if same and not started_now:
            return  # a start under another flag repeats that flag after SessionStarted
        race = beat.race_time_ms
        stamp = f"{race // 1000}" if race is not None and race > 0 else f"t{(self._clock.local_ms or 0) // 1000}"
        if flag is FeedFlag.FINISH and not self._finished:
            self._finished = True
            self._emit("finish", SessionFinished(), race_ms=self._finish_race_ms(race))
            return
        self._emit(f"f-{_FLAG_OF[flag].value}-{stamp}", FlagChanged(flag=_FLAG_OF[flag]))

    def _finish_race_ms(self, flag_race_ms: int | None) -> int | None:
        """The leader's last passing, if the flag came with it; else the flag's own race time."""
        timed = [car for car in self._cars.values() if car.registered and car.laps > 0 and car.last_total is not None]
        if timed:
            leader = min(timed, key=lambda car: (-car.laps, car.last_total or 0))
            assert leader.last_total is not None
            if flag_race_ms is None or flag_race_ms - leader.last_total <= self._finish_window:
                return leader.last_total
        return flag_race_ms if flag_race_ms is not None and flag_race_ms >= 0 else None

    def _on_competitor(self, record: Competitor | CompetitorExt) -> None:
        if not record.registration:
            return
        car = self._car(record.registration, record.number)
        car.first_name, car.last_name, car.nationality = record.first_name, record.last_name, record.nationality
        if record.class_number is not None:
            car.class_number = record.class_number
        if isinstance(record, CompetitorExt):
            car.additional = record.additional
        car.known = True
        self._dirty[car.registration] = car

    def _on_class(self, record: ClassInfo) -> None:
        description = record.description.strip()
        if self._classes.get(record.class_number) == description:
            return
        self._classes[record.class_number] = description
        for car in self._cars.values():
            if car.registered and car.class_number == record.class_number:
                self._dirty[car.registration] = car

    def _on_setting(self, record: Setting) -> None:
        if record.name == "TRACKNAME" and record.value:
            self._track = record.value
        elif record.name == "TRACKLENGTH":
            try:
                length = round(float(record.value) * self._unit_m)
            except ValueError:
                return
            self._track_length_m = length if length > 0 else None

    def _on_init(self, record: Init) -> None:
        if self._clock.day is None and record.date is not None:
            self._clock.day = record.date
        self.feed_positions.clear()
        self._open()

    def _on_position(self, record: RacePosition) -> None:
        if not record.registration:
            return
        car = self._cars.get(record.registration)
        number = car.number if car else self._number_for(record.registration, record.registration)
        position = FeedPosition(record.position, record.laps, record.total_ms)
        self.feed_positions[number] = position
        if car is None:
            return
        car.feed = position
        if record.laps is None or record.total_ms is None or car.last_total is None:
            return
        if abs(record.total_ms - car.last_total) < self._window:
            car.matched_feed_laps = record.laps
        elif (
            record.total_ms > car.last_total
            and car.registered
            and car.matched_feed_laps is not None
            and record.laps == car.matched_feed_laps + 1
        ):
            self._lap(car, car.laps + 1, record.total_ms - car.last_total, record.total_ms)
            car.matched_feed_laps = record.laps
            self.stats.synthesized_laps += 1

    def _on_passing(self, record: Passing) -> None:
        car = self._car(record.registration)
        total = record.total_ms
        if car.last_total is not None and abs(total - car.last_total) < self._window:
            self.stats.corrections += 1
            return
        newest = max(car.last_total or 0, (car.feed.total_ms or 0) if car.feed else 0)
        if total < newest - self._window:
            self.stats.stale += 1
            return
        self._ensure_registered(car)
        feed_laps = 0
        if car.feed is not None and car.feed.laps is not None and car.feed.total_ms is not None:
            if abs(car.feed.total_ms - total) < self._window:
                feed_laps = car.feed.laps
            elif car.feed.total_ms < total:
                feed_laps = car.feed.laps + 1
        same = car.feed is not None and car.feed.total_ms is not None and abs(car.feed.total_ms - total) < self._window
        matched = car.feed.laps if same and car.feed is not None else None
        if record.lap_ms == 0 and car.laps == 0 and car.last_total is None and feed_laps <= 1:
            self.stats.start_crossings += 1
            car.last_total = total
            car.matched_feed_laps = matched
            car.in_pit_lane = False
            return
        lap = max(car.laps + 1, feed_laps)
        lap_ms = record.lap_ms
        if lap_ms <= 0 and car.last_total is not None and lap == car.laps + 1:
            lap_ms = total - car.last_total
        self._lap(car, lap, lap_ms, total)
        car.matched_feed_laps = matched

    def _lap(self, car: _Car, lap: int, lap_ms: int, total: int) -> None:
        car.laps = lap
        car.last_total = total
        in_pit, car.in_pit_lane = car.in_pit_lane, False
        if lap_ms <= 0:
            self.stats.untimed_laps += 1
            return
        self.stats.laps += 1
        body = LapCompleted(number=car.number, lap=lap, lap_time_ms=lap_ms, driver=car.driver, in_pit=in_pit)
        self._emit(f"j-{car.number}-{lap}", body, race_ms=total, car=car.number)

    def _on_timeline(self, record: TimelineCrossing) -> None:
        number = record.number.strip()
        if not number:
            return
        if self._clock.day is None:
            self._clock.day = record.date
        if self._clock.local_ms is None:
            self._set_time_of_day(record.time_of_day_ms)
        car = self._by_number.get(number)
        if car is None or not car.registered:
            self._held.setdefault(number, []).append(record)
            return
        self._timeline(car, record)

    def _timeline(self, car: _Car, record: TimelineCrossing) -> None:
        local = self._local_of_date(record.date, record.time_of_day_ms)
        stamp = f"{record.date:%Y%m%d}" if record.date else "0"
        content_id = f"l-{car.number}-{record.name}-{stamp}-{record.time_of_day_ms}"
        if record.name in PIT_IN_LINES:
            self._emit(content_id, PitIn(number=car.number), local_ms=local)
        elif record.name in PIT_OUT_LINES:
            self._emit(content_id, PitOut(number=car.number), local_ms=local)
        else:
            car.in_pit_lane = record.name == PIT_LANE_FINISH_LINE

    _HANDLERS: dict[type, Callable[[RMonitorMapper, RMonitorRecord], None]] = {
        Heartbeat: _on_heartbeat,  # type: ignore[dict-item]
        Competitor: _on_competitor,  # type: ignore[dict-item]
        CompetitorExt: _on_competitor,  # type: ignore[dict-item]
        ClassInfo: _on_class,  # type: ignore[dict-item]
        Setting: _on_setting,  # type: ignore[dict-item]
        Init: _on_init,  # type: ignore[dict-item]
        RacePosition: _on_position,  # type: ignore[dict-item]
        Passing: _on_passing,  # type: ignore[dict-item]
        TimelineCrossing: _on_timeline,  # type: ignore[dict-item]
    }
