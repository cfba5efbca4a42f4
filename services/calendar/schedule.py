"""The calendar fold: calendar events in, the schedule as it stands out; and the events that take a schedule to
the one a file gives.

Pure. :func:`apply` is the one place a calendar event takes effect: ingest
calls it to judge an event before it is stored (an event it cannot apply is
refused with the reason) and the standings projector to fold the log, so the
two cannot disagree. A schedule is kept canonical (each round's sessions in
order of start, then slug), so the same calendar compares equal however it
was reached: published whole, or published and then changed session by
session.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from msgspec import structs

from schemas.calendar import ChangeKind, ScheduleChange
from schemas.events import (
    CALENDAR_BODIES,
    CalendarBody,
    CalendarPublished,
    Event,
    ScheduledRound,
    ScheduledSession,
    SessionAdded,
    SessionCancelled,
    SessionRescheduled,
)
from services.calendar.local import CalendarError, local_day, zone

MAX_SESSION_MS = 48 * 3_600_000
"""A session longer than two days is a typing error (a 24-hour race is the longest there is)."""
KEPT_CHANGES = 3
"""The latest changes kept with each session (the count of all of them is its ``sequence``)."""

SessionId = tuple[str, str]
"""(round, session) slugs."""


@dataclass(frozen=True)
class Schedule:
    """A championship's calendar as its calendar events leave it."""

    season: CalendarPublished
    """The schedule in force, canonical: what a file publishing it whole would say."""
    changes: Mapping[SessionId, tuple[ScheduleChange, ...]] = field(default_factory=dict)
    """The latest :data:`KEPT_CHANGES` changes of each session, oldest first."""
    sequences: Mapping[SessionId, int] = field(default_factory=dict)
    """How many changes each session went through."""
    revision: int = 1
    updated_at: int = 0


def canonical(season: CalendarPublished) -> CalendarPublished:
    """Each round's sessions in order of start (then slug); everything else as given."""
    rounds = [
        structs.replace(r, sessions=sorted(r.sessions, key=lambda s: (s.start, s.session))) for r in season.rounds
    ]
    return structs.replace(season, rounds=rounds)


def problems(season: CalendarPublished) -> list[str]:
    """What keeps a season from being a calendar, every problem at once: ``round.session: what``."""
    found: list[str] = []
    seen_rounds: set[str] = set()
    for round_ in season.rounds:
        where = round_.event
        if round_.event in seen_rounds:
            found.append(f"{where}: the round is listed twice")
        seen_rounds.add(round_.event)
        try:
            circuit = zone(round_.time_zone)
        except CalendarError as error:
            found.append(f"{where}: {error}")
            continue
        if (round_.first_day is None) != (round_.last_day is None):
            found.append(f"{where}: give both first_day and last_day, or neither")
        elif round_.first_day is not None and round_.last_day is not None and round_.first_day > round_.last_day:
            found.append(f"{where}: first_day {round_.first_day} is after last_day {round_.last_day}")
        if not round_.sessions and round_.first_day is None:
            found.append(f"{where}: a round with no sessions needs first_day and last_day")
        seen_sessions: set[str] = set()
        for session in round_.sessions:
            at = f"{where}.{session.session}"
            if session.session in seen_sessions:
                found.append(f"{at}: the session is listed twice")
            seen_sessions.add(session.session)
            if session.end <= session.start:
                found.append(f"{at}: it ends before it starts")
            elif session.end - session.start > MAX_SESSION_MS:
                found.append(f"{at}: it lasts more than {MAX_SESSION_MS // 3_600_000} hours")
            day = local_day(session.start, circuit)
            first, last = round_.first_day, round_.last_day
            if first is not None and last is not None and not first <= day <= last:
                found.append(f"{at}: it starts on {day} at the circuit, outside the round's days {first} to {last}")
    return found


def apply(schedule: Schedule | None, body: CalendarBody, at: int) -> Schedule:
    """The schedule after ``body`` (published at instant ``at``); :class:`CalendarError` with the reason when
    it cannot apply: the schedule is then unchanged."""
    season = canonical(_season_after(schedule.season if schedule is not None else None, body))
    if found := problems(season):
        raise CalendarError("; ".join(found))
    if schedule is None:
        return Schedule(season, {}, {}, 1, at)
    changes, sequences = dict(schedule.changes), dict(schedule.sequences)
    for key, change in _changes(schedule.season, season, at, body.reason):
        changes[key] = (*changes.get(key, ()), change)[-KEPT_CHANGES:]
        sequences[key] = sequences.get(key, 0) + 1
    return Schedule(season, changes, sequences, schedule.revision + 1, at)


def schedule_from(events: Iterable[Event]) -> Schedule | None:
    """The schedule a calendar session's stored events leave (None: no calendar yet). An event that cannot apply
    is skipped, as ingest's ledger and the standings projector skip it."""
    schedule: Schedule | None = None
    for event in events:
        if isinstance(event.body, CALENDAR_BODIES):
            try:
                schedule = apply(schedule, event.body, event.at)
            except CalendarError:
                continue
    return schedule


