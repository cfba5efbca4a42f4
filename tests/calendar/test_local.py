"""Local time: instants from what a file says in a circuit's zone, daylight saving included; localized words."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.events import FIRST_SCHEDULED, MAX_INSTANT
from services.calendar.local import (
    CalendarError,
    clock,
    day,
    day_and_time,
    day_range,
    iso,
    moment,
    scheduled_instant,
    zone,
)
from tests.calendar.seasons import ZONES, at

BERLIN = ZoneInfo("Europe/Berlin")


def test_a_local_time_is_the_circuits() -> None:
    assert scheduled_instant(datetime(2025, 5, 24, 9, 35), "Europe/Berlin") == at("2025-05-24T07:35:00Z")
    assert scheduled_instant(datetime(2025, 12, 6, 9, 35), "Europe/Berlin") == at("2025-12-06T08:35:00Z")


def test_a_time_the_clocks_skip_does_not_exist() -> None:
    """Europe's clocks go from 02:00 to 03:00 on 30 March 2025: 02:30 never happens at the circuit."""
    with pytest.raises(CalendarError, match=r"2025-03-30T02:30 does not exist in Europe/Berlin"):
        scheduled_instant(datetime(2025, 3, 30, 2, 30), "Europe/Berlin")


def test_a_time_the_clocks_repeat_needs_its_offset() -> None:
    """On 26 October 2025 02:30 happens twice in Berlin; the offset says which."""
    with pytest.raises(CalendarError, match=r"happens twice.*2025-10-26T02:30\+02:00 or 2025-10-26T02:30\+01:00"):
        scheduled_instant(datetime(2025, 10, 26, 2, 30), "Europe/Berlin")
    first = scheduled_instant(datetime(2025, 10, 26, 2, 30, tzinfo=timezone(timedelta(hours=2))), "Europe/Berlin")
    second = scheduled_instant(datetime(2025, 10, 26, 2, 30, tzinfo=timezone(timedelta(hours=1))), "Europe/Berlin")
    assert second - first == 3_600_000


def test_local_times_labelled_utc_are_refused() -> None:
    """The classic: track time written with +00:00 (or Z) is not the circuit's time; say what it would be."""
    with pytest.raises(CalendarError, match=r"is 11:35 in Europe/Berlin \(UTC\+02:00\)"):
        scheduled_instant(datetime(2025, 5, 24, 9, 35, tzinfo=UTC), "Europe/Berlin")


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("Mars/Olympus", "unknown time zone 'Mars/Olympus'"),
        ("../../etc/passwd", "unknown time zone"),
        ("/etc/localtime", "unknown time zone"),
        ("Europe/" + "x" * 5000, "unknown time zone 'Europe/xxx"),  # a name too long for a file name: still a reason
        ("Europe/Berlin\n", "unknown time zone"),
    ],
)
def test_an_unknown_zone_is_named(name: str, reason: str) -> None:
    with pytest.raises(CalendarError, match=reason) as caught:
        zone(name)
    assert len(str(caught.value)) < 200


def test_years_outside_a_calendar_are_refused() -> None:
    with pytest.raises(CalendarError, match="1900 to 2099"):
        scheduled_instant(datetime(2100, 1, 1, 0, 1), "UTC")


def test_words_in_english_and_german() -> None:
    race = at("2025-05-24T15:00:00+02:00")
    assert day_and_time(race, BERLIN, "en") == "Sat 15:00"
    assert day_and_time(race, BERLIN, "de") == "Sa. 15:00 Uhr"
    assert day(race, BERLIN, "de") == "Sa., 24. Mai"
    assert clock(race, ZoneInfo("America/New_York"), "en_US") == "09:00"
    assert day_range(date(2025, 5, 23), date(2025, 5, 25), "en") == "May 23\u2009\u2013\u200925"
    assert day_range(date(2025, 5, 23), date(2025, 5, 25), "de") == "23.\u201325. Mai"
    assert day_range(date(2025, 5, 31), date(2025, 6, 1), "en_GB") == "31 May\u2009\u2013\u20091 Jun"
    assert day_range(date(2025, 5, 24), date(2025, 5, 24), "fr") == "24 mai"


def test_an_unknown_language_is_named() -> None:
    with pytest.raises(CalendarError, match="unknown language 'xx-yy'"):
        day_and_time(0, BERLIN, "xx-yy")


@given(st.integers(FIRST_SCHEDULED, MAX_INSTANT), st.sampled_from(ZONES))
def test_an_instant_shown_locally_reads_back_to_itself(instant_ms: int, name: str) -> None:
    """Whatever the zone and the hour (skipped or repeated), the local time with its offset is the instant."""
    shown = moment(instant_ms, zone(name))
    assert datetime.fromisoformat(iso(instant_ms, zone(name))) == shown.replace(microsecond=0)
    assert scheduled_instant(shown, name) == instant_ms
