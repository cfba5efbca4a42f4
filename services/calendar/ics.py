"""iCalendar (RFC 5545) with the ``icalendar`` library: the feed a fan subscribes to, and a season read back.

Pure. The export has one ``VEVENT`` per session: summary "Round: Session", the
circuit as its location, start and end in the circuit's zone (``TZID`` with a
``VTIMEZONE``), ``STATUS:CANCELLED`` for a cancelled session and ``SEQUENCE``
counting its changes, so a calendar app moves or strikes the entry it already
shows (the ``UID`` is the timing session key). ``X-CHEQUERED-*`` properties
carry what iCalendar has no word for (slugs, kind, points role, the round's
days), so an export read back gives the same calendar. A round with no session
yet is an all-day event over its days.

A file from elsewhere (a series' web site, a calendar app) is read by its
summaries: an event whose summary names a session ("Lausitzring: Qualifying
1", "DTM Lausitzring - Race 2") becomes that session of the round the prefix
(or else the location) names; its kind is read from the words of the name
(practice, qualifying, race, in English and German, plus the usual FP1, Q1);
anything else is skipped and listed with the reason.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar
from msgspec import structs

from schemas.calendar import SeasonCalendar
from schemas.events import CalendarPublished, PointsRole, ScheduledRound, ScheduledSession, SessionKind
from services.calendar.local import CalendarError, in_range, instant, moment, zone
from services.calendar.schedule import canonical

PRODID = "-//chequered//season calendar//EN"
X_CHAMPIONSHIP = "X-CHEQUERED-CHAMPIONSHIP"
X_ROUND = "X-CHEQUERED-ROUND"
X_ROUND_NAME = "X-CHEQUERED-ROUND-NAME"
X_SESSION = "X-CHEQUERED-SESSION"
X_KIND = "X-CHEQUERED-KIND"
X_POINTS = "X-CHEQUERED-POINTS"
X_FIRST_DAY = "X-CHEQUERED-FIRST-DAY"
X_LAST_DAY = "X-CHEQUERED-LAST-DAY"
X_TIME_ZONE = "X-CHEQUERED-TIME-ZONE"
SEPARATORS = re.compile(r"\s+[-\u2013\u2014|]\s+|:\s+")
"""Between a round and a session in a summary: "Lausitzring: Race 1", "DTM Lausitzring - Race 1"."""
KINDS = (
    (SessionKind.QUALIFYING, re.compile(r"quali|\bq\d\b|pole|qualification|qualifiche", re.IGNORECASE)),
    (SessionKind.RACE, re.compile(r"\brace|rennen|\blauf\b|sprint|feature|\bgara\b|\bcourse\b", re.IGNORECASE)),
    (SessionKind.PRACTICE, re.compile(r"practi|training|\bfp\d?\b|test|warm-?up|shakedown|essais|prove", re.I)),
)
"""Qualifying first: "Sprint Qualifying" is a qualifying session."""
ROUND_GAP_MS = 4 * 86_400_000
"""Sessions of one round (or place) further apart than this belong to two rounds."""


def to_ics(calendar: SeasonCalendar) -> bytes:
    """The season as an iCalendar feed. Deterministic: every stamp is the calendar's own last change."""
    feed = icalendar.Calendar()
    feed.add("prodid", PRODID)
    feed.add("version", "2.0")
    feed.add("calscale", "GREGORIAN")
    feed.add("method", "PUBLISH")
    feed.add("x-wr-calname", calendar.name)
    feed.add(X_CHAMPIONSHIP, calendar.championship)
    stamp = moment(calendar.updated_at, UTC)
    days: list[date] = []
    for round_ in calendar.rounds:
        where = zone(round_.time_zone)
        common = {
            X_ROUND: round_.event,
            X_ROUND_NAME: round_.name,
            X_FIRST_DAY: round_.first_day.isoformat(),
            X_LAST_DAY: round_.last_day.isoformat(),
            X_TIME_ZONE: round_.time_zone,
        }
        days += [round_.first_day, round_.last_day]
        if not round_.sessions:
            entry = _entry(f"{calendar.championship}.{round_.event}@chequered", round_.name, round_.circuit, stamp)
            entry.add("dtstart", round_.first_day)
            entry.add("dtend", round_.last_day + timedelta(days=1))
            _add_all(entry, common)
            feed.add_component(entry)
        for session in round_.sessions:
            entry = _entry(f"{session.key}@chequered", f"{round_.name}: {session.name}", round_.circuit, stamp)
            entry.add("dtstart", _shown(session.start, where))
            entry.add("dtend", _shown(session.end, where))
            entry.add("status", "CANCELLED" if session.cancelled else "CONFIRMED")
            entry.add("sequence", session.sequence)
            entry.add("categories", [session.kind.value])
            _add_all(
                entry,
                common | {X_SESSION: session.session, X_KIND: session.kind.value, X_POINTS: session.points.value},
            )
            feed.add_component(entry)
    if days:
        feed.add_missing_timezones(first_date=min(days) - timedelta(days=1), last_date=max(days) + timedelta(days=2))
        _zones_in_order(feed)
    data: bytes = feed.to_ical()
    return data