def _season_after(season: CalendarPublished | None, body: CalendarBody) -> CalendarPublished:
    if isinstance(body, CalendarPublished):
        return structs.replace(body, reason="")
    if season is None:
        raise CalendarError("no calendar yet: publish the season's calendar (calendar_published) first")
    index = next((i for i, r in enumerate(season.rounds) if r.event == body.event), None)
    if index is None:
        raise CalendarError(f"{body.event} is not a round of the calendar: publish the calendar with it")
    round_ = season.rounds[index]
    if isinstance(body, SessionAdded):
        added = body.scheduled
        if added.cancelled:
            raise CalendarError(f"{body.event}.{added.session}: a session is added to be held, not cancelled")
        held = _session(round_, added.session)
        if held is not None and not held.cancelled:
            raise CalendarError(
                f"{body.event}.{added.session} is already scheduled: move it (session_rescheduled) instead"
            )
        sessions = [s for s in round_.sessions if s.session != added.session] + [added]
    else:
        held = _session(round_, body.session)
        if held is None:
            raise CalendarError(f"{body.event}.{body.session} is not a session of the calendar")
        if isinstance(body, SessionCancelled):
            if held.cancelled:
                raise CalendarError(f"{body.event}.{body.session} is already cancelled")
            changed = structs.replace(held, cancelled=True)
        else:
            changed = structs.replace(held, start=body.start, end=body.end)
        sessions = [changed if s.session == body.session else s for s in round_.sessions]
    rounds = list(season.rounds)
    rounds[index] = structs.replace(round_, sessions=sessions)
    return structs.replace(season, rounds=rounds)


def _session(round_: ScheduledRound, slug: str) -> ScheduledSession | None:
    return next((s for s in round_.sessions if s.session == slug), None)


def _sessions(season: CalendarPublished) -> dict[SessionId, ScheduledSession]:
    return {(r.event, s.session): s for r in season.rounds for s in r.sessions}


def _changes(
    before: CalendarPublished, after: CalendarPublished, at: int, reason: str
) -> Iterator[tuple[SessionId, ScheduleChange]]:
    """What changed for each session that is in ``after``, as the screens show it (a session dropped by a
    re-issue is gone, with its history)."""
    old = _sessions(before)
    for key, new in _sessions(after).items():
        was = old.get(key)
        kind: ChangeKind | None = None
        if was is None:
            kind = None if new.cancelled else ChangeKind.ADDED
        elif was.cancelled and not new.cancelled:
            kind = ChangeKind.REINSTATED
        elif new.cancelled and not was.cancelled:
            kind = ChangeKind.CANCELLED
        elif (was.start, was.end) != (new.start, new.end) and not new.cancelled:
            kind = ChangeKind.MOVED
        if kind is None:
            continue
        moved = was is not None and (was.start, was.end) != (new.start, new.end)
        yield (
            key,
            ScheduleChange(
                kind=kind,
                at=at,
                start=new.start,
                end=new.end,
                was_start=was.start if moved and was is not None else None,
                was_end=was.end if moved and was is not None else None,
                reason=reason,
            ),
        )


def changes_to(current: Schedule | None, wanted: CalendarPublished, reason: str = "") -> list[CalendarBody]:
    """The calendar events that take ``current`` to ``wanted`` (a file's calendar): none when they agree; one
    event per session moved, cancelled, added or reinstated when only sessions' times or presence changed; else
    ``wanted`` whole (a re-issue: a round, a name, a zone or a session's name, kind or points role changed, or a
    session left out)."""
    wanted = canonical(structs.replace(wanted, reason=reason))
    if current is None:
        return [wanted]
    if (current.season.name, current.season.rounds) == (wanted.name, wanted.rounds):
        return []
    reissue: list[CalendarBody] = [wanted]
    if current.season.name != wanted.name or len(current.season.rounds) != len(wanted.rounds):
        return reissue
    bodies: list[CalendarBody] = []
    for held, new in zip(current.season.rounds, wanted.rounds, strict=True):
        if structs.replace(held, sessions=[]) != structs.replace(new, sessions=[]):
            return reissue
        if {s.session for s in held.sessions} - {s.session for s in new.sessions}:
            return reissue
        for session in new.sessions:
            was = _session(held, session.session)
            if was is None:
                if session.cancelled:
                    return reissue
                bodies.append(SessionAdded(event=new.event, scheduled=session, reason=reason))
                continue
            if (was.session, was.name, was.kind, was.points) != (
                session.session,
                session.name,
                session.kind,
                session.points,
            ):
                return reissue
            if was.cancelled and not session.cancelled:
                bodies.append(SessionAdded(event=new.event, scheduled=session, reason=reason))
                continue
            if (was.start, was.end) != (session.start, session.end):
                bodies.append(
                    SessionRescheduled(
                        event=new.event, session=session.session, start=session.start, end=session.end, reason=reason
                    )
                )
            if session.cancelled and not was.cancelled:
                bodies.append(SessionCancelled(event=new.event, session=session.session, reason=reason))
    return bodies
