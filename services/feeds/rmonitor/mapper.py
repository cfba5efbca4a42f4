"""RMonitor records to the events of one session: a stateful but pure mapper.

:class:`RMonitorMapper` is fed parsed records in stream order and returns the
events each one produces. It never reads a clock: every ``at`` is built from
the feed's own times, so the same capture always gives the same events, and
every event id is derived from content (``<session tag>:j-<number>-<lap>``
for a lap, see :mod:`services.feeds.ids`), so a second read of a capture, or
a reconnect after which Orbits re-sends its scoreboard, gives the same ids and
the stream's de-duplication drops them. Which run is which session is the
business of :class:`~services.feeds.rmonitor.weekend.WeekendMapper`; this
mapper maps whatever it is given to one session.

No record can stop it: a value no session can have (a lap time or total that
overflows, is negative, or is absurd for the session, see :class:`Bounds`) is
kept aside as a :class:`Notice` (the reader logs it with its line number and
operations see it in ``chequered rejects``) and the records after it go on;
an event that cannot be made is dropped from the queue the same way, never
retried.

Time rules (see :class:`~services.feeds.rmonitor.clock.FeedClock` for the day,
midnight and the jumps it ignores):

- ``$F`` times of day are local times of the session day in ``time_zone``.
- The *race-time anchor* is the local time at which the race time was zero:
  ``time of day - race time`` of an ``$F`` whose race clock runs (a flag
  shown, and race time above zero or a green flag). A passing that arrives
  before any such heartbeat anchors on the current time of day.
- A lap's ``at`` is **anchor + the ``$J`` total time**: laps of two cars
  compare exactly as Orbits compares them.
- ``$L`` crossings carry their own date and time of day and use them.
- Everything else is stamped with the time of day of the last ``$F`` when it
  happens; until a time of day (and the day) is known, events are held back
  and released in order as soon as it is; :meth:`RMonitorMapper.flush`
  releases whatever is left at the end of a capture.

Session rules:

- ``SessionOpened`` comes first. Its name is ``name``, else the run's (``$B``);
  its kind is ``kind``, else the one the name's words give
  (:func:`~services.feeds.rmonitor.naming.kind_of`), else the feed's own
  order says it: positions (``$G``) that follow the best laps (``$H``) against
  the lap counts make a practice, positions that follow the laps against the
  bests make a race (the opening waits for that, at most :data:`KIND_WAIT_LAPS`
  laps). A practice or qualifying session is classified by best lap. The length,
  unless given, is the first heartbeat's time to go + race time, or laps to go
  before the start.
- ``$I`` clears the feed's scoreboard (:attr:`RMonitorMapper.feed_positions`)
  but not chequered's state.
- ``SessionStarted`` comes with the first heartbeat whose race clock runs, at
  the anchor. ``FlagChanged`` on each change of the ``$F`` flag (a blank flag
  changes nothing). The first ``Finish`` gives ``SessionFinished``, stamped with
  the leader's last passing when it is at most ``finish_window_ms`` before the
  flag, else with the flag's time; a later ``Finish`` is a
  ``FlagChanged(chequered)``.

Lap rules (strictly increasing lap numbers per car, whatever the feed does):

- A passing at total time zero is a crossing before the clock started (cars
  leave the pits before a practice goes green): nothing, and no reference for
  the next.
- A car's first passing with no lap time (or a lap time longer than its total:
  the lap began before the green) is its first crossing of the line: no lap.
  The first timed lap is the next one.
- A later passing with no lap time is a lap (distance) whose time is the
  difference of the totals, but never a best (``counts_for_best`` false): the
  timing system did not time it (an out-lap).
- A passing within ``correction_window_ms`` of one of the car's last passings
  is that passing re-sent: identical, it is nothing; a few milliseconds
  different, it is a correction (``LapCorrected`` with the new crossing and
  time). ``$COR`` corrects the crossing (the total) of the lap it names the
  same way.
- A passing older than the car's last passing, or than the feed's own ``$G``
  for the car, is a re-send of an old passing: nothing.
- A passing waits for the ``$G`` that Orbits sends right after it (at most
  until the next heartbeat): its lap number is one more than the car's last
  lap, or that ``$G``'s count when it says more (a feed joined mid-race, a
  passing that never reached us). A passing with no lap time that skips laps
  is left to the scoreboard.
- Best laps follow the feed's ``$H``: a lap faster than the car's ``$H`` best
  is not counted for bests (Orbits revoked it: ``LapCorrected`` with
  ``counts_for_best`` false), and counted again if the ``$H`` best comes back.
  An ``$H`` re-sent from before (a reconnect, the car's past re-sent) revokes
  nothing.

The scoreboard (``$G``, ``$H``; see :mod:`~services.feeds.rmonitor.scoreboard`
for when): where it says what the passings do not, a ``ScoreboardReported``
event carries its rows into the log. Laps it counts beyond the car's last
passing become laps from the scoreboard (the fold counts them for distance,
never as a best), a best it shows on a lap no passing showed becomes the car's,
and a lap count below the passings (a lap penalty) or a best they do not have
is a disagreement: reported with both values (a :class:`Notice` for ``chequered
rejects``), the classification keeping the passings. A row older than the
car's previous one, sent again after it, says nothing new.

Entries: ``$A`` and ``$COMP`` are merged per registration number and a car is
(re-)registered when the block of entry records it came in ends. The class
name comes from the ``$C`` description of the class number (``Class <n>``
while unknown). RMonitor has no team, car or manufacturer fields: team is the
``$COMP`` additional data, else the competitor's name; car is the nationality
field when it is longer than a nationality code (installs put the car model
there), else ``unknown``; manufacturer is ``unknown``. A changed name on a
registered car is a ``DriverChanged``. The laps of a car seen in a passing
before its ``$A``/``$COMP`` are held until it comes; after
``unknown_car_timeout_ms`` of race time without one the car is registered with
placeholders (and re-registered when its entry comes) and a notice says so. An
``$L`` pit crossing of a car not registered yet is held the same way, and
dropped at the end if it never is (IMSA reports unknown transponders as
``Tx<transponder>``). Car numbers are the ``$A`` number, else the registration
number, reduced to ``[A-Za-z0-9]{1,8}``.
"""

