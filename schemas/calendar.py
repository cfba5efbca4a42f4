"""The season calendar's read models.

:class:`SeasonCalendar` is what the standings projector folds from the log and
writes to KV ``chequered_standings``, key ``<championship>.calendar``: the
schedule as it stands (UTC instants, each round with its circuit's zone), every
change it went through, and what the timing log says of each session. It does
not depend on the time of day: the same log gives the same bytes.

The views (:class:`CalendarView`, :class:`NextEvent`, :class:`LiveNow`) are that
value seen at an instant, in a zone and a language: the gateway and ``chequered
calendar`` compute them on request (``services.calendar.views``).

Versioning is additive, as for events: a new field gets a default.
"""

from __future__ import annotations

import enum
from datetime import date

import msgspec
from msgspec import Struct

from schemas.events import PointsRole, SessionKind

CALENDAR_VERSION = 1


class ChangeKind(enum.StrEnum):
    MOVED = "moved"
    CANCELLED = "cancelled"
    ADDED = "added"
    """Added after the calendar was first published."""
    REINSTATED = "reinstated"
    """A cancelled session back on the schedule."""


class ScheduleChange(Struct, frozen=True, kw_only=True):
    """One change of a session's schedule, as the calendar events made it."""

    kind: ChangeKind
    at: int
    """When the change was published: the instant of the calendar event that made it."""
    start: int
    end: int
    """The session's start and end after the change."""
    was_start: int | None = None
    was_end: int | None = None
    """Before it (a moved session)."""
    reason: str = ""


class SessionActivity(Struct, frozen=True, kw_only=True):
    """What the timing log says of a scheduled session (timing-clock instants, UTC epoch ms)."""

    first_at: int | None = None
    """Its first timing event (anything but ``session_opened`` and ``entry_registered``); None: no data yet."""
    started_at: int | None = None
    """The green flag (``session_started``): the actual start."""
    finished_at: int | None = None
    """The chequered flag (``session_finished``) or the first ``results_declared``."""
    last_at: int | None = None
    """Its latest timing event, to the minute (rounded down), so the value changes at most once a minute."""
    red: bool = False
    """The last flag shown was red: the session is stopped, a pause in the events is no stalled feed."""


class SessionSlot(Struct, frozen=True, kw_only=True):
    """A session's place in the calendar: what the calendar's read model and its views of it both hold first."""

    key: str
    """The timing session key ``championship.event.session`` its events use."""
    session: str
    name: str
    kind: SessionKind
    points: PointsRole
    start: int
    end: int
    """Scheduled, UTC epoch milliseconds."""


class CalendarSession(SessionSlot, frozen=True, kw_only=True):
    cancelled: bool = False
    changes: list[ScheduleChange] = []
    """Its latest changes (three at most), oldest first."""
    sequence: int = 0
    """How many changes it went through (an iCalendar ``SEQUENCE``)."""
    activity: SessionActivity = SessionActivity()


class CalendarRound(Struct, frozen=True, kw_only=True):
    event: str
    name: str
    circuit: str
    time_zone: str
    first_day: date
    last_day: date
    """The round's days at the circuit."""
    sessions: list[CalendarSession]
    """In order of their scheduled start."""


class SeasonCalendar(Struct, frozen=True, kw_only=True):
    """A championship's calendar as the log leaves it (KV ``<championship>.calendar``)."""

    championship: str
    name: str
    revision: int
    """How many calendar events made it (1: as first published)."""
    updated_at: int
    """The instant of the latest of them."""
    rounds: list[CalendarRound]
    """In order of their first session."""
    version: int = CALENDAR_VERSION


# -- views: the calendar at an instant, in a zone and a language -------------------------------


class SessionState(enum.StrEnum):
    UPCOMING = "upcoming"
    LIVE = "live"
    """Timing events are flowing, or its scheduled window is open and data has come."""
    NO_DATA = "no_data"
    """Its scheduled window is open and no timing event has arrived: a missing feed."""
    STALLED = "stalled"
    """Started, not finished, not under red, its window open, and no timing event for minutes: a stalled feed."""
    OVER = "over"
    CANCELLED = "cancelled"


LIVE_STATES = frozenset({SessionState.LIVE, SessionState.NO_DATA, SessionState.STALLED})
"""The states of a session that is live now (by its timing events or by its scheduled window)."""


class SessionView(SessionSlot, frozen=True, kw_only=True):
    local_start: str
    local_end: str
    """ISO 8601 in the zone shown, with its offset."""
    day: str
    """The weekday, in the language asked: "Sat", "Sa."."""
    date: str
    """The day, in the language asked: "Sat, May 24", "Sa., 24. Mai"."""
    time: str
    end_time: str
    """The time of day, in the language asked: "09:35", "09:35 Uhr"."""
    window: str
    """Start to end, in the language asked: "Sat 09:35 - 09:55", "Sa. 09:35-09:55 Uhr" (with en dashes)."""
    state: SessionState
    cancelled: bool = False
    actual_start: int | None = None
    late_ms: int | None = None
    """The actual start minus the scheduled one (negative: early)."""
    note: str = ""
    """What a screen prints beside it, in the language asked: "moved from Sat 15:00", "no data yet"."""
    changes: list[ScheduleChange] = []


class RoundView(Struct, frozen=True, kw_only=True):
    event: str
    name: str
    circuit: str
    time_zone: str
    """The circuit's zone."""
    zone: str
    """The zone its times are shown in."""
    first_day: date
    last_day: date
    dates: str
    """The round's days at the circuit, in the language asked: "May 23 - 25", "23.-25. Mai" (with en dashes)."""
    sessions: list[SessionView]


class CalendarView(Struct, frozen=True, kw_only=True):
    championship: str
    name: str
    at: int
    """The instant the states are computed for."""
    lang: str
    zone: str | None
    """The zone asked for; None: each round in its circuit's zone."""
    revision: int
    rounds: list[RoundView]


class Alert(Struct, frozen=True, kw_only=True):
    """A scheduled session whose feed is missing or stalled, for operations."""

    key: str
    state: SessionState
    start: int
    message: str
    """"gtes-2026.spa.race (Race) scheduled Sat 16:30 local, no data yet"."""


class NextEvent(Struct, frozen=True, kw_only=True):
    """The round under way or next, with every session; ``text`` is the line a page or a screen prints."""

    championship: str
    name: str
    at: int
    lang: str
    zone: str | None
    round: RoundView | None
    """None: the season holds no session still to come."""
    live: list[SessionView]
    """Sessions of any round live now."""
    heading: str
    """"Next event", "Nächste Veranstaltung"."""
    text: str


class LiveNow(Struct, frozen=True, kw_only=True):
    championship: str
    at: int
    lang: str
    zone: str | None
    sessions: list[SessionView]
    """Live now: timing events flowing, or the scheduled window open."""
    alerts: list[Alert]
    """Of those, the ones with no data yet or a stalled feed."""


class Calendars(Struct, frozen=True, kw_only=True):
    championships: list[str]
    """The championships with a calendar, by name."""


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(SeasonCalendar)


def encode_calendar(value: SeasonCalendar) -> bytes:
    return _encoder.encode(value)


def decode_calendar(data: bytes) -> SeasonCalendar:
    return _decoder.decode(data)