def _zones_in_order(feed: icalendar.Calendar) -> None:
    """The feed's ``VTIMEZONE`` components by ``TZID``, in the places they hold: icalendar adds them in the order of a
    set of names, which changes from one process to the next with Python's string hashing (the same calendar gave
    two feeds)."""
    parts = feed.subcomponents
    slots = [index for index, part in enumerate(parts) if part.name == "VTIMEZONE"]
    zones = sorted((parts[index] for index in slots), key=lambda part: str(part["TZID"]))
    for index, part in zip(slots, zones, strict=True):
        parts[index] = part


def _shown(at: int, where: ZoneInfo) -> datetime:
    """The instant at the circuit (``TZID``), or in UTC when it falls in the hour the clocks repeat: a local time
    with a ``TZID`` means the first of the two (RFC 5545), so the second can only be said in UTC."""
    local = moment(at, where)
    if local.replace(fold=1 - local.fold).utcoffset() != local.utcoffset():
        return moment(at, UTC)
    return local


def _entry(uid: str, summary: str, location: str, stamp: datetime) -> icalendar.Event:
    entry = icalendar.Event()
    entry.add("uid", uid)
    entry.add("dtstamp", stamp)
    entry.add("last-modified", stamp)
    entry.add("summary", _Text(summary))
    entry.add("location", _Text(location))
    return entry


class _Text(icalendar.vText):
    """A summary's or location's TEXT escaped as RFC 5545 (3.3.11) says: icalendar's own escaping takes a backslash
    and an ``N`` in the text for a line break, so a session named ``\\N`` came back named otherwise (its reading is
    right)."""

    def to_ical(self) -> bytes:
        escaped = str(self).replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
        return escaped.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\\n").encode()


def _add_all(entry: icalendar.Event, values: dict[str, str]) -> None:
    """``X-`` properties, which icalendar writes and reads as they are."""
    for name, value in values.items():
        entry.add(name, value)


# -- reading ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Draft:
    """One event of a file, read: the round it names and its session (None: an all-day round of no session)."""

    round_key: str | None
    """``X-CHEQUERED-ROUND``; None for a file from elsewhere (grouped by name and dates)."""
    round_name: str
    circuit: str
    time_zone: str
    session: ScheduledSession | None
    first_day: date | None = None
    last_day: date | None = None


class _Skip(Exception):
    """An event that is no session: skipped, with the reason."""


def slug(text: str) -> str:
    """ "Qualifying 1" -> "qualifying-1"; what a subject token may hold, at most 64 characters."""
    out = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:64].strip("-")
    return out or "session"


def kind_of(name: str) -> SessionKind | None:
    return next((kind for kind, words in KINDS if words.search(name)), None)


def from_ics(data: bytes, source: str) -> tuple[CalendarPublished, list[str]]:
    """The season an iCalendar file holds, and what it skipped (with the reasons); :class:`CalendarError` when it
    is no calendar, names no session, or an event it means as a session cannot be one."""
    try:
        feed = icalendar.Calendar.from_ical(data)
    except (ValueError, IndexError, KeyError) as error:
        raise CalendarError(f"$: not an iCalendar file: {error}") from None
    default_zone = str(feed.get("x-wr-timezone", "")).strip() or None
    drafts: list[_Draft] = []
    skipped: list[str] = []
    problems: list[str] = []
    for number, entry in enumerate(feed.walk("VEVENT"), start=1):
        summary = str(entry.get("summary", "")).strip()
        where = f"event {number} ({summary[:60] or 'no summary'})"
        try:
            drafts.append(_draft(entry, summary, default_zone))
        except _Skip as skip:
            skipped.append(f"{where}: {skip}")
        except (CalendarError, ValueError) as error:
            problems.append(f"{where}: {error}")
    if problems:
        raise CalendarError("\n".join(problems))
    if not drafts:
        raise CalendarError(f"$: no event of the file names a session ({len(skipped)} skipped)")
    name = str(feed.get("x-wr-calname", "")).strip() or source.rsplit(".", 1)[0]
    season = CalendarPublished(name=name[:200] or "calendar", rounds=_rounds(drafts), source=source[:200])
    return canonical(season), skipped