from __future__ import annotations

import bisect
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple
from zoneinfo import ZoneInfo

from msgspec import Struct

from schemas import events
from schemas.ingest import RejectCode
from services.feeds.common import FALLBACK_DAY, alnum
from services.feeds.ids import event_id
from services.feeds.rmonitor import parser
from services.feeds.rmonitor.clock import FeedClock
from services.feeds.rmonitor.naming import kind_of
from services.feeds.rmonitor.options import RMonitorOptions
from services.feeds.rmonitor.scoreboard import AGREES, BoardWatch, Verdict

PIT_IN_LINES = frozenset({"PIT", "PIP"})
PIT_OUT_LINES = frozenset({"POT", "POP"})
PIT_LANE_FINISH_LINE = "SFP"
UNKNOWN = "unknown"
SCOREBOARD_CARS = 100
"""Cars in one ``scoreboard_reported`` (a bigger field takes several), well within what ingest takes."""
KIND_WAIT_LAPS = 30
"""Laps after which a session whose name and order have not said its kind opens as a race."""
HOUR_MS = 3_600_000

_FLAG_OF = {
    parser.FeedFlag.GREEN: events.Flag.GREEN,
    parser.FeedFlag.YELLOW: events.Flag.YELLOW,
    parser.FeedFlag.RED: events.Flag.RED,
    parser.FeedFlag.FINISH: events.Flag.CHEQUERED,
    parser.FeedFlag.UNKNOWN: events.Flag.UNKNOWN,
}
ENTRY_BLOCK = (parser.Competitor, parser.CompetitorExt, parser.ClassInfo, parser.Setting, parser.RunInfo)
"""Orbits sends entries as a block of ``$A``/``$COMP``/``$B``/``$C``/``$E`` records: a car is registered once
its block ends (the next record of another type), with everything the block said, not once per record."""
_ENTRY_TYPES = frozenset(ENTRY_BLOCK)
_NUMBER = re.compile(r"^[A-Za-z0-9]{1,8}$")


class FeedPosition(Struct, frozen=True):
    """A car's place in the feed's own running order (``$G``)."""

    position: int
    laps: int | None
    total_ms: int | None


class Notice(NamedTuple):
    """A record (or an event) the mapper kept aside, and why: logged with its line number, and shown to operations
    (``chequered rejects``); with no code, something the log should say (a lost reset)."""

    code: RejectCode | None
    reason: str


@dataclass
class MapperStats:
    """What the mapper made of the feed, for logs and tests."""

    laps: int = 0
    repeats: int = 0
    """Passings re-sent identical, dropped."""
    corrections: int = 0
    """Passings re-sent a few milliseconds different, and ``$COR`` records: ``LapCorrected``."""
    stale: int = 0
    """Passings dropped because the car (or the feed's ``$G`` for it) already had a later one."""
    pre_green: int = 0
    """Passings at total time zero (before the clock started): no lap."""
    start_crossings: int = 0
    untimed_laps: int = 0
    revoked_bests: int = 0
    """Laps no longer counted for bests because the feed's ``$H`` best is slower."""
    placeholders: int = 0
    """Cars registered from a passing, their ``$A``/``$COMP`` never having come."""
    unmatched_crossings: int = 0
    """``$L`` crossings of numbers never registered (``Tx4667026``: a transponder no car has), dropped."""
    kept_aside: int = 0
    """Records and events kept aside as notices."""
    scoreboards: int = 0
    """``ScoreboardReported`` events made."""
    reported_laps: int = 0
    """Laps taken from the feed's scoreboard, no passing having shown them."""
    disagreements: int = 0
    """Times the passings and the feed's scoreboard came to disagree (a lap count, a best lap)."""


@dataclass(slots=True)
class _Lap:
    lap: int
    total: int
    lap_ms: int
    counts: bool


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
    feed: FeedPosition | None = None
    in_pit_lane: bool = False
    log: list[_Lap] = field(default_factory=list)
    """The laps sent, in order, as last corrected."""
    counting: list[tuple[int, int]] = field(default_factory=list)
    """(lap time, lap) of the timed laps that count for bests, fastest first."""
    revoked: dict[int, int] = field(default_factory=dict)
    """Lap -> lap time of laps the feed's ``$H`` no longer counts for bests."""
    best_changes: int = 0
    held: list[_Pending] | None = None
    """Events waiting for the car's ``$A``/``$COMP`` (None: not waiting)."""
    held_since: int = 0
    """Race time of the first event held."""
    past: bool = False
    """The feed is re-sending this car's past (a reconnect, a stale passing): its ``$H`` rows may be old too."""
    board_best: tuple[int, int | None] | None = None
    """The feed's best lap (``$H``): time, lap."""
    parked: parser.Passing | None = None
    """A passing waiting for the ``$G`` that comes with it (at most until the next heartbeat)."""


@dataclass
class _Pending:
    id: str
    body: events.EventBody | Callable[[int], events.EventBody]
    """The body, or a function of the event's ``at`` that makes it when the event is released."""
    race_ms: int | None = None
    """``at`` = anchor + race_ms."""
    local_ms: int | None = None
    """``at`` = this local time (ms from the session day's midnight): the event's own time, or the time of day
    when it was made; ``None`` (with no ``race_ms``) until the mapper first knows a time of day."""
    car: str | None = None
    """A lap's car: its ``at`` never goes before that car's previous lap (a race-clock reset moves the anchor)."""


_Row = tuple[str, int | None, int | None, int | None, tuple[int, int | None] | None]
"""A car's scoreboard row to report: number, position, laps, total, (best lap time, its lap)."""


def _short_hash(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:7]


def _clock_text(ms: int) -> str:
    return f"{ms // HOUR_MS}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


