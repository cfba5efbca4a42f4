"""The calendar at an instant, in a zone and a language: what is on, what is next, what is missing.

Pure: ``now`` is an argument (the gateway and the command line pass the wall
clock, tests a fixed instant). Times are shown in each round's circuit zone
unless a zone is asked for; a round's dates are always its days at the circuit.

A session is **live now** when its timing events are flowing (one came in the
last :data:`FLOWING_MS`) or its scheduled window is open. In its window with
no timing event yet it is live with **no data** (a missing feed); a race that
started, is not finished and not under red, and sent nothing for
:data:`STALL_MS`, is **stalled**. Both are alerts for operations.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from schemas.calendar import (
    LIVE_STATES,
    Alert,
    CalendarRound,
    CalendarSession,
    CalendarView,
    ChangeKind,
    LiveNow,
    NextEvent,
    RoundView,
    SeasonCalendar,
    SessionState,
    SessionView,
)
from schemas.events import (
    CalendarBody,
    CalendarPublished,
    SessionAdded,
    SessionCancelled,
    SessionKind,
    SessionRescheduled,
)
from services.calendar.local import (
    clock,
    day,
    day_and_time,
    day_range,
    in_range,
    iso,
    label,
    local_day,
    locale,
    weekday,
    window,
    zone,
)
from services.structs import carried

FLOWING_MS = 3 * 60_000
"""Timing events are flowing when the latest one (kept to the minute) is this close to now: one in the last two
to three minutes."""
STALL_MS = 5 * 60_000
"""A race that sent nothing for this long (and is neither finished nor under red) has a stalled feed."""


def state(session: CalendarSession, now: int) -> SessionState:
    if session.cancelled:
        return SessionState.CANCELLED
    activity = session.activity
    if activity.last_at is not None and abs(now - activity.last_at) <= FLOWING_MS:
        return SessionState.LIVE
    if not session.start <= now < session.end:
        return SessionState.UPCOMING if now < session.start else SessionState.OVER
    if activity.first_at is None:
        return SessionState.NO_DATA
    if activity.finished_at is not None:
        return SessionState.OVER
    stalled = (
        session.kind is SessionKind.RACE
        and activity.started_at is not None
        and not activity.red
        and activity.last_at is not None
        and now - activity.last_at > STALL_MS
    )
    return SessionState.STALLED if stalled else SessionState.LIVE


def _note(session: CalendarSession, shown: SessionState, where: ZoneInfo, lang: str) -> str:
    if shown is SessionState.NO_DATA:
        return label(lang, "no_data")
    if shown is SessionState.STALLED:
        assert session.activity.last_at is not None
        return label(lang, "stalled", when=clock(session.activity.last_at, where, lang))
    if shown is SessionState.LIVE:
        return label(lang, "live")
    if shown is SessionState.CANCELLED:
        return label(lang, "cancelled")
    last = session.changes[-1] if session.changes else None
    if last is not None and last.was_start is not None:
        return label(lang, "moved", when=day_and_time(last.was_start, where, lang))
    if last is not None and last.kind is ChangeKind.ADDED:
        return label(lang, "added")
    return ""


def session_view(session: CalendarSession, now: int, where: ZoneInfo, lang: str) -> SessionView:
    shown = state(session, now)
    started = session.activity.started_at
    return carried(
        SessionView,
        session,
        local_start=iso(session.start, where),
        local_end=iso(session.end, where),
        day=weekday(session.start, where, lang),
        date=day(session.start, where, lang),
        time=clock(session.start, where, lang),
        end_time=clock(session.end, where, lang),
        window=window(session.start, session.end, where, lang),
        state=shown,
        actual_start=started,
        late_ms=None if started is None else started - session.start,
        note=_note(session, shown, where, lang),
    )


def round_view(round_: CalendarRound, now: int, tz: str | None, lang: str) -> RoundView:
    shown_in = tz or round_.time_zone
    where = zone(shown_in)
    return carried(
        RoundView,
        round_,
        zone=shown_in,
        dates=day_range(round_.first_day, round_.last_day, lang),
        sessions=[session_view(s, now, where, lang) for s in round_.sessions],
    )


def _checked(now: int, tz: str | None, lang: str) -> None:
    """Refuse an instant no calendar holds, an unknown zone or language before anything is computed (their errors
    say what to give)."""
    in_range(now)
    if tz is not None:
        zone(tz)
    locale(lang)


def calendar_view(calendar: SeasonCalendar, now: int, tz: str | None = None, lang: str = "en") -> CalendarView:
    _checked(now, tz, lang)
    return carried(
        CalendarView,
        calendar,
        at=now,
        lang=lang,
        zone=tz,
        rounds=[round_view(r, now, tz, lang) for r in calendar.rounds],
    )


def _ahead(session: CalendarSession, now: int) -> bool:
    """Still to come or under way."""
    return not session.cancelled and (now < session.end or state(session, now) in LIVE_STATES)


def _round_ahead(round_: CalendarRound, now: int) -> bool:
    """A session of it still to come or under way; a round with no session yet, until its last day is over."""
    if not round_.sessions:
        return local_day(now, zone(round_.time_zone)) <= round_.last_day
    return any(_ahead(s, now) for s in round_.sessions)


def _live(calendar: SeasonCalendar, now: int, tz: str | None, lang: str) -> list[SessionView]:
    """The sessions live now, formatted (only those: formatting is the costly part)."""
    return [
        session_view(s, now, zone(tz or r.time_zone), lang)
        for r in calendar.rounds
        for s in r.sessions
        if state(s, now) in LIVE_STATES
    ]


def next_event(calendar: SeasonCalendar, now: int, tz: str | None = None, lang: str = "en") -> NextEvent:
    """The round under way or next (its every session), the sessions live now, and the line to print:
    "Next event: Lausitzring, May 23 - 25; Qualifying 1 Sat 09:35, Race 1 Sat 15:00, ..."."""
    _checked(now, tz, lang)
    upcoming = next((r for r in calendar.rounds if _round_ahead(r, now)), None)
    shown = None if upcoming is None else round_view(upcoming, now, tz, lang)
    if shown is None:
        text = f"{label(lang, 'none')}: {calendar.name}"
    else:
        sessions = ", ".join(f"{s.name} {s.day} {s.time}" + (f" ({s.note})" if s.note else "") for s in shown.sessions)
        text = f"{label(lang, 'next')}: {shown.name}, {shown.dates}" + (f"; {sessions}" if sessions else "")
        if shown.zone != shown.time_zone:
            text += f" ({label(lang, 'times', zone=shown.zone)})"
    return NextEvent(
        championship=calendar.championship,
        name=calendar.name,
        at=now,
        lang=lang,
        zone=tz,
        round=shown,
        live=_live(calendar, now, tz, lang),
        heading=label(lang, "next"),
        text=text,
    )


def alerts(calendar: SeasonCalendar, now: int, lang: str = "en") -> list[Alert]:
    """Sessions whose window is open with no data yet, or whose race feed stalled: in the circuit's local time,
    for operations ("gtes-2026.spa.race (Race) scheduled Sat 16:30 local, no data yet")."""
    found = []
    for round_ in calendar.rounds:
        circuit = zone(round_.time_zone)
        for session in round_.sessions:
            shown = state(session, now)
            if shown not in (SessionState.NO_DATA, SessionState.STALLED):
                continue
            when = day_and_time(session.start, circuit, lang)
            if shown is SessionState.NO_DATA:
                message = label(lang, "alert_no_data", key=session.key, name=session.name, when=when)
            else:
                assert session.activity.last_at is not None
                since = clock(session.activity.last_at, circuit, lang)
                message = label(lang, "alert_stalled", key=session.key, name=session.name, when=when, since=since)
            found.append(Alert(key=session.key, state=shown, start=session.start, message=message))
    return found


def live_now(calendar: SeasonCalendar, now: int, tz: str | None = None, lang: str = "en") -> LiveNow:
    _checked(now, tz, lang)
    return LiveNow(
        championship=calendar.championship,
        at=now,
        lang=lang,
        zone=tz,
        sessions=_live(calendar, now, tz, lang),
        alerts=alerts(calendar, now, lang),
    )


def describe(body: CalendarBody, season: CalendarPublished, lang: str = "en") -> str:
    """What a calendar event does, in the circuit's local time, for the operator who publishes it:
    "lausitzring.race-2 moved to Sun 15:25 local"."""
    if isinstance(body, CalendarPublished):
        sessions = sum(len(r.sessions) for r in body.rounds)
        return f"the calendar {body.name}: {len(body.rounds)} rounds, {sessions} sessions"
    circuit = zone(next(r.time_zone for r in season.rounds if r.event == body.event))
    if isinstance(body, SessionCancelled):
        return f"{body.event}.{body.session} {label(lang, 'cancelled')}"
    if isinstance(body, SessionRescheduled):
        return f"{body.event}.{body.session} \u2192 {day_and_time(body.start, circuit, lang)} {label(lang, 'local')}"
    assert isinstance(body, SessionAdded)
    return (
        f"{body.event}.{body.scheduled.session} {label(lang, 'added')}: "
        f"{day_and_time(body.scheduled.start, circuit, lang)} {label(lang, 'local')}"
    )
