"""Calendars for tests: the shipped examples, instants written as people write them, and hypothesis strategies
for seasons (zones with daylight saving, half-hour offsets, southern summers) and for edits to them."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import msgspec
from hypothesis import strategies as st
from msgspec import structs

from schemas import events
from schemas.calendar import SeasonCalendar
from services.calendar.files import EXAMPLES, CalendarFile, FileRound, FileSession
from services.calendar.fold import CalendarFold
from services.calendar.local import instant, moment
from services.calendar.schedule import canonical
from services.structs import carried

SPRINT = EXAMPLES / "sprint-2025.toml"
GT_ENDURANCE = EXAMPLES / "gt-endurance-2026.toml"

ZONES = (
    "Europe/Berlin",
    "Europe/London",
    "America/New_York",
    "America/Sao_Paulo",
    "Australia/Adelaide",
    "Asia/Kolkata",
    "Pacific/Chatham",
    "America/St_Johns",
    "Asia/Tokyo",
    "UTC",
)
"""Daylight saving in both hemispheres, offsets of half and three quarters of an hour, none at all."""

MINUTE = 60_000
HOUR = 3_600_000
AUTUMN_2025 = instant(datetime(2025, 10, 20, tzinfo=UTC))
"""A week that holds Europe's autumn change (26 October) and, a week later, North America's (2 November)."""


def race_round(
    event: str,
    name: str,
    circuit: str,
    time_zone: str,
    race: str,
    start: str,
    end: str,
    *,
    session: str = "race",
    points: str | None = "points",
) -> str:
    """A calendar file's round of one race, in TOML as people write it (``start`` and ``end`` in the circuit's
    local time)."""
    scored = f'points = "{points}"\n' if points is not None else ""
    return (
        f'[[rounds]]\nevent = "{event}"\nname = "{name}"\ncircuit = "{circuit}"\n'
        f'time_zone = "{time_zone}"\n[[rounds.sessions]]\nsession = "{session}"\nname = "{race}"\nkind = "race"\n'
        f"{scored}start = {start}\nend = {end}\n"
    )


def at(text: str) -> int:
    """``2025-05-24T09:35:00+02:00`` (an instant as people write it) as epoch milliseconds."""
    return instant(datetime.fromisoformat(text))


def published(champ: str, body: events.CalendarBody, at_ms: int = 1, event_id: str = "calendar-1") -> events.Event:
    return events.Event(id=event_id, session=events.SessionRef.calendar_of(champ), producer="ops", at=at_ms, body=body)


def read_model(champ: str, *bodies: events.CalendarBody) -> SeasonCalendar:
    """The calendar read model after these calendar events, published one a minute."""
    fold = CalendarFold()
    for i, body in enumerate(bodies):
        fold.apply(published(champ, body, 1 + i * MINUTE, f"calendar-{i}"))
    return fold.read_model(champ)


def as_file(season: events.CalendarPublished, championship: str | None = None) -> bytes:
    """The season as a YAML calendar file in local times at each circuit (an offset only where the clocks repeat
    the hour), as a person would write it."""

    def local(at_ms: int, zone_name: str) -> datetime:
        shown = moment(at_ms, ZoneInfo(zone_name))
        naive = shown.replace(tzinfo=None)
        other = naive.replace(tzinfo=ZoneInfo(zone_name), fold=1 - shown.fold)
        return shown if other.utcoffset() != shown.utcoffset() else naive

    rounds = [
        carried(
            FileRound,
            r,
            sessions=[
                carried(FileSession, s, start=local(s.start, r.time_zone), end=local(s.end, r.time_zone))
                for s in r.sessions
            ],
        )
        for r in season.rounds
    ]
    return msgspec.yaml.encode(CalendarFile(name=season.name, rounds=rounds, championship=championship))


# -- strategies ----------------------------------------------------------------------------------------------

slugs = st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True)
names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=30).filter(
    lambda s: s.strip() == s and ": " not in s
)


@st.composite
def sessions(draw: st.DrawFn, slug: str) -> events.ScheduledSession:
    start = AUTUMN_2025 + draw(st.integers(0, 14 * 24 * 60)) * MINUTE
    return events.ScheduledSession(
        session=slug,
        name=draw(names),
        kind=draw(st.sampled_from(events.SessionKind)),
        start=start,
        end=start + draw(st.integers(1, 30 * 60)) * MINUTE,
        points=draw(st.sampled_from(events.PointsRole)),
        cancelled=draw(st.booleans()),
    )


@st.composite
def rounds(draw: st.DrawFn, event: str) -> events.ScheduledRound:
    slugs_of = draw(st.lists(slugs, min_size=1, max_size=5, unique=True))
    return events.ScheduledRound(
        event=event,
        name=draw(names),
        circuit=draw(names),
        time_zone=draw(st.sampled_from(ZONES)),
        sessions=[draw(sessions(slug)) for slug in slugs_of],
    )


@st.composite
def seasons(draw: st.DrawFn) -> events.CalendarPublished:
    event_slugs = draw(st.lists(slugs, min_size=1, max_size=4, unique=True))
    return canonical(events.CalendarPublished(name=draw(names), rounds=[draw(rounds(event)) for event in event_slugs]))


@st.composite
def edited(draw: st.DrawFn, season: events.CalendarPublished) -> events.CalendarPublished:
    """The season after what happens to a calendar during a season: sessions moved, cancelled, reinstated or
    added, a session renamed or dropped, a round added."""
    index = draw(st.integers(0, len(season.rounds) - 1))
    round_ = season.rounds[index]
    what = draw(st.sampled_from(("move", "cancel", "reinstate", "add", "rename", "drop", "round")))
    sessions_ = list(round_.sessions)
    pick = draw(st.integers(0, len(sessions_) - 1))
    session = sessions_[pick]
    if what == "move":
        shift = draw(st.integers(-600, 600).filter(bool)) * MINUTE
        sessions_[pick] = structs.replace(session, start=session.start + shift, end=session.end + shift)
    elif what == "cancel":
        sessions_[pick] = structs.replace(session, cancelled=True)
    elif what == "reinstate":
        sessions_[pick] = structs.replace(session, cancelled=False)
    elif what == "add":
        taken = {s.session for s in sessions_}
        sessions_.append(draw(sessions(draw(slugs.filter(lambda s: s not in taken)))))
    elif what == "rename":
        sessions_[pick] = structs.replace(session, name=draw(names))
    elif what == "drop" and len(sessions_) > 1:
        del sessions_[pick]
    elif what == "round":
        taken = {r.event for r in season.rounds}
        added = draw(rounds(draw(slugs.filter(lambda s: s not in taken))))
        return canonical(structs.replace(season, rounds=[*season.rounds, added]))
    changed = list(season.rounds)
    changed[index] = structs.replace(round_, sessions=sessions_)
    return canonical(structs.replace(season, rounds=changed))
