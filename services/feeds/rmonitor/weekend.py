"""One RMonitor connection, a whole weekend: which records belong to which session.

Pure, like the mapper it drives. :class:`WeekendMapper` hands each record to
the :class:`~services.feeds.rmonitor.mapper.RMonitorMapper` of the session it
belongs to and returns their events and notices.

- **Runs are sessions.** A ``$B`` of another run starts a new session: its key
  is ``<championship>.<event>.<name slug>-<run>`` (see
  :func:`~services.feeds.rmonitor.naming.session_token`), its name and kind the
  run's. Records before any ``$B`` belong to the first run named. The entry
  list (``$A``/``$COMP``/``$C``/``$E`` since the last ``$I``) carries over to a
  new run. ``run`` restricts the feed to one run; ``session`` maps one run
  (that one, or the first that is not idle) into a fixed key.
- **A session exists once something happens in it**: its events are held
  until its first lap (or, in one fixed session, from its first record). The
  empty scratch run Orbits sends at every run change (``$B,95``) makes nothing.
- **``$I`` is a reset, not a new session**: the records after it wait for the
  ``$B`` that follows; the same run goes on in the same session (installs
  reset mid-race and re-send everything), another run is a new session.
- **A lost reset** (the ``$I`` never came) is noticed when, in a session that
  has laps, the race clock goes back more than :data:`BACKWARDS_MS` for
  :data:`CONFIRMATIONS` heartbeats in a row, or the lap counts (``$G``) or
  totals (``$J``) drop for most cars: a new session starts (the same run,
  ``-2``), and the records since the first sign of it go there. One sign that
  the old clock still runs ends the suspicion and those records go on in the
  old session. In a fixed session the run ends there: what follows is ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec

from schemas.events import Event, SessionRef
from services.feeds.ids import event_id
from services.feeds.rmonitor import parser
from services.feeds.rmonitor.clock import CONFIRMATIONS
from services.feeds.rmonitor.mapper import ENTRY_BLOCK, FeedPosition, Notice, RMonitorMapper
from services.feeds.rmonitor.naming import session_token
from services.feeds.rmonitor.options import RMonitorOptions

BACKWARDS_MS = 60_000
"""How far back the race clock (or a car's total) must go to be a sign of a lost reset."""
MAX_HELD_RECORDS = 2_000
"""Records held while a reset's ``$B`` or a lost reset is awaited; beyond it the current session goes on."""
MAX_LAPS = 100_000
"""A ``$G`` lap count beyond it is noise, no reference for a lost reset."""
MAX_HELD_EVENTS = 10_000
"""Events a session that has not begun holds; beyond it the oldest are dropped (a run of nothing but flags)."""

Held = tuple[parser.RMonitorRecord, float | None]


@dataclass
class WeekendStats:
    sessions: int = 0
    """Sessions that began (had a lap)."""
    lost_resets: int = 0
    ignored: int = 0
    """Records of runs not followed."""


@dataclass
class _Slot:
    run: int | None
    mapper: RMonitorMapper
    part: int = 1
    began: bool = False
    events: list[Event] = field(default_factory=list)
    """What it made before it began."""
    following: bool = True
    """False once a fixed session's run ended (a lost reset): its records are ignored."""
    laps: dict[str, int] = field(default_factory=dict)
    """Registration -> the highest ``$G`` lap count seen."""


_ENTRY_LIST = frozenset({parser.Init, parser.Competitor, parser.CompetitorExt, parser.ClassInfo, parser.Setting})
"""The records that make the entry list a new run starts with."""


def _quiet(record: parser.RMonitorRecord) -> bool:
    """A record the timing system re-sends after a reset before it names the run: entries, an idle heartbeat, an
    empty scoreboard row."""
    if isinstance(record, (*ENTRY_BLOCK, parser.Init)):
        return True
    if isinstance(record, parser.Heartbeat):
        return record.flag is parser.FeedFlag.NONE
    if isinstance(record, parser.RacePosition):
        return record.laps is None
    if isinstance(record, parser.PracticePosition):
        return record.best_ms is None
    return False


class _Suspicion:
    """Signs that a reset was lost, gathered over the records held meanwhile."""

    def __init__(self) -> None:
        self.records: list[Held] = []
        self.backwards = 0
        self.dropped: set[str] = set()
        self.steady = 0


class WeekendMapper:
    """Maps a whole RMonitor feed (one session after another) to events; :meth:`feed`, :meth:`take_notices`,
    :meth:`flush` as :class:`RMonitorMapper`'s, plus the sessions' keys."""

    def __init__(
        self, championship: str, event: str, options: RMonitorOptions | None = None, *, session: str | None = None
    ) -> None:
        self.options = options = options or RMonitorOptions()
        self.producer = options.producer
        self.championship = championship
        self.event = event
        self._fixed = session
        self._run = options.run
        self._inactive = frozenset(options.inactive_runs)
        self.stats = WeekendStats()
        self.notices: list[tuple[SessionRef | None, Notice]] = []
        self.sessions: list[SessionRef] = []
        """The sessions that began, in order."""
        self._slot: _Slot | None = None
        self._tokens: set[str] = set()
        self._competitors: dict[str, list[parser.Competitor | parser.CompetitorExt]] = {}
        self._classes: dict[int, parser.ClassInfo] = {}
        self._settings: dict[str, parser.Setting] = {}
        self._after_reset: list[Held] | None = None
        self._suspicion: _Suspicion | None = None
        self._catching_up = 0
        """Records left before a reconnect's re-sent lines are over (0: not catching up)."""

    @classmethod
    def one_session(cls, session: SessionRef, options: RMonitorOptions | None = None) -> WeekendMapper:
        """Every record of one run (``run``, or the first that is not idle) into ``session``."""
        return cls(session.championship, session.event, options, session=session.session)

    # -- public ---------------------------------------------------------------------------

    def feed(self, record: parser.RMonitorRecord, arrival: float | None = None) -> list[Event]:
        kind = type(record)
        if kind in _ENTRY_LIST:
            self._remember(record)
        out: list[Event] = []
        if self._suspicion is not None and (kind is parser.Init or kind is parser.RunInfo):
            self._settle_suspicion(False, out)  # a reset, or another run, came after all
        if self._suspicion is not None:
            self._suspect(record, arrival, out)
        elif self._after_reset is not None:
            self._resetting(record, arrival, out)
        elif kind is parser.Init:
            self._after_reset = [(record, arrival)]
        else:
            self._route(record, arrival, out)
        return out

    def flush(self) -> list[Event]:
        out: list[Event] = []
        if self._suspicion is not None:
            self._settle_suspicion(False, out)
        if self._after_reset is not None:
            self._resolve_reset(out)
        slot = self._slot
        if slot is not None:
            self._collect(slot, slot.mapper.flush(), out)
            if self._fixed is not None:
                self._begin(slot, out)
        return out

    def reconnected(self) -> None:
        """The link to the timing system came back: what it re-sends from before the drop (a few hundred lines,
        older race times) is no sign of a lost reset until the feed is back where it was."""
        if self._slot is not None and self._slot.began:
            self._catching_up = MAX_HELD_RECORDS
            self._slot.mapper.reconnected()

    def _catch_up(self, slot: _Slot, record: parser.RMonitorRecord) -> None:
        self._catching_up -= 1
        if isinstance(record, parser.Heartbeat) and (record.race_time_ms or 0) >= slot.mapper.race_now - BACKWARDS_MS:
            self._catching_up = 0

    def take_notices(self) -> list[tuple[SessionRef | None, Notice]]:
        slot = self._slot
        if slot is not None and slot.mapper.notices:
            self.notices += [(slot.mapper.session, notice) for notice in slot.mapper.take_notices()]
        notices, self.notices = self.notices, []
        return notices

    @property
    def mapper(self) -> RMonitorMapper | None:
        """The mapper of the current session."""
        return self._slot.mapper if self._slot is not None else None

    @property
    def session(self) -> SessionRef | None:
        """The current session (a fixed one, or the one the current run maps to)."""
        return self._slot.mapper.session if self._slot is not None else None

    @property
    def feed_positions(self) -> dict[str, FeedPosition]:
        """The feed's last ``$G`` per car number in the current session."""
        return self._slot.mapper.feed_positions if self._slot is not None else {}

    # -- the entry list ------------------------------------------------------------------------

    def _remember(self, record: parser.RMonitorRecord) -> None:
        """The entry list as the timing system holds it (``$I`` clears it)."""
        if isinstance(record, parser.Init):
            self._competitors.clear()
            self._classes.clear()
            self._settings.clear()
        elif isinstance(record, parser.Competitor | parser.CompetitorExt):
            kept = self._competitors.setdefault(record.registration, [])
            kept[:] = [r for r in kept if type(r) is not type(record)] + [record]
        elif isinstance(record, parser.ClassInfo):
            self._classes[record.class_number] = record
        elif isinstance(record, parser.Setting):
            self._settings[record.name] = record

    def _entry_list(self) -> list[parser.RMonitorRecord]:
        records: list[parser.RMonitorRecord] = [*self._settings.values(), *self._classes.values()]
        for kept in self._competitors.values():
            records += kept
        return records

    # -- sessions ---------------------------------------------------------------------------------

    def _follows(self, run: int) -> bool:
        if self._run is not None:
            return run == self._run
        return not (self._fixed is not None and run in self._inactive)

    def _key(self, run: int | None, name: str, part: int) -> SessionRef:
        if self._fixed is not None:
            return SessionRef(self.championship, self.event, self._fixed)
        name = self.options.name or name or "session"
        token = session_token(name, run, part)
        while token in self._tokens:
            part += 1
            token = session_token(name, run, part)
        return SessionRef(self.championship, self.event, token)

    def _new_slot(self, run: int | None, name: str, part: int = 1) -> _Slot:
        day = self._slot.mapper.clock.today if self._slot is not None else None
        options = msgspec.structs.replace(self.options, day=day or self.options.day)
        mapper = RMonitorMapper(self._key(run, name, part), options)
        return _Slot(run=run, mapper=mapper, part=part)

    def _seed(self, slot: _Slot, out: list[Event]) -> None:
        """The entry list known now, to a session that starts following."""
        for record in self._entry_list():
            self._collect(slot, slot.mapper.feed(record), out)

    def _switch(self, run: int | None, name: str, out: list[Event], *, part: int = 1, seed: bool = True) -> None:
        """End the current session (what it still holds is released) and start the next one."""
        old = self._slot
        if old is not None:
            self._collect(old, old.mapper.flush(), out)
            self.take_notices()
        self._slot = self._new_slot(run, name, part)
        if seed:
            self._seed(self._slot, out)

    def _retarget(self, slot: _Slot, run: int, name: str) -> None:
        """A session that has not begun takes the run named after its first records."""
        slot.run = run
        if self._fixed is not None or slot.began:
            return  # a session that began before its $B keeps the key it began with
        ref = self._key(run, name, slot.part)
        slot.mapper.session = ref
        slot.events = [
            msgspec.structs.replace(e, session=ref, id=event_id(ref, e.id.split(":", 1)[1])) for e in slot.events
        ]

    def _on_run(self, record: parser.RunInfo, arrival: float | None, out: list[Event]) -> None:
        slot = self._slot
        if self._fixed is not None:  # one run: the first followed, into the fixed key
            if slot is None:
                self._slot = slot = self._new_slot(None, "")
            if slot.run is None and self._follows(record.run):
                slot.run = record.run
                if not slot.following:  # the entries came while an idle run was on
                    self._seed(slot, out)
            following = slot.run == record.run
        else:
            if slot is None or (slot.run is not None and slot.run != record.run):
                self._switch(record.run, record.description, out)
            elif slot.run is None:
                self._retarget(slot, record.run, record.description)
            following = self._follows(record.run)
        slot = self._slot
        assert slot is not None
        slot.following = following
        if following:
            self._collect(slot, slot.mapper.feed(record, arrival), out)
        else:
            self.stats.ignored += 1

    def _route(self, record: parser.RMonitorRecord, arrival: float | None, out: list[Event]) -> None:
        if type(record) is parser.RunInfo:
            self._on_run(record, arrival, out)
            return
        slot = self._slot
        if slot is None:
            self._slot = slot = self._new_slot(None, "")
        if not slot.following:
            self.stats.ignored += 1
            return
        if self._catching_up:
            self._catch_up(slot, record)
        elif slot.began and self._sign_of_lost_reset(slot, record):
            self._suspicion = _Suspicion()
            self._suspect(record, arrival, out)
            return
        self._watch(slot, record)
        self._collect(slot, slot.mapper.feed(record, arrival), out)

    def _collect(self, slot: _Slot, events: list[Event], out: list[Event]) -> None:
        if slot.began:
            out += events
            return
        slot.events += events
        if len(slot.events) > MAX_HELD_EVENTS:
            del slot.events[: len(slot.events) - MAX_HELD_EVENTS]
        if self._fixed is not None or slot.mapper.stats.laps or slot.mapper.stats.reported_laps:
            self._begin(slot, out)

    def _begin(self, slot: _Slot, out: list[Event]) -> None:
        if slot.began:
            return
        slot.began = True
        self.stats.sessions += 1
        self.sessions.append(slot.mapper.session)
        self._tokens.add(slot.mapper.session.session)
        out += slot.events
        slot.events = []

    # -- resets -----------------------------------------------------------------------------------

    def _resetting(self, record: parser.RMonitorRecord, arrival: float | None, out: list[Event]) -> None:
        """After ``$I``: the quiet records the timing system re-sends wait for the ``$B``, which says whether the
        same run goes on (the same session) or another begins; anything else that happens first means the same
        session goes on."""
        held = self._after_reset
        assert held is not None
        if _quiet(record) and not isinstance(record, parser.RunInfo) and len(held) < MAX_HELD_RECORDS:
            held.append((record, arrival))
            return
        if isinstance(record, parser.RunInfo):
            self._after_reset = None
            self._route(record, arrival, out)  # a new run starts its session first: what was held is its own
            self._release_reset(held, out)
        else:
            self._resolve_reset(out)
            self._route(record, arrival, out)

    def _resolve_reset(self, out: list[Event]) -> None:
        held, self._after_reset = self._after_reset or [], None
        self._release_reset(held, out)

    def _release_reset(self, held: list[Held], out: list[Event]) -> None:
        for record, arrival in held:
            self._route(record, arrival, out)

    def _watch(self, slot: _Slot, record: parser.RMonitorRecord) -> None:
        if type(record) is parser.RacePosition and record.laps is not None and 0 < record.laps <= MAX_LAPS:
            slot.laps[record.registration] = max(record.laps, slot.laps.get(record.registration, 0))

    def _sign_of_lost_reset(self, slot: _Slot, record: parser.RMonitorRecord) -> bool:
        """The race clock, a lap count or a car's total went back (compared with what the mapper took, so an
        absurd value it kept aside is no reference)."""
        kind = type(record)
        if kind is parser.Heartbeat:
            race = record.race_time_ms  # type: ignore[union-attr]
            return race is not None and race < slot.mapper.race_now - BACKWARDS_MS
        if kind is parser.RacePosition:
            laps = record.laps  # type: ignore[union-attr]
            return laps is not None and laps >= 0 and laps < slot.laps.get(record.registration, 0) - 1  # type: ignore[union-attr]
        if isinstance(record, parser.Passing):
            total = slot.mapper.last_total(record.registration)
            return total is not None and 0 < record.total_ms < total - BACKWARDS_MS
        return False

    def _suspect(self, record: parser.RMonitorRecord, arrival: float | None, out: list[Event]) -> None:
        suspicion = self._suspicion
        slot = self._slot
        assert suspicion is not None and slot is not None
        suspicion.records.append((record, arrival))
        sign = self._sign_of_lost_reset(slot, record)
        if isinstance(record, parser.Heartbeat) and record.race_time_ms is not None:
            if not sign:
                self._settle_suspicion(False, out)  # the old clock still runs
                return
            suspicion.backwards += 1
        elif isinstance(record, parser.RacePosition | parser.Passing):
            if sign:
                suspicion.dropped.add(record.registration)
            elif isinstance(record, parser.Passing) or (record.laps or 0) > 0:
                suspicion.steady += 1
        cars = max(len(slot.laps), slot.mapper.cars_timed)
        if suspicion.backwards >= CONFIRMATIONS or len(suspicion.dropped) > max(1, cars // 2):
            self._settle_suspicion(True, out)
        elif suspicion.steady >= CONFIRMATIONS or len(suspicion.records) >= MAX_HELD_RECORDS:
            self._settle_suspicion(False, out)

    def _settle_suspicion(self, lost: bool, out: list[Event]) -> None:
        suspicion, self._suspicion = self._suspicion, None
        slot = self._slot
        assert suspicion is not None and slot is not None
        if lost:
            self.stats.lost_resets += 1
            why = "the race clock went back" if suspicion.backwards >= CONFIRMATIONS else "most lap counts dropped"
            if self._fixed is not None:
                slot.mapper.notices.append(Notice(None, f"lost reset ({why}): the run ended; what follows is ignored"))
                slot.following = False
            else:
                old = slot.mapper.session.key
                self._switch(slot.run, slot.mapper.name, out, part=slot.part + 1)
                assert self._slot is not None
                new = self._slot.mapper.session.session
                self._slot.mapper.notices.append(
                    Notice(None, f"lost reset ({why}): {old} ended, the records since go to session {new}")
                )
        for record, arrival in suspicion.records:
            current = self._slot
            assert current is not None
            if not current.following:
                self.stats.ignored += 1
                continue
            self._watch(current, record)
            self._collect(current, current.mapper.feed(record, arrival), out)
