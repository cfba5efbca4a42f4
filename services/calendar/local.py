"""Local time done right: UTC instants and IANA zones in, local times and localized words out.

Pure. Zones come from ``zoneinfo`` with the ``tzdata`` package (the same zone
database on every machine, pinned in ``constraints.txt``); dates, weekdays and
day ranges are formatted by Babel from the Unicode CLDR data, in any locale it
knows ("en", "en_GB", "de", "fr" ...). Instants are integers (UTC epoch
milliseconds) computed without floats, so a session at 09:35 stays at 09:35.

A local time of a calendar file is checked against its zone: one the clocks
skip (spring forward) does not exist and one they repeat (fall back) is
ambiguous until an offset says which; an offset that is not the zone's at that
moment (local times labelled ``+00:00``) is refused rather than guessed.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, tzinfo
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from babel.dates import format_datetime, format_interval, format_skeleton

from schemas.events import FIRST_SCHEDULED, MAX_INSTANT, ZONE_PATTERN

_ZONE = re.compile(ZONE_PATTERN)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

TIME_PATTERNS = {"de": "HH:mm 'Uhr'"}
"""Times of day where a language's broadcast habit differs from CLDR's 24-hour "Hm" (German says "09:35 Uhr")."""

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "next": "Next event",
        "none": "No event ahead",
        "cancelled": "cancelled",
        "moved": "moved from {when}",
        "added": "added",
        "no_data": "no data yet",
        "stalled": "no data since {when}",
        "live": "live",
        "times": "times: {zone}",
        "local": "local",
        "alert_no_data": "{key} ({name}) scheduled {when} local, no data yet",
        "alert_stalled": "{key} ({name}) scheduled {when} local, no data since {since} local",
    },
    "de": {
        "next": "Nächste Veranstaltung",
        "none": "Keine Veranstaltung mehr",
        "cancelled": "abgesagt",
        "moved": "verschoben von {when}",
        "added": "hinzugefügt",
        "no_data": "noch keine Daten",
        "stalled": "keine Daten seit {when}",
        "live": "live",
        "times": "Zeiten: {zone}",
        "local": "Ortszeit",
        "alert_no_data": "{key} ({name}) geplant {when} Ortszeit, noch keine Daten",
        "alert_stalled": "{key} ({name}) geplant {when} Ortszeit, keine Daten seit {since} Ortszeit",
    },
}
"""The few words the calendar prints itself, by language (other languages print English words with their own
dates and weekdays)."""


class CalendarError(ValueError):
    """A calendar, a change or a request that cannot stand; the message says what and how to put it right."""


@cache
def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; :class:`CalendarError` naming it when the zone database has no such zone (a name
    that is no zone's shape is refused before the database is asked: it names files)."""
    try:
        if len(name) <= 64 and _ZONE.match(name):
            return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        pass
    raise CalendarError(f"unknown time zone {name[:64]!r}: give an IANA name such as Europe/Berlin")


