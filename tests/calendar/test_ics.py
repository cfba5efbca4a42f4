"""iCalendar: the feed a fan subscribes to, read back to the same calendar; files from elsewhere read by their
summaries."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import icalendar
import pytest
from hypothesis import given, settings
from msgspec import structs

from schemas.events import CalendarPublished, PointsRole, SessionCancelled, SessionKind, SessionRescheduled
from services.calendar.files import CalendarFileError, decode_calendar
from services.calendar.ics import from_ics, to_ics
from tests.calendar.seasons import SPRINT, at, read_model, seasons

SEASON = decode_calendar(SPRINT.read_bytes(), SPRINT.name).season
ROOT = Path(__file__).resolve().parents[2]


def schedule_of(season: CalendarPublished) -> tuple[object, ...]:
    """What a calendar says, as its read model shows it (a round's days resolved)."""
    model = read_model("c", season)
    return (model.name, [structs.replace(r, sessions=[structs.replace(s, changes=[]) for s in r.sessions])
                         for r in model.rounds])  # fmt: skip


def test_a_session_ending_in_the_repeated_hour_keeps_its_end() -> None:
    """21:00 Friday to 02:00 CET on the night Berlin's clocks go back: with a TZID, 02:00 means the first 02:00
    (CEST), an hour early, so the feed says that end in UTC (found by the property test below)."""
    session = structs.replace(SEASON.rounds[1].sessions[0], start=at("2025-10-24T21:00:00+02:00"),
                              end=at("2025-10-26T02:00:00+01:00"))  # fmt: skip
    season = CalendarPublished(name="x", rounds=[structs.replace(SEASON.rounds[1], sessions=[session],
                                                                 first_day=None, last_day=None)])  # fmt: skip
    feed = to_ics(read_model("c", season))
    assert b"DTEND:20251026T010000Z" in feed and b"DTSTART;TZID=Europe/Berlin:20251024T210000" in feed
    assert schedule_of(from_ics(feed, "x.ics")[0]) == schedule_of(season)


def test_text_with_backslashes_and_separators_reads_back_as_written() -> None:
    """A session named ``\\N`` came back as a line break: icalendar's escaping takes a backslash and an ``N`` for one
    (found by the property test below)."""
    names = ["\\N", "C:\\new, old; \\n", "two\nlines"]
    sessions = [
        structs.replace(SEASON.rounds[1].sessions[0], session=f"s{i}", name=name) for i, name in enumerate(names)
    ]
    season = CalendarPublished(name="a\\N;b", rounds=[structs.replace(SEASON.rounds[1], name="\\N", sessions=sessions)])
    again, skipped = from_ics(to_ics(read_model("c", season)), "x.ics")
    assert skipped == []
    assert schedule_of(again) == schedule_of(season)


def test_the_same_calendar_gives_the_same_feed_in_any_process() -> None:
    """Its time zones were in the order of a set of names, which Python's string hashing orders afresh in each process
    (the example season's circuits are in two zones)."""
    script = (
        "import sys; from services.calendar.files import decode_calendar; from services.calendar.ics import to_ics;"
        "from tests.calendar.seasons import SPRINT, read_model;"
        "sys.stdout.buffer.write(to_ics(read_model('c', decode_calendar(SPRINT.read_bytes(), SPRINT.name).season)))"
    )
    feeds = {
        subprocess.run(
            [sys.executable, "-c", script], cwd=ROOT, capture_output=True, check=True, timeout=60,
            env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONHASHSEED": seed},
        ).stdout
        for seed in ("1", "2", "3", "4")
    }  # fmt: skip
    assert len(feeds) == 1


@settings(max_examples=80, deadline=None)
@given(seasons())
def test_an_export_read_back_is_the_same_calendar(season: CalendarPublished) -> None:
    feed = to_ics(read_model("c", season))
    again, skipped = from_ics(feed, "season.ics")
    assert skipped == []
    assert schedule_of(again) == schedule_of(season)


def test_the_feed_moves_and_strikes_what_a_calendar_app_already_shows() -> None:
    """A moved session keeps its UID with a higher SEQUENCE; a cancelled one is STATUS:CANCELLED; times carry the
    circuit's TZID and the feed its VTIMEZONE."""
    model = read_model(
        "sprint-2025",
        SEASON,
        SessionRescheduled(
            event="lausitzring",
            session="race-2",
            start=at("2025-05-25T15:25:00+02:00"),
            end=at("2025-05-25T16:25:00+02:00"),
        ),
        SessionCancelled(event="lausitzring", session="free-practice-2", reason="fog"),
    )
    feed = icalendar.Calendar.from_ical(to_ics(model))
    events = {str(e["uid"]): e for e in feed.walk("VEVENT")}
    race_2 = events["sprint-2025.lausitzring.race-2@chequered"]
    assert str(race_2["summary"]) == "Lausitzring: Race 2"
    assert race_2.decoded("dtstart").isoformat() == "2025-05-25T15:25:00+02:00"
    assert race_2.decoded("dtstart").tzinfo.key == "Europe/Berlin"
    assert (str(race_2["sequence"]), str(race_2["status"])) == ("1", "CONFIRMED")
    assert str(events["sprint-2025.lausitzring.free-practice-2@chequered"]["status"]) == "CANCELLED"
    assert sorted(str(z["tzid"]) for z in feed.walk("VTIMEZONE")) == ["Europe/Amsterdam", "Europe/Berlin"]
    assert to_ics(model) == to_ics(model), "the same calendar gives the same bytes (no clock in it)"


FOREIGN = b"""BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//Some Series//Web Site//EN\r
X-WR-CALNAME:GT Sprint Cup 2025\r
X-WR-TIMEZONE:Europe/Berlin\r
BEGIN:VEVENT\r
UID:1@series\r
DTSTAMP:20250101T000000Z\r
SUMMARY:Lausitzring - Qualifying 1\r
LOCATION:Lausitzring\\, Klettwitz\r
DTSTART;TZID=Europe/Berlin:20250524T093500\r
DTEND;TZID=Europe/Berlin:20250524T095500\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:2@series\r
DTSTAMP:20250101T000000Z\r
SUMMARY:Lausitzring - Race 1\r
DTSTART:20250524T130000Z\r
DURATION:PT1H\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:3@series\r
DTSTAMP:20250101T000000Z\r
SUMMARY:Lausitzring - Autograph session\r
DTSTART;TZID=Europe/Berlin:20250524T120000\r
DTEND;TZID=Europe/Berlin:20250524T130000\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:4@series\r
DTSTAMP:20250101T000000Z\r
SUMMARY:Season launch\r
DTSTART;VALUE=DATE:20250301\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:5@series\r
DTSTAMP:20250101T000000Z\r
SUMMARY:Lausitzring - Rennen 2\r
DTSTART;TZID=Europe/Berlin:20250525T151000\r
DTEND;TZID=Europe/Berlin:20250525T161000\r
STATUS:CANCELLED\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:6@series\r
DTSTAMP:20250101T000000Z\r
SUMMARY:Lausitzring - Race 1\r
DTSTART;TZID=Europe/Berlin:20250823T150000\r
DTEND;TZID=Europe/Berlin:20250823T160000\r
END:VEVENT\r
END:VCALENDAR\r
"""


def test_a_file_from_elsewhere_is_read_by_its_summaries() -> None:
    season, skipped = from_ics(FOREIGN, "series.ics")
    assert season.name == "GT Sprint Cup 2025"
    [may, august] = season.rounds
    assert (may.event, may.name, may.circuit, may.time_zone) == (
        "lausitzring",
        "Lausitzring",
        "Lausitzring, Klettwitz",
        "Europe/Berlin",
    )
    assert [(s.session, s.kind, s.points, s.start, s.cancelled) for s in may.sessions] == [
        ("qualifying-1", SessionKind.QUALIFYING, PointsRole.NONE, at("2025-05-24T09:35:00+02:00"), False),
        ("race-1", SessionKind.RACE, PointsRole.POINTS, at("2025-05-24T15:00:00+02:00"), False),
        ("rennen-2", SessionKind.RACE, PointsRole.POINTS, at("2025-05-25T15:10:00+02:00"), True),
    ]
    assert august.event == "lausitzring-2", "a later visit to the same circuit is another round"
    assert skipped == [
        "event 3 (Lausitzring - Autograph session): its summary names no session (practice, qualifying or race)",
        "event 4 (Season launch): an all-day event is no session",
    ]


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"not a calendar", "not an iCalendar file"),
        (FOREIGN.replace(b"X-WR-TIMEZONE:Europe/Berlin\r\n", b""), "event 2 (Lausitzring - Race 1): its start is in"),
        (FOREIGN.replace(b"DURATION:PT1H\r\n", b""), "event 2 (Lausitzring - Race 1): it has no DTEND or DURATION"),
        (FOREIGN.replace(b"X-WR-TIMEZONE:Europe/Berlin", b"X-WR-TIMEZONE:Mars/Base"), "unknown time zone 'Mars/Base'"),
    ],
)
def test_what_cannot_be_read_is_named(data: bytes, problem: str) -> None:
    with pytest.raises(CalendarFileError, match=re.escape(problem)):
        decode_calendar(data, "series.ics")


def test_an_export_edited_into_nonsense_is_refused_as_ingest_would() -> None:
    """A session slug no subject can hold, a kind that is none: named with their field, before anything is sent."""
    feed = to_ics(read_model("sprint-2025", SEASON))
    with pytest.raises(CalendarFileError, match=re.escape("$.rounds[0].sessions[0].session: Expected `str` matching")):
        decode_calendar(feed.replace(b"SESSION:free-practice\r\n", b"SESSION:free practice\r\n", 1), "season.ics")
    with pytest.raises(CalendarFileError, match="'warm-up' is not a valid SessionKind"):
        decode_calendar(feed.replace(b"X-CHEQUERED-KIND:practice", b"X-CHEQUERED-KIND:warm-up", 1), "season.ics")