class RMonitorMapper:
    """Maps RMonitor records to the events of one chequered session.

    Feed it records with :meth:`feed` (each call returns the events ready so
    far), take what it kept aside with :meth:`take_notices`, and call
    :meth:`flush` at the end of a capture.
    """

    def __init__(self, session: events.SessionRef, options: RMonitorOptions) -> None:
        self.session = session
        self._rules = options.rules or events.ClassificationRules()
        self.producer = options.producer
        self.time_zone = options.time_zone
        self._tz = ZoneInfo(options.time_zone)
        self._name = options.name
        self._kind = options.kind
        self._length = options.length
        self._unit_m = options.track_length_unit_m
        self._window = options.correction_window_ms
        self._finish_window = options.finish_window_ms
        self._reanchor = options.reanchor_ms
        self._bounds = options.bounds
        self._unknown_timeout = options.unknown_car_timeout_ms
        self._gap = options.gap_ms
        self._board = BoardWatch(settle_ms=options.board_settle_ms)
        self._parked: dict[str, _Car] = {}

        self.stats = MapperStats()
        self.notices: list[Notice] = []
        self.feed_positions: dict[str, FeedPosition] = {}
        """The feed's last ``$G`` per car number (cleared by ``$I``)."""

        self.clock = FeedClock(self._tz, options.day, jump_ms=options.clock_jump_ms, reanchor_ms=options.reanchor_ms)
        self._pending: list[_Pending] = []
        self._last_lap_local: dict[str, int] = {}
        self._cars: dict[str, _Car] = {}
        self._dirty: dict[str, _Car] = {}
        """Cars whose entry changed in the current block of entry records, registered when the block ends."""
        self._held_crossings: dict[str, list[parser.TimelineCrossing]] = {}
        """``$L`` crossings of car numbers not registered yet (IMSA also reports unknown transponders)."""
        self._held_cars: dict[str, _Car] = {}
        self._by_number: dict[str, _Car] = {}
        self._classes: dict[int, str] = {}
        self._run_name: str | None = None
        self._opened = False
        self._started = False
        self._finished = False
        self._flag: parser.FeedFlag = parser.FeedFlag.NONE
        self._flag_raw = ""
        self._track: str | None = None
        self._track_length_m: int | None = None
        self._length_seen: events.SessionLength | None = None
        self._best_ms: int | None = None
        """The fastest timed lap of the session so far (a lap far under it is a glitch)."""
        self._race_now = 0
        """The latest race time the feed has shown."""
        self._kind_seen: events.SessionKind | None = None
        """The kind the feed's order showed (when neither ``kind`` nor the name says it)."""
        self._bests_seen: dict[str, int] = {}
        """Registration -> the feed's best lap (``$H``), for reading the session's kind from the feed's order."""

    # -- public ------------------------------------------------------------

    def feed(self, record: parser.RMonitorRecord, arrival: float | None = None) -> list[events.Event]:
        """Apply one record (``arrival``: UTC epoch seconds it arrived, if known); the events now ready."""
        if arrival is not None:
            self.clock.arrived(arrival)
        if self._dirty and type(record) not in _ENTRY_TYPES:
            self._flush_registrations()
        self._take(record, arrival)
        return self._drain()

    def _take(self, record: parser.RMonitorRecord, arrival: float | None) -> None:
        """What one record does to the session (an ``##`` arrival mark does nothing more)."""
        match record:
            case parser.Passing():
                self._on_passing(record, arrival)
            case parser.Heartbeat():
                self._on_heartbeat(record, arrival)
            case parser.RacePosition():
                self._on_position(record, arrival)
            case parser.PracticePosition():
                self._on_best(record, arrival)
            case parser.TimelineCrossing():
                self._on_timeline(record, arrival)
            case parser.Competitor() | parser.CompetitorExt():
                self._on_competitor(record, arrival)
            case parser.RunInfo():
                self._on_run(record, arrival)
            case parser.ClassInfo():
                self._on_class(record, arrival)
            case parser.Setting():
                self._on_setting(record, arrival)
            case parser.Init():
                self._on_init(record, arrival)
            case parser.CorrectedFinish():
                self._on_corrected_finish(record, arrival)

    def flush(self) -> list[events.Event]:
        """Release everything still held back (the capture ended before a time of day was known, or a car's entry
        never came)."""
        clock = self.clock
        if clock.day is None:
            clock.day = FALLBACK_DAY
        if clock.local_ms is None:
            clock.local_ms = 0
        self._flush_registrations()
        self._unpark_all()
        for car in list(self._held_cars.values()):
            self._release_unknown(car)
        self._tick(final=True)
        self.stats.unmatched_crossings += sum(len(held) for held in self._held_crossings.values())
        self._held_crossings.clear()
        if self._kind_seen is None:
            self._kind_seen = events.SessionKind.RACE
        return self._drain()

    def reconnected(self) -> None:
        """The link came back: until each car's next passing, what the feed sends of it may be re-sent from
        before the drop; the scoreboard it re-sends closes the gap."""
        for car in self._cars.values():
            car.past = car.last_total is not None
        self._board.open(events.ScoreboardReason.RECONNECT)

    def take_notices(self) -> list[Notice]:
        """What was kept aside since the last call."""
        notices, self.notices = self.notices, []
        return notices

    @property
    def name(self) -> str:
        return self._name or self._run_name or "RMonitor session"

    @property
    def race_now(self) -> int:
        """The latest race time the feed has shown (running heartbeats, passings taken)."""
        return self._race_now

    @property
    def cars_timed(self) -> int:
        """Cars with a passing taken."""
        return sum(1 for car in self._cars.values() if car.last_total is not None)

    def last_total(self, registration: str) -> int | None:
        """The race time of the car's last passing taken."""
        car = self._cars.get(registration)
        return car.last_total if car is not None else None

    # -- keeping aside ------------------------------------------------------------

    def _aside(self, code: RejectCode, reason: str) -> None:
        self.stats.kept_aside += 1
        self.notices.append(Notice(code, reason))

    def _length_ms(self) -> int | None:
        length = self._length or self._length_seen
        return length.time_ms if length is not None else None

    def _max_total(self) -> int:
        if self._bounds.max_total_ms is not None:
            return self._bounds.max_total_ms
        length = self._length_ms()
        return length + max(length, HOUR_MS) if length else 48 * HOUR_MS

    def _absurd_lap(self, lap_ms: int) -> str | None:
        """Why a lap time is no lap of this session, or None."""
        bounds = self._bounds
        longest = bounds.max_lap_ms or self._length_ms() or 24 * HOUR_MS
        if lap_ms > longest:
            return f"lap time {_clock_text(lap_ms)} is longer than {_clock_text(longest)}"
        if lap_ms < bounds.min_lap_ms:
            return f"lap time {_clock_text(lap_ms)} is under {_clock_text(bounds.min_lap_ms)}"
        if self._best_ms is not None and lap_ms * 100 < self._best_ms * bounds.min_lap_pct_of_best:
            return (
                f"lap time {_clock_text(lap_ms)} is under {bounds.min_lap_pct_of_best} % "
                f"of the session's best {_clock_text(self._best_ms)}"
            )
        return None

    def _absurd_total(self, total: int) -> str | None:
        if total < 0:
            return f"total time {_clock_text(-total)} is negative"
        if total > self._max_total():
            return f"total time {_clock_text(total)} is beyond {_clock_text(self._max_total())}"
        return None

    # -- time ----------------------------------------------------------------

    def _tell_time(self, tod_ms: int, race_ms: int | None, arrival: float | None) -> bool:
        before = self.clock.local_ms if self.clock.tod_ms is not None else None
        first = self.clock.local_ms is None
        if not self.clock.tell(tod_ms, race_ms, arrival):
            assert self.clock.tod_ms is not None
            self._aside(
                RejectCode.OUT_OF_BOUNDS,
                f"time of day {_clock_text(tod_ms)} jumps from {_clock_text(self.clock.tod_ms)}: ignored",
            )
            return False
        if first:
            self._stamp_pending()
        assert self.clock.local_ms is not None
        if before is not None and self.clock.local_ms - before > self._gap and (self.stats.laps or self._race_now):
            self._board.open(events.ScoreboardReason.GAP)  # a hole: the scoreboard closes it
        return True

    def _stamp_pending(self) -> None:
        """What happened before the first time of day happened at it."""
        for item in self._pending:
            if item.race_ms is None and item.local_ms is None:
                item.local_ms = self.clock.local_ms

    def _at(self, item: _Pending) -> int | None:
        clock = self.clock
        if clock.day is None or clock.local_ms is None:
            return None
        if item.race_ms is not None:
            if clock.anchor is None:
                clock.anchor = clock.local_ms - item.race_ms
            local = clock.anchor + item.race_ms
            if item.car is not None:
                local = max(local, self._last_lap_local.get(item.car, local))
                self._last_lap_local[item.car] = local
            return clock.instant(local)
        return clock.instant(item.local_ms if item.local_ms is not None else clock.local_ms)

    def _race_instant(self, race_ms: int) -> int:
        """The instant of a race time (with no anchor yet, "now" is the latest race time shown)."""
        clock = self.clock
        assert clock.local_ms is not None
        if clock.anchor is None:
            clock.anchor = clock.local_ms - self._race_now
        return clock.instant(clock.anchor + race_ms)

    # -- emitting ------------------------------------------------------------

    def _emit(
        self,
        content_id: str,
        body: events.EventBody | Callable[[int], events.EventBody],
        *,
        race_ms: int | None = None,
        local_ms: int | None = None,
        car: _Car | None = None,
        lap: bool = False,
    ) -> None:
        """Queue an event; the events of a car whose entry has not come wait with it."""
        self._open()
        if race_ms is None and local_ms is None:
            local_ms = self.clock.local_ms  # "now"
        item = _Pending(content_id, body, race_ms, local_ms, car.number if car is not None and lap else None)
        if car is not None and car.held is not None:
            car.held.append(item)
        else:
            self._pending.append(item)

    def _open(self) -> None:
        if not self._opened:
            self._opened = True
            self._pending.append(_Pending("open", self._opened_body, local_ms=self.clock.local_ms))

    def _drain(self) -> list[events.Event]:
        out: list[events.Event] = []
        while self._pending:
            item = self._pending[0]
            if item.id == "open" and self._kind is None and kind_of(self.name) is None and self._kind_seen is None:
                break  # the kind is not known yet: the feed's order will say it
            at = self._at(item)
            if at is None:
                break
            self._pending.pop(0)
            try:
                body = item.body(at) if callable(item.body) else item.body
            except Exception as error:  # one event that cannot be made never holds up the ones after it
                self._aside(RejectCode.OUT_OF_BOUNDS, f"event {item.id} dropped: {error!r}")
                continue
            out.append(
                events.Event(
                    id=event_id(self.session, item.id), session=self.session, producer=self.producer, at=at, body=body
                )
            )
        return out

    def _opened_body(self, at: int) -> events.SessionOpened:
        name = self.name
        start = datetime.fromtimestamp(at / 1000, self._tz)
        return events.SessionOpened(
            name=name[:200],
            kind=self._kind or kind_of(name) or self._kind_seen or events.SessionKind.RACE,
            scheduled_start=start.isoformat(timespec="seconds"),
            time_zone=self.time_zone,
            length=self._length or self._length_seen or events.SessionLength(),
            track=self._track,
            track_length_m=self._track_length_m,
            rules=self._rules,
        )

    @staticmethod
    def _length_of(beat: parser.Heartbeat) -> events.SessionLength | None:
        """Time to go + race time (to the minute when within 2 s of one), or laps to go before the start."""
        race = max(beat.race_time_ms or 0, 0)
        time_ms: int | None = None
        if beat.time_to_go_ms and 0 < beat.time_to_go_ms < 100 * HOUR_MS:
            time_ms = beat.time_to_go_ms + race
            minute = round(time_ms / 60_000) * 60_000
            if minute and abs(minute - time_ms) <= 2_000:
                time_ms = minute
        laps = beat.laps_to_go if beat.laps_to_go and 0 < beat.laps_to_go < 100_000 and race == 0 else None
        return events.SessionLength(time_ms=time_ms, laps=laps) if time_ms or laps else None

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
            body = events.EntryRegistered(
                number=car.number,
                class_name=key[0],
                team=key[1],
                car=key[2],
                manufacturer=key[3],
                crew=[events.Driver(name=driver, nationality=nationality)],
            )
            content = "|".join((*key, driver))
            # a car whose laps waited for its entry is registered when its first lap began, before them
            since = car.held_since if car.held else None
            self._emit(f"e-{car.number}-{car.registrations}-{_short_hash(content)}", body, race_ms=since)
            car.registrations += 1
            if not car.registered:
                car.driver = driver
            car.registered = True
            car.entry_key = key
            self._release(car)
            for held in self._held_crossings.pop(car.number, []):
                self._timeline(car, held)
        if driver != car.driver:
            content_id = f"d-{car.number}-{car.driver_changes}-{_short_hash(driver)}"
            self._emit(content_id, events.DriverChanged(number=car.number, driver=driver))
            car.driver_changes += 1
            car.driver = driver

    def _flush_registrations(self) -> None:
        if self._dirty:
            dirty, self._dirty = self._dirty, {}
            for car in dirty.values():
                self._register(car)

    def _hold(self, car: _Car, race_ms: int) -> None:
        """A car with no entry yet: its events wait for its ``$A``/``$COMP``."""
        if car.held is None and not car.registered:
            car.held, car.held_since = [], race_ms
            self._held_cars[car.registration] = car

    def _release(self, car: _Car) -> None:
        if car.held is not None:
            self._pending.extend(car.held)
            car.held = None
            self._held_cars.pop(car.registration, None)

    def _release_unknown(self, car: _Car) -> None:
        """The entry never came: registered with placeholders (its ``$A`` re-registers it if it comes later)."""
        self.stats.placeholders += 1
        self._aside(
            RejectCode.UNKNOWN_CAR,
            f"car {car.registration!r} passed the line but the feed never announced it ($A/$COMP): "
            f"registered as #{car.number} with an unknown entry",
        )
        self._register(car)

    def _time_out_unknown_cars(self) -> None:
        for car in list(self._held_cars.values()):
            if self._race_now - car.held_since >= self._unknown_timeout:
                self._release_unknown(car)

    # -- handlers ----------------------------------------------------------------

    def _on_run(self, record: parser.RunInfo, arrival: float | None) -> None:
        self._run_name = record.description or self._run_name
        self._open()

    def _on_heartbeat(self, beat: parser.Heartbeat, arrival: float | None) -> None:
        if self._length_seen is None:
            self._length_seen = self._length_of(beat)
        if beat.time_of_day_ms is None or not self._tell_time(beat.time_of_day_ms, beat.race_time_ms, arrival):
            return
        race = beat.race_time_ms
        running = (
            beat.flag is not parser.FeedFlag.NONE
            and race is not None
            and (race > 0 or beat.flag is parser.FeedFlag.GREEN)
        )
        if running and race is not None:
            clock = self.clock
            clock.anchor_at(race)
            assert clock.local_ms is not None and clock.anchor is not None
            if abs(clock.local_ms - clock.anchor - race) <= self._reanchor:  # a race time the clock agrees with
                self._race_now = max(self._race_now, race)
                self._time_out_unknown_cars()
        started_now = False
        if running and not self._started:
            self._started = True
            started_now = True
            self._emit("start", events.SessionStarted(), race_ms=0)
        self._on_flag(beat, started_now)
        self._unpark_all()
        self._tick()

    def _on_flag(self, beat: parser.Heartbeat, started_now: bool) -> None:
        flag = beat.flag
        if flag is parser.FeedFlag.NONE:
            return
        same = flag == self._flag and (flag is not parser.FeedFlag.UNKNOWN or beat.flag_raw == self._flag_raw)
        self._flag, self._flag_raw = flag, beat.flag_raw
        if flag is parser.FeedFlag.GREEN and started_now:
            return  # SessionStarted says green
        if same and not started_now:
            return  # a start under another flag repeats that flag after SessionStarted
        race = beat.race_time_ms
        stamp = f"{race // 1000}" if race is not None and race > 0 else f"t{(self.clock.local_ms or 0) // 1000}"
        if flag is parser.FeedFlag.FINISH and not self._finished:
            self._finished = True
            self._emit("finish", events.SessionFinished(), race_ms=self._finish_race_ms(race))
            return
        self._emit(f"f-{_FLAG_OF[flag].value}-{stamp}", events.FlagChanged(flag=_FLAG_OF[flag]))

    def _finish_race_ms(self, flag_race_ms: int | None) -> int | None:
        """The leader's last passing, if the flag came with it; else the flag's own race time."""
        timed = [car for car in self._cars.values() if car.registered and car.laps > 0 and car.last_total is not None]
        if timed:
            leader = min(timed, key=lambda car: (-car.laps, car.last_total or 0))
            assert leader.last_total is not None
            if flag_race_ms is None or flag_race_ms - leader.last_total <= self._finish_window:
                return leader.last_total
        return flag_race_ms if flag_race_ms is not None and flag_race_ms >= 0 else None

    def _on_competitor(self, record: parser.Competitor | parser.CompetitorExt, arrival: float | None) -> None:
        if not record.registration:
            return
        car = self._car(record.registration, record.number)
        car.first_name, car.last_name, car.nationality = record.first_name, record.last_name, record.nationality
        if record.class_number is not None:
            car.class_number = record.class_number
        if isinstance(record, parser.CompetitorExt):
            car.additional = record.additional
        car.known = True
        self._dirty[car.registration] = car

    def _on_class(self, record: parser.ClassInfo, arrival: float | None) -> None:
        description = record.description.strip()
        if self._classes.get(record.class_number) == description:
            return
        self._classes[record.class_number] = description
        for car in self._cars.values():
            if car.registered and car.class_number == record.class_number:
                self._dirty[car.registration] = car

    def _on_setting(self, record: parser.Setting, arrival: float | None) -> None:
        if record.name == "TRACKNAME" and record.value:
            self._track = record.value[:200]
        elif record.name == "TRACKLENGTH":
            try:
                length = round(float(record.value) * self._unit_m)
            except (ValueError, OverflowError):
                return
            self._track_length_m = length if 0 < length < 1_000_000 else None

    def _on_init(self, record: parser.Init, arrival: float | None) -> None:
        self.clock.state_day(record.date)
        self.feed_positions.clear()
        began = self.stats.laps or self.stats.reported_laps
        self._board.open(events.ScoreboardReason.RESET if began else events.ScoreboardReason.FIRST)
        self._open()

    def _on_position(self, record: parser.RacePosition, arrival: float | None) -> None:
        if not record.registration:
            return
        if record.total_ms is not None and (reason := self._absurd_total(record.total_ms)):
            self._aside(RejectCode.OUT_OF_BOUNDS, f"$G of {record.registration!r}: {reason}")
            return
        car = self._cars.get(record.registration)
        if car is None and record.laps and record.laps > 0:  # on the scoreboard with laps, never announced
            car = self._car(record.registration)
            self._hold(car, self._race_now)
        number = car.number if car else self._number_for(record.registration, record.registration)
        position = FeedPosition(record.position, record.laps, record.total_ms)
        self.feed_positions[number] = position
        if car is None:
            return
        latest = car.feed
        if (
            latest is not None
            and latest.total_ms is not None
            and record.total_ms is not None
            and record.total_ms < latest.total_ms
            and (record.laps or 0) < (latest.laps or 0)
        ):
            return  # an older row sent again after the newer one (updates are not atomic): it says nothing new
        car.feed = position
        self._board.saw(record.registration)
        if self._kind_seen is None and self._kind is None:
            self._read_kind()
        if car.parked is not None:  # the passing this row goes with
            self._unpark(car)

    def _on_best(self, record: parser.PracticePosition, arrival: float | None) -> None:
        """``$H``: the feed's best lap of the car; laps faster than it are not counted for bests."""
        best = record.best_ms
        if best is None or not record.registration:
            return
        if reason := self._absurd_lap(best):
            self._aside(RejectCode.OUT_OF_BOUNDS, f"$H best of {record.registration!r}: {reason}")
            return
        car = self._cars.get(record.registration)
        if car is None:  # on the scoreboard with a best, never announced
            car = self._car(record.registration)
            self._hold(car, self._race_now)
        self._bests_seen[record.registration] = best
        car.board_best = (best, record.best_lap)
        self._board.saw(record.registration)
        if self._kind_seen is None and self._kind is None:
            self._read_kind()
        if car.past:
            return  # a row re-sent from before: it would revoke bests set since
        while car.counting and car.counting[0][0] < best:
            lap_ms, lap = car.counting.pop(0)
            car.revoked[lap] = lap_ms
            self._best_flag(car, lap, counts=False, reason=f"the timing system's best is {_clock_text(best)}")
        for lap, lap_ms in sorted(car.revoked.items()):
            if lap_ms >= best:
                del car.revoked[lap]
                bisect.insort(car.counting, (lap_ms, lap))
                self._best_flag(
                    car, lap, counts=True, reason=f"the timing system counts it again ({_clock_text(best)})"
                )

    def _best_flag(self, car: _Car, lap: int, *, counts: bool, reason: str) -> None:
        self.stats.revoked_bests += 0 if counts else 1
        body = events.LapCorrected(number=car.number, lap=lap, counts_for_best=counts, reason=reason)
        self._emit(f"b-{car.number}-{lap}-{car.best_changes}", body, car=car)
        car.best_changes += 1

    def _read_kind(self) -> None:
        """Practice when the feed puts a car with fewer laps ahead (it orders by best lap), race when it puts a car
        with a slower best ahead (it orders by laps): one pair of cars says it."""
        rows = []
        for registration, best in self._bests_seen.items():
            car = self._cars.get(registration)
            if car is not None and car.feed is not None and car.feed.laps:
                rows.append((car.feed.position, car.feed.laps, best))
        rows.sort()
        for i, (ahead, laps_ahead, best_ahead) in enumerate(rows):
            for place, laps, best in rows[i + 1 :]:
                if place == ahead:
                    continue  # one of the two rows is out of date
                if laps_ahead < laps:
                    self._kind_seen = events.SessionKind.PRACTICE
                    return
                if best_ahead > best:
                    self._kind_seen = events.SessionKind.RACE
                    return

    def _on_passing(self, record: parser.Passing, arrival: float | None) -> None:
        total = record.total_ms
        if reason := self._absurd_total(total):
            self._aside(RejectCode.OUT_OF_BOUNDS, f"$J of {record.registration!r}: {reason}")
            return
        if total == 0:
            self.stats.pre_green += 1
            return
        if 0 < record.lap_ms <= total and (reason := self._absurd_lap(record.lap_ms)):
            self._aside(RejectCode.OUT_OF_BOUNDS, f"$J of {record.registration!r}: {reason}")
            return
        car = self._car(record.registration)
        self._race_now = max(self._race_now, total)
        if car.parked is not None:
            self._unpark(car)
        car.parked = record  # until its $G says which lap it is (Orbits sends it right after)
        self._parked[car.registration] = car

    def _unpark(self, car: _Car) -> None:
        record, car.parked = car.parked, None
        self._parked.pop(car.registration, None)
        if record is not None:
            self._take_passing(car, record)

    def _unpark_all(self) -> None:
        for car in list(self._parked.values()):
            self._unpark(car)

    def _take_passing(self, car: _Car, record: parser.Passing) -> None:
        total = record.total_ms
        if self._resent(car, total, record.lap_ms):
            return
        newest = max(car.last_total or 0, (car.feed.total_ms or 0) if car.feed else 0)
        if total < newest - self._window:
            self.stats.stale += 1
            car.past = True
            return
        car.past = False
        feed_laps = 0
        if car.feed is not None and car.feed.laps is not None and car.feed.total_ms is not None:
            if abs(car.feed.total_ms - total) < self._window:
                feed_laps = car.feed.laps
            elif car.feed.total_ms < total:
                feed_laps = car.feed.laps + 1
        lap_ms = record.lap_ms
        if (
            car.laps == 0
            and car.last_total is None
            and feed_laps <= 1
            and (lap_ms == 0 or lap_ms > total + self._window)
        ):
            self.stats.start_crossings += 1
            car.last_total = total
            car.in_pit_lane = False
            return
        lap = max(car.laps + 1, feed_laps)
        timed = lap_ms > 0
        if not timed and car.last_total is not None and lap == car.laps + 1:
            lap_ms = total - car.last_total
        if lap_ms > 0 and (reason := self._absurd_lap(lap_ms)):
            self._aside(RejectCode.OUT_OF_BOUNDS, f"$J of {record.registration!r}: {reason}")
            return
        if not car.known:
            self._hold(car, total)
        self._time_out_unknown_cars()
        self._lap(car, lap, lap_ms, total, counts=timed)

    def _resent(self, car: _Car, total: int, lap_ms: int) -> bool:
        """Whether the passing is one of the car's last ones sent again: identical (nothing) or a few milliseconds
        different (a correction)."""
        if car.last_total is None:
            return False
        for index in range(len(car.log) - 1, max(-1, len(car.log) - 3), -1):
            entry = car.log[index]
            if abs(total - entry.total) < self._window:
                car.past = index < len(car.log) - 1
                self._correct(car, index, total, lap_ms or entry.lap_ms, "re-sent by the timing system")
                return True
        if abs(total - car.last_total) < self._window:  # the first crossing, sent again: its new time is the start
            self.stats.repeats += 1
            if not car.log:
                car.last_total = total
            return True
        return False

    def _correct(self, car: _Car, index: int, total: int, lap_ms: int, reason: str) -> None:
        entry = car.log[index]
        if total == entry.total and lap_ms == entry.lap_ms:
            self.stats.repeats += 1
            return
        earlier = car.log[index - 1].total if index else None
        later = car.log[index + 1].total if index + 1 < len(car.log) else None
        if (earlier is not None and total <= earlier) or (later is not None and total >= later):
            self._aside(RejectCode.OUT_OF_BOUNDS, f"a correction of lap {entry.lap} of #{car.number} leaves its place")
            return
        if (absurd := self._absurd_lap(lap_ms)) is not None:
            self._aside(RejectCode.OUT_OF_BOUNDS, f"a correction of lap {entry.lap} of #{car.number}: {absurd}")
            return
        new_time = lap_ms if lap_ms != entry.lap_ms else None
        counts = None
        if not entry.lap_ms:  # a lap taken from the scoreboard: its passing came after all
            entry.counts = counts = True
            bisect.insort(car.counting, (lap_ms, entry.lap))
        elif entry.counts and new_time is not None:
            at = bisect.bisect_left(car.counting, (entry.lap_ms, entry.lap))
            if at < len(car.counting) and car.counting[at] == (entry.lap_ms, entry.lap):
                del car.counting[at]
                bisect.insort(car.counting, (lap_ms, entry.lap))
                self._best_ms = min(self._best_ms or lap_ms, lap_ms)
            elif entry.lap in car.revoked:
                car.revoked[entry.lap] = lap_ms
        if car.last_total == entry.total:
            car.last_total = total
        entry.total, entry.lap_ms = total, lap_ms
        self.stats.corrections += 1
        lap = entry.lap

        def corrected(at: int) -> events.LapCorrected:
            crossing = self._race_instant(total)
            return events.LapCorrected(
                number=car.number,
                lap=lap,
                crossing=crossing,
                lap_time_ms=new_time,
                counts_for_best=counts,
                reason=reason,
            )

        self._emit(f"c-{car.number}-{lap}-{total}-{lap_ms}", corrected, car=car)

    def _on_corrected_finish(self, record: parser.CorrectedFinish, arrival: float | None) -> None:
        """``$COR``: the total of the lap it names, corrected."""
        car = self._cars.get(record.registration)
        if car is None or record.laps is None or record.total_ms is None:
            return
        if reason := self._absurd_total(record.total_ms):
            self._aside(RejectCode.OUT_OF_BOUNDS, f"$COR of {record.registration!r}: {reason}")
            return
        self._unpark(car)
        index = bisect.bisect_left(car.log, record.laps, key=lambda entry: entry.lap)
        if index == len(car.log) or car.log[index].lap != record.laps:
            self._aside(RejectCode.UNKNOWN_LAP, f"$COR of #{car.number} corrects lap {record.laps}, never sent")
            return
        change = f"{'+' if (record.correction_ms or 0) >= 0 else '-'}{_clock_text(abs(record.correction_ms or 0))}"
        self._correct(car, index, record.total_ms, car.log[index].lap_ms, f"corrected finish ({change})")

    def _lap(self, car: _Car, lap: int, lap_ms: int, total: int, *, counts: bool) -> None:
        if lap_ms <= 0:  # no time to give it: the scoreboard ($G) will count it
            self.stats.untimed_laps += 1
            return
        car.laps = lap
        car.last_total = total
        in_pit, car.in_pit_lane = car.in_pit_lane, False
        self.stats.laps += 1
        car.log.append(_Lap(lap, total, lap_ms, counts))
        if counts:
            bisect.insort(car.counting, (lap_ms, lap))
            self._best_ms = min(self._best_ms or lap_ms, lap_ms)
        body = events.LapCompleted(
            number=car.number, lap=lap, lap_time_ms=lap_ms, driver=car.driver, in_pit=in_pit, counts_for_best=counts
        )
        self._emit(f"j-{car.number}-{lap}", body, race_ms=total, car=car, lap=True)
        if self._kind_seen is None and self.stats.laps >= KIND_WAIT_LAPS:
            self._kind_seen = events.SessionKind.RACE

    # -- the scoreboard ------------------------------------------------------------------

    def _timed(self, car: _Car, lap: int | None) -> int | None:
        """The time of the car's lap ``lap`` as a passing showed it (None: no passing did)."""
        if lap is None:
            return None
        index = bisect.bisect_left(car.log, lap, key=lambda entry: entry.lap)
        found = index < len(car.log) and car.log[index].lap == lap
        return car.log[index].lap_ms or None if found else None

    def _verdict(self, car: _Car) -> Verdict:
        """What the car's scoreboard row says that its passings do not."""
        laps: tuple[str, int] | None = None
        row = car.feed
        if row is not None and row.laps is not None:
            if row.laps > car.laps and row.total_ms is not None:
                laps = ("more", row.laps)
            elif row.laps < car.laps:
                laps = ("fewer", row.laps)
        best: tuple[str, int, int | None] | None = None
        if car.board_best is not None:
            ms, lap = car.board_best
            ours = car.counting[0][0] if car.counting else None
            if ours != ms and not (lap and lap > car.laps):  # a best on a lap not reached yet waits for it
                timed = self._timed(car, lap)
                best = ("missed", ms, lap) if timed is None and lap else ("differs", ms, ours)
        return (laps, best)

    def _tick(self, final: bool = False) -> None:
        """Write what the scoreboard says that the passings do not, if anything (see :class:`BoardWatch`)."""
        now = self.clock.local_ms
        board = self._board
        if now is None or (board.reason is None and not board.changed):
            return
        reason = board.reason
        cars = [r for r, car in self._cars.items() if car.registered and car.held is None] if reason else []
        triggered = board.triggered(now, cars, final)
        rows = set(triggered)
        for registration in board.take_changed():
            car = self._cars.get(registration)
            if car is not None and self._verdict(car) != board.said.get(registration, AGREES):
                rows.add(registration)
        for registration in list(rows):
            car = self._cars[registration]
            if car.past or not car.registered or car.held is not None:  # judged once back, or once announced
                rows.discard(registration)
                board.changed.add(registration)
        if triggered:
            board.reported(now, triggered & rows, cars)
        if any(self._verdict(self._cars[r]) != board.said.get(r, AGREES) for r in rows):
            self._report(sorted(rows), reason if triggered & rows and reason else events.ScoreboardReason.UPDATE)

    def _report(self, registrations: list[str], reason: events.ScoreboardReason) -> None:
        rows: list[_Row] = []
        added: list[str] = []
        for registration in registrations:
            car = self._cars[registration]
            row = car.feed
            laps, total = (row.laps, row.total_ms) if row is not None else (None, None)
            if laps is None and car.board_best is None:
                continue
            if laps is not None and total is not None and laps > car.laps and total > (car.last_total or -1):
                added.append(f"#{car.number} +{laps - car.laps}")
                self.stats.reported_laps += laps - car.laps
                car.laps, car.last_total = laps, total
                car.log.append(_Lap(laps, total, 0, False))
            position = row.position if row is not None and row.position > 0 else None
            rows.append((car.number, position, laps, total, car.board_best))
            verdict = self._verdict(car)
            if verdict != self._board.said.get(registration, AGREES):
                self._disagreement(car, verdict)
            self._board.said[registration] = verdict
        if not rows:
            return

        for start in range(0, len(rows), SCOREBOARD_CARS):  # one event of at most so many cars (ingest's size)
            chunk = rows[start : start + SCOREBOARD_CARS]

            def report(at: int, chunk: list[_Row] = chunk) -> events.ScoreboardReported:
                return events.ScoreboardReported(
                    source="rmonitor",
                    reason=reason,
                    cars=[
                        events.ScoreboardCar(
                            number=number,
                            position=position,
                            laps=laps,
                            total_ms=total,
                            last_crossing=self._race_instant(total) if total is not None else None,
                            best_lap_ms=best[0] if best is not None else None,
                            best_lap=best[1] if best is not None and best[1] and best[1] > 0 else None,
                        )
                        for number, position, laps, total, best in chunk
                    ],
                )

            self._emit(f"s-{self.stats.scoreboards}", report)
            self.stats.scoreboards += 1
        if added:
            self.notices.append(Notice(None, f"scoreboard ({reason.value}): laps taken from it: {', '.join(added)}"))

    def _disagreement(self, car: _Car, verdict: Verdict) -> None:
        """What race control should look at before results are declared: both values, in the rejects stream."""
        laps, best = verdict
        if laps is not None and laps[0] == "fewer":
            self.stats.disagreements += 1
            self.notices.append(
                Notice(
                    RejectCode.SCOREBOARD_DISAGREES,
                    f"#{car.number}: the passings count {car.laps} laps, the timing system's scoreboard {laps[1]}",
                )
            )
        if best is not None and best[0] == "differs":
            ours = _clock_text(best[2]) if best[2] is not None else "none"
            self.stats.disagreements += 1
            self.notices.append(
                Notice(
                    RejectCode.SCOREBOARD_DISAGREES,
                    f"#{car.number}: best lap {ours} from the passings, {_clock_text(best[1])} on the timing "
                    "system's scoreboard",
                )
            )

    def _on_timeline(self, record: parser.TimelineCrossing, arrival: float | None) -> None:
        number = record.number.strip()
        if not number:
            return
        self.clock.state_day(record.date)
        if self.clock.local_ms is None:
            self.clock.meanwhile(record.time_of_day_ms)
            self._stamp_pending()
        car = self._by_number.get(number)
        if car is None or not car.registered:
            self._held_crossings.setdefault(number, []).append(record)
            return
        self._unpark(car)  # its passing came before this crossing
        self._timeline(car, record)

    def _timeline(self, car: _Car, record: parser.TimelineCrossing) -> None:
        local = self.clock.local_of(record.date, record.time_of_day_ms)
        stamp = f"{record.date:%Y%m%d}" if record.date else "0"
        content_id = f"l-{car.number}-{record.name}-{stamp}-{record.time_of_day_ms}"
        if record.name in PIT_IN_LINES:
            self._emit(content_id, events.PitIn(number=car.number), local_ms=local)
        elif record.name in PIT_OUT_LINES:
            self._emit(content_id, events.PitOut(number=car.number), local_ms=local)
        else:
            car.in_pit_lane = record.name == PIT_LANE_FINISH_LINE