def _draft(entry: icalendar.Component, summary: str, default_zone: str | None) -> _Draft:
    if "dtstart" not in entry:
        raise CalendarError("it has no DTSTART")
    start = entry.decoded("dtstart")
    round_key = str(entry[X_ROUND]) if X_ROUND in entry else None
    location = str(entry.get("location", "")).strip()
    if round_key is not None:
        round_name = str(entry.get(X_ROUND_NAME, round_key))
        first, last = _day(entry.get(X_FIRST_DAY)), _day(entry.get(X_LAST_DAY))
        zone_name = str(entry.get(X_TIME_ZONE, "")) or None
    else:
        parts = SEPARATORS.split(summary, maxsplit=1)
        round_name = parts[0].strip() if len(parts) == 2 else location
        first = last = None
        zone_name = None
    if not isinstance(start, datetime):
        if round_key is None:
            raise _Skip("an all-day event is no session")
        return _Draft(round_key, round_name, location or round_name, _zone_name(None, zone_name or default_zone),
                      None, first, last)  # fmt: skip
    if "dtend" in entry:
        end = entry.decoded("dtend")
    elif "duration" in entry:
        end = start + entry.decoded("duration")
    else:
        raise CalendarError("it has no DTEND or DURATION: a session needs an end")
    zone_name = _zone_name(start, zone_name or default_zone)
    if round_key is not None:
        session_slug = str(entry.get(X_SESSION, ""))
        name = summary.removeprefix(f"{round_name}: ")
        kind = SessionKind(str(entry.get(X_KIND)))
        points = PointsRole(str(entry.get(X_POINTS, PointsRole.NONE.value)))
    else:
        if not round_name:
            raise _Skip("neither its summary nor its location names a round")
        name = SEPARATORS.split(summary, maxsplit=1)[-1].strip()
        found = kind_of(name)
        if found is None:
            raise _Skip("its summary names no session (practice, qualifying or race)")
        kind, session_slug = found, slug(name)
        points = PointsRole.POINTS if kind is SessionKind.RACE else PointsRole.NONE
    circuit = zone(zone_name)
    session = ScheduledSession(
        session=session_slug,
        name=name[:200] or session_slug,
        kind=kind,
        start=in_range(instant(_aware(start, circuit))),
        end=in_range(instant(_aware(end, circuit))),
        points=points,
        cancelled=str(entry.get("status", "")).upper() == "CANCELLED",
    )
    return _Draft(round_key, round_name[:200], (location or round_name)[:200], zone_name, session, first, last)


def _aware(local: datetime, circuit: ZoneInfo) -> datetime:
    return local if local.tzinfo is not None else local.replace(tzinfo=circuit)


def _zone_name(start: datetime | None, given: str | None) -> str:
    """The circuit's zone: the file's word for it, else the start's own ``TZID``."""
    if given:
        return given
    key = getattr(start.tzinfo, "key", None) if start is not None else None
    if isinstance(key, str) and key != "UTC":
        return key
    if start is not None and start.tzinfo is not None:
        raise CalendarError("its start is in UTC and the file names no X-WR-TIMEZONE: the circuit's zone is unknown")
    raise CalendarError("it names no time zone (TZID) and the file no X-WR-TIMEZONE")


def _day(value: object) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise CalendarError(f"{value!r} is not a day (YYYY-MM-DD)") from None


def _rounds(drafts: list[_Draft]) -> list[ScheduledRound]:
    """Drafts grouped into rounds: by ``X-CHEQUERED-ROUND``, else by the round's name, a later visit to the same
    name (more than :data:`ROUND_GAP` after its last session) being another round (``-2``)."""
    groups: dict[str, list[_Draft]] = {}
    last_start: dict[str, int] = {}
    visits: dict[str, int] = {}
    ordered = sorted(drafts, key=lambda d: d.session.start if d.session is not None else 0)
    for draft in ordered:
        key = draft.round_key
        if key is None:
            assert draft.session is not None
            base = slug(draft.round_name)
            visit = visits.setdefault(base, 1)
            if base in last_start and draft.session.start - last_start[base] > ROUND_GAP_MS:
                visit = visits[base] = visit + 1
            last_start[base] = draft.session.start
            key = base if visit == 1 else f"{base[:60]}-{visit}"
        groups.setdefault(key, []).append(draft)
    rounds = []
    for key, group in groups.items():
        head = group[0]
        sessions = [d.session for d in group if d.session is not None]
        rounds.append(
            ScheduledRound(
                event=key,
                name=head.round_name or key,
                circuit=head.circuit or head.round_name or key,
                time_zone=head.time_zone,
                sessions=_unique(sessions),
                first_day=head.first_day,
                last_day=head.last_day,
            )
        )
    return rounds


def _unique(sessions: Iterable[ScheduledSession]) -> list[ScheduledSession]:
    """Sessions named alike ("Race", "Race") get distinct slugs ("race", "race-2")."""
    out: list[ScheduledSession] = []
    taken: set[str] = set()
    for session in sorted(sessions, key=lambda s: s.start):
        name, n = session.session, 1
        while name in taken:
            n += 1
            name = f"{session.session[:60]}-{n}"
        taken.add(name)
        out.append(session if name == session.session else structs.replace(session, session=name))
    return out