@cache
def locale(lang: str) -> Locale:
    """The Babel locale ``lang`` ("en", "de", "en_GB", "de-CH"); :class:`CalendarError` when CLDR has none."""
    try:
        return Locale.parse(lang.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        raise CalendarError(f"unknown language {lang[:32]!r}: give a locale such as en, en_GB or de") from None


def label(lang: str, word: str, **values: str) -> str:
    """One of the calendar's own phrases in ``lang`` (English when the calendar has no words for it)."""
    words = LABELS.get(locale(lang).language, LABELS["en"])
    return words[word].format(**values)


def instant(moment: datetime) -> int:
    """An aware datetime as UTC epoch milliseconds, exactly."""
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def moment(at: int, where: tzinfo) -> datetime:
    """UTC epoch milliseconds as an aware datetime in ``where``."""
    return (EPOCH + timedelta(milliseconds=at)).astimezone(where)


def in_range(at: int) -> int:
    """``at`` when a calendar can hold it (from 1900 to 2100, the bound of every instant)."""
    if not FIRST_SCHEDULED <= at <= MAX_INSTANT:
        raise CalendarError("a calendar holds the years 1900 to 2099 (UTC)")
    return at


def scheduled_instant(local: datetime, zone_name: str) -> int:
    """A time of a calendar file as an instant: a naive ``local`` is the circuit's local time; an aware one must
    carry the zone's own offset at that moment (it is there to pick one of the hour the clocks repeat)."""
    where = zone(zone_name)
    if not 1899 <= local.year <= 2100:  # far from the ends of datetime; in_range() says exactly
        raise CalendarError("a calendar holds the years 1900 to 2099 (UTC)")
    shown = local.replace(tzinfo=None).isoformat(timespec="minutes")
    if local.tzinfo is not None:
        offset = local.utcoffset()
        at = local.astimezone(where)
        if at.utcoffset() != offset:
            raise CalendarError(
                f"{local.isoformat()} is {at.strftime('%H:%M')} in {zone_name} (UTC{_offset(at)}): write the local "
                f"time without an offset, or with {zone_name}'s offset"
            )
        return in_range(instant(at))
    early, late = local.replace(tzinfo=where, fold=0), local.replace(tzinfo=where, fold=1)
    if early.utcoffset() == late.utcoffset():
        return in_range(instant(early))
    back = early.astimezone(UTC).astimezone(where).replace(tzinfo=None)
    if back != local:  # the clocks jump over it
        raise CalendarError(
            f"{shown} does not exist in {zone_name}: the clocks go forward from UTC{_offset(early)} to "
            f"UTC{_offset(late)} that night"
        )
    raise CalendarError(
        f"{shown} happens twice in {zone_name} (the clocks go back that night): give the offset, "
        f"{shown}{_offset(early)} or {shown}{_offset(late)}"
    )


def _offset(moment: datetime) -> str:
    text = moment.isoformat()
    return text[-6:]


def local_day(at: int, where: ZoneInfo) -> date:
    return moment(at, where).date()


def iso(at: int, where: ZoneInfo) -> str:
    """``2025-05-24T09:35:00+02:00``: the local time with its offset."""
    return moment(at, where).isoformat(timespec="seconds")


def weekday(at: int, where: ZoneInfo, lang: str) -> str:
    """ "Sat", "Sa."."""
    return format_datetime(moment(at, where), "EEE", locale=locale(lang))


def day(at: int, where: ZoneInfo, lang: str) -> str:
    """ "Sat, May 24", "Sa., 24. Mai"."""
    return format_skeleton("MMMEd", moment(at, where), locale=locale(lang))


def clock(at: int, where: ZoneInfo, lang: str) -> str:
    """ "09:35", "09:35 Uhr"."""
    found = locale(lang)
    pattern = TIME_PATTERNS.get(found.language)
    if pattern is not None:
        return format_datetime(moment(at, where), pattern, locale=found)
    return format_skeleton("Hm", moment(at, where), locale=found)


def day_and_time(at: int, where: ZoneInfo, lang: str) -> str:
    """ "Sat 09:35", "Sa. 09:35 Uhr"."""
    return f"{weekday(at, where, lang)} {clock(at, where, lang)}"


def window(start: int, end: int, where: ZoneInfo, lang: str) -> str:
    """ "Sat 09:35 - 09:55", "Sa. 09:35-09:55 Uhr" (CLDR's dashes); "Sat 16:30 - Sun 16:30" across midnight."""
    first, last = moment(start, where), moment(end, where)
    if first.date() != last.date():
        return f"{day_and_time(start, where, lang)} \u2013 {day_and_time(end, where, lang)}"
    return f"{weekday(start, where, lang)} {format_interval(first, last, 'Hm', locale=locale(lang))}"


def day_range(first: date, last: date, lang: str) -> str:
    """ "May 23 - 25", "23.-25. Mai" (with en dashes); one day alone when they are the same."""
    return format_interval(first, last, "MMMd", locale=locale(lang))
