"""The calendar read model folded from the whole log: each championship's schedule, and what its timing
sessions' events say (first data, the green flag, the finish, the latest event).

Pure. The standings projector feeds it every stored event and writes
:meth:`CalendarFold.read_model` to KV ``<championship>.calendar`` when
:meth:`CalendarFold.apply` says it changed. The value depends only on the log
(the latest event is kept to the minute), so it changes at most once a minute
per running session and the same log gives the same bytes.
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec
from msgspec import structs

from schemas.calendar import CalendarRound, CalendarSession, SeasonCalendar, SessionActivity, encode_calendar
from schemas.events import (
    CALENDAR_BODIES,
    FIRST_SCHEDULED,
    MAX_INSTANT,
    CarRetired,
    DriverChanged,
    Event,
    Flag,
    FlagChanged,
    LapCompleted,
    LineCrossing,
    PitIn,
    PitOut,
    ResultsDeclared,
    ScheduledRound,
    SessionFinished,
    SessionStarted,
)
from services.calendar.local import CalendarError, local_day, zone
from services.calendar.schedule import Schedule, apply
from services.structs import carried

MINUTE_MS = 60_000

TIMING_DATA = frozenset({LineCrossing, LapCompleted, PitIn, PitOut, DriverChanged, FlagChanged, CarRetired,
                         SessionStarted, SessionFinished})  # fmt: skip
"""Events that show a feed running: what the timing system sends while a session is on. A session opened with its
entries has no data yet; a decision published hours later is no sign of a running feed. (Sets of types: the fold
runs on every event of the log, and ``type(body) in`` a set costs a fraction of ``isinstance`` on a tuple.)"""
CALENDAR_TYPES = frozenset(CALENDAR_BODIES)

MARKS = frozenset({SessionStarted, SessionFinished, FlagChanged})
"""Timing events that can change more than the latest instant."""

NO_ACTIVITY = SessionActivity()
_LARGEST = -(2**63)  # the longest integer msgspec writes
ACTIVITY_BYTES = len(msgspec.json.encode(SessionActivity(first_at=_LARGEST, started_at=_LARGEST, finished_at=_LARGEST,
                                                          last_at=_LARGEST, red=False)))  # fmt: skip
"""The most a session's activity adds to its read model (its empty one is in the value already)."""
MAX_READ_MODEL_BYTES = 768 * 1024
"""A calendar's read model at its largest: a KV value must fit NATS' ``max_payload`` (1 MiB by default)."""


def advance(activity: SessionActivity, event: Event) -> SessionActivity:
    """The activity after one event of its session (``activity`` itself when the event changes nothing)."""
    body = event.body
    kind = type(body)
    at = event.at
    if kind is ResultsDeclared:
        return activity if activity.finished_at is not None else structs.replace(activity, finished_at=at)
    if kind not in TIMING_DATA or not FIRST_SCHEDULED <= at <= MAX_INSTANT:  # a lap dated 3000 is no running feed
        return activity
    minute = at - at % MINUTE_MS
    last, first = activity.last_at, activity.first_at
    if (  # the common case, a lap or a crossing within the minute already kept: nothing changes
        last is not None and first is not None and first <= at and minute <= last and kind not in MARKS
    ):
        return activity
    changed = SessionActivity(
        first_at=at if first is None else min(first, at),
        started_at=at if activity.started_at is None and isinstance(body, SessionStarted) else activity.started_at,
        finished_at=at if activity.finished_at is None and isinstance(body, SessionFinished) else activity.finished_at,
        last_at=minute if last is None else max(last, minute),
        red=body.flag is Flag.RED and body.sector is None if isinstance(body, FlagChanged) else activity.red,
    )
    return activity if changed == activity else changed


class CalendarFold:
    """Every championship's calendar and the activity of every timing session, from the events in log order."""

    def __init__(self) -> None:
        self.schedules: dict[str, Schedule] = {}
        self.activity: dict[str, SessionActivity] = {}
        """Session key -> what its timing events say; kept for every session, so a calendar published after its
        sessions ran still shows their actual starts."""

    def apply(self, event: Event) -> str | None:
        """Fold one stored event; the championship whose read model it changed, or None.

        A calendar event that cannot apply (ingest refuses those, so one stored here came another way) raises
        :class:`CalendarError` and changes nothing."""
        body = event.body
        championship = event.session.championship
        if type(body) in CALENDAR_TYPES:
            if not event.session.is_calendar:
                raise CalendarError(f"{type(body).__name__} outside the calendar session, in {event.session.key}")
            self.schedules[championship] = apply(self.schedules.get(championship), body, event.at)  # type: ignore[arg-type]
            return championship
        if event.session.is_championship:
            return None
        key = event.session.key
        held = self.activity.get(key, NO_ACTIVITY)
        activity = advance(held, event)
        if activity is held:
            return None
        self.activity[key] = activity
        schedule = self.schedules.get(championship)
        if schedule is None:
            return None
        scheduled = any(
            r.event == event.session.event and any(s.session == event.session.session for s in r.sessions)
            for r in schedule.season.rounds
        )
        return championship if scheduled else None

    def read_model(self, championship: str) -> SeasonCalendar:
        return season_calendar(championship, self.schedules[championship], self.activity)


def season_calendar(championship: str, schedule: Schedule, activity: Mapping[str, SessionActivity]) -> SeasonCalendar:
    """The read model of a schedule, with the activity of its sessions (by session key)."""
    rounds = [_round(championship, schedule, r, activity) for r in schedule.season.rounds]
    rounds.sort(key=lambda r: (r.first_day, r.sessions[0].start if r.sessions else 0, r.event))
    return SeasonCalendar(
        championship=championship,
        name=schedule.season.name,
        revision=schedule.revision,
        updated_at=schedule.updated_at,
        rounds=rounds,
    )


def _round(
    championship: str, schedule: Schedule, round_: ScheduledRound, activity: Mapping[str, SessionActivity]
) -> CalendarRound:
    circuit = zone(round_.time_zone)
    sessions = [
        carried(
            CalendarSession,
            s,
            key=f"{championship}.{round_.event}.{s.session}",
            changes=list(schedule.changes.get((round_.event, s.session), ())),
            sequence=schedule.sequences.get((round_.event, s.session), 0),
            activity=activity.get(f"{championship}.{round_.event}.{s.session}", NO_ACTIVITY),
        )
        for s in round_.sessions
    ]
    first, last = round_.first_day, round_.last_day
    if first is None or last is None:  # the days of its sessions at the circuit (problems() asks for them else)
        first = min(local_day(s.start, circuit) for s in sessions)
        last = max(local_day(s.end - 1, circuit) for s in sessions)  # a session ending at midnight: its day
    return carried(CalendarRound, round_, first_day=first, last_day=max(first, last), sessions=sessions)


def oversized(championship: str, schedule: Schedule) -> str | None:
    """Why the schedule's read model could outgrow :data:`MAX_READ_MODEL_BYTES` once every session has its
    activity (None: it cannot); ingest refuses such a calendar rather than have the projector fail to write it."""
    sessions = sum(len(r.sessions) for r in schedule.season.rounds)
    size = len(encode_calendar(season_calendar(championship, schedule, {}))) + sessions * ACTIVITY_BYTES
    if size <= MAX_READ_MODEL_BYTES:
        return None
    return (
        f"the calendar would take {size:,} bytes as a read model, more than {MAX_READ_MODEL_BYTES:,}: "
        "fewer sessions, shorter names or reasons"
    )
