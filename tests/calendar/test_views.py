"""The calendar at an instant: the next event as a page prints it, in two zones and two languages; what is live,
missing or stalled; a session across a daylight-saving change."""

from __future__ import annotations

import pytest
from msgspec import structs

from schemas.calendar import SessionState
from schemas.events import (
    Body,
    Event,
    Flag,
    FlagChanged,
    LapCompleted,
    PenaltyIssued,
    PenaltyKind,
    SessionRef,
    SessionRescheduled,
    SessionStarted,
)
from services.calendar.files import decode_calendar
from services.calendar.fold import CalendarFold
from services.calendar.local import CalendarError
from services.calendar.views import alerts, calendar_view, live_now, next_event
from tests.calendar.seasons import GT_ENDURANCE, SPRINT, at, published, race_round, read_model
from tests.factory import SessionWriter

SPRINT_SEASON = decode_calendar(SPRINT.read_bytes(), SPRINT.name).season
TUESDAY_BEFORE = at("2025-05-20T12:00:00+02:00")

# Written by hand from the circuit's schedule (Europe/Berlin, UTC+2 in May): Auckland is UTC+12 in May, so Race 1
# (13:00 UTC) is already Sunday there and Race 2 (13:10 UTC) Monday.
MAY_EN, MAY_DE = "May 23\u2009\u2013\u200925", "23.\u201325. Mai"  # CLDR's thin spaces and en dash
EXPECTED = {
    (None, "en"): f"Next event: Lausitzring, {MAY_EN}; Free Practice 1 Fri 13:30, Free Practice 2 Fri 17:00, "
    "Qualifying 1 Sat 09:35, Race 1 Sat 15:00, Qualifying 2 Sun 09:55, Race 2 Sun 15:10",
    (None, "de"): f"Nächste Veranstaltung: Lausitzring, {MAY_DE}; Free Practice 1 Fr. 13:30 Uhr, Free Practice 2 "
    "Fr. 17:00 Uhr, Qualifying 1 Sa. 09:35 Uhr, Race 1 Sa. 15:00 Uhr, Qualifying 2 So. 09:55 Uhr, Race 2 So. "
    "15:10 Uhr",
    ("Pacific/Auckland", "en"): f"Next event: Lausitzring, {MAY_EN}; Free Practice 1 Fri 23:30, Free Practice 2 "
    "Sat 03:00, Qualifying 1 Sat 19:35, Race 1 Sun 01:00, Qualifying 2 Sun 19:55, Race 2 Mon 01:10 "
    "(times: Pacific/Auckland)",
    ("Pacific/Auckland", "de"): f"Nächste Veranstaltung: Lausitzring, {MAY_DE}; Free Practice 1 Fr. 23:30 Uhr, "
    "Free Practice 2 Sa. 03:00 Uhr, Qualifying 1 Sa. 19:35 Uhr, Race 1 So. 01:00 Uhr, Qualifying 2 So. 19:55 Uhr, "
    "Race 2 Mo. 01:10 Uhr (Zeiten: Pacific/Auckland)",
}


@pytest.mark.parametrize(("tz", "lang"), list(EXPECTED))
def test_the_next_event_of_the_shipped_sprint_weekend(tz: str | None, lang: str) -> None:
    shown = next_event(read_model("sprint-2025", SPRINT_SEASON), TUESDAY_BEFORE, tz, lang)
    assert shown.text == EXPECTED[tz, lang]
    assert shown.round is not None and [s.state for s in shown.round.sessions] == [SessionState.UPCOMING] * 6
    assert shown.live == []


def test_the_next_event_of_the_shipped_gt_endurance_season() -> None:
    """After Paul Ricard the Spa 24 Hours is next; its race runs Saturday 16:30 to Sunday 16:30 in Belgium,
    10:30 Saturday in New York."""
    season = decode_calendar(GT_ENDURANCE.read_bytes(), GT_ENDURANCE.name).season
    model = read_model("gtes-2026", season)
    monday = at("2026-06-01T09:00:00+02:00")
    assert next_event(model, monday).text == (
        "Next event: Spa 24 Hours, Jun 24\u2009\u2013\u200928; Free Practice Thu 13:30, Pre-Qualifying Thu 17:10, "
        "Qualifying Thu 20:10, Superpole Fri 18:00, Race Sat 16:30"
    )
    assert next_event(model, monday, "America/New_York", "de").text == (
        "Nächste Veranstaltung: Spa 24 Hours, 24.\u201328. Juni; Free Practice Do. 07:30 Uhr, Pre-Qualifying Do. "
        "11:10 Uhr, Qualifying Do. 14:10 Uhr, Superpole Fr. 12:00 Uhr, Race Sa. 10:30 Uhr (Zeiten: America/New_York)"
    )
    after = next_event(model, at("2026-09-06T18:00:00+02:00"))
    assert (after.round, after.text) == (None, "No event ahead: GT Endurance Series 2026")


def test_the_round_under_way_is_next_until_its_last_session_ends() -> None:
    model = read_model("sprint-2025", SPRINT_SEASON)
    sunday_noon = at("2025-05-25T12:00:00+02:00")
    shown = next_event(model, sunday_noon)
    assert shown.round is not None and shown.round.event == "lausitzring"
    states = {s.session: s.state for s in shown.round.sessions}
    assert states["race-1"] is SessionState.OVER and states["race-2"] is SessionState.UPCOMING


def test_a_moved_session_says_from_when() -> None:
    moved = SessionRescheduled(
        event="lausitzring",
        session="race-2",
        start=at("2025-05-25T15:25:00+02:00"),
        end=at("2025-05-25T16:25:00+02:00"),
    )
    model = read_model("sprint-2025", SPRINT_SEASON, moved)
    assert next_event(model, TUESDAY_BEFORE).text.endswith("Race 2 Sun 15:25 (moved from Sun 15:10)")
    assert next_event(model, TUESDAY_BEFORE, lang="de").text.endswith(
        "Race 2 So. 15:25 Uhr (verschoben von So. 15:10 Uhr)"
    )


SPA_AUTUMN = (
    'name = "Endurance"\n'
    + race_round(
        "spa", "Spa", "Spa-Francorchamps", "Europe/Brussels", "Race", "2025-10-25T15:00:00", "2025-10-26T14:00:00"
    )
).encode()


def test_a_24_hour_race_across_the_autumn_change() -> None:
    """Saturday 25 October 2025 15:00 to Sunday 14:00 in Belgium is 24 hours: the clocks go back at 03:00 CEST.
    New York changes a week later, so there it runs 09:00 to 09:00."""
    model = read_model("endurance", decode_calendar(SPA_AUTUMN, "spa.toml").season)
    [race] = model.rounds[0].sessions
    assert race.end - race.start == 24 * 3_600_000
    repeated_hour = at("2025-10-26T02:30:00+01:00")
    [shown] = calendar_view(model, repeated_hour, "America/New_York").rounds[0].sessions
    assert (shown.local_start, shown.local_end) == ("2025-10-25T09:00:00-04:00", "2025-10-26T09:00:00-04:00")
    assert (shown.day, shown.time, shown.end_time) == ("Sat", "09:00", "09:00")
    [local] = calendar_view(model, repeated_hour).rounds[0].sessions
    assert (local.local_start, local.local_end) == ("2025-10-25T15:00:00+02:00", "2025-10-26T14:00:00+01:00")
    assert local.state is SessionState.NO_DATA, "in the repeated hour the window is open"
    assert (str(model.rounds[0].first_day), str(model.rounds[0].last_day)) == ("2025-10-25", "2025-10-26")


RACE_1 = SessionRef("sprint-2025", "lausitzring", "race-1")
GREEN = at("2025-05-24T15:00:00+02:00")


def timing(body: Body, at_ms: int, event_id: str) -> Event:
    return Event(id=event_id, session=RACE_1, producer="tests", at=at_ms, body=body)  # type: ignore[arg-type]


def test_live_missing_and_stalled_feeds() -> None:
    """Race 1 at the Lausitzring, 15:00 to 16:00: opened the day before with no data at 15:02 is an alert; laps
    flowing make it live; laps that stop for six minutes with no red flag are a stalled feed; a red flag is a
    pause; a decision published after the race is no sign of a running feed."""
    fold = CalendarFold()
    fold.apply(published("sprint-2025", SPRINT_SEASON))
    fold.apply(timing(SessionWriter(session=RACE_1).opened().body, GREEN - 86_400_000, "opened"))
    model = fold.read_model("sprint-2025")
    [alert] = alerts(model, GREEN + 120_000)
    assert alert.message == "sprint-2025.lausitzring.race-1 (Race 1) scheduled Sat 15:00 local, no data yet"
    assert alerts(model, GREEN + 120_000, "de")[0].message == (
        "sprint-2025.lausitzring.race-1 (Race 1) geplant Sa. 15:00 Uhr Ortszeit, noch keine Daten"
    )
    assert fold.apply(timing(SessionStarted(), GREEN + 180_000, "green")) == "sprint-2025"
    fold.apply(timing(LapCompleted(number="7", lap=1, lap_time_ms=100_000), GREEN + 300_000, "lap-1"))
    model = fold.read_model("sprint-2025")
    live = live_now(model, GREEN + 360_000)
    assert [s.key for s in live.sessions] == [RACE_1.key] and live.alerts == []
    assert (live.sessions[0].state, live.sessions[0].late_ms, live.sessions[0].note) == (
        SessionState.LIVE,
        180_000,
        "live",
    )
    [stalled] = alerts(model, GREEN + 12 * 60_000)
    assert stalled.message.endswith("scheduled Sat 15:00 local, no data since 15:05 local")
    fold.apply(timing(FlagChanged(flag=Flag.RED), GREEN + 301_000, "red"))
    assert alerts(fold.read_model("sprint-2025"), GREEN + 12 * 60_000) == []
    late_decision = PenaltyIssued(number="7", decision="D1", kind=PenaltyKind.TIME, time_ms=5000)
    assert fold.apply(timing(late_decision, GREEN + 7_200_000, "d1")) is None
    assert live_now(fold.read_model("sprint-2025"), GREEN + 7_260_000).sessions == []


def test_unknown_zone_or_language_is_refused() -> None:
    model = read_model("sprint-2025", SPRINT_SEASON)
    with pytest.raises(CalendarError, match="unknown time zone 'Europe/Lausitz'"):
        next_event(model, 0, "Europe/Lausitz")
    with pytest.raises(CalendarError, match="unknown language 'klingon'"):
        live_now(model, 0, lang="klingon")


def test_a_round_with_no_session_yet_is_next_until_its_last_day() -> None:
    """A round announced with its days and no timetable yet ("sessions to be announced") is the next event until
    its last day is over at the circuit."""
    tba = structs.replace(SPRINT_SEASON.rounds[2], sessions=[])
    model = read_model("sprint-2025", structs.replace(SPRINT_SEASON, rounds=[*SPRINT_SEASON.rounds[:2], tba]))
    after_lausitz = at("2025-05-26T12:00:00+02:00")
    shown = next_event(model, after_lausitz)
    assert shown.round is not None and (shown.round.event, shown.round.sessions) == ("zandvoort", [])
    assert shown.text == "Next event: Zandvoort, Jun 6\u2009\u2013\u20098"
    last_day = next_event(model, at("2025-06-08T23:59:00+02:00")).round
    assert last_day is not None and last_day.event == "zandvoort"
    assert next_event(model, at("2025-06-09T00:00:00+02:00")).round is None


def test_instants_no_calendar_holds_are_refused_or_ignored() -> None:
    """Asked for the year 5000, the views say what they hold; a lap dated 3000 (a glitching clock) is no sign of a
    running feed and leaves the session's activity as it was (showing it would overflow a date)."""
    model = read_model("sprint-2025", SPRINT_SEASON)
    with pytest.raises(CalendarError, match="1900 to 2099"):
        next_event(model, 10**17)
    fold = CalendarFold()
    fold.apply(published("sprint-2025", SPRINT_SEASON))
    assert fold.apply(timing(LapCompleted(number="7", lap=1, lap_time_ms=90_000), 10**15, "glitch")) is None
    assert fold.read_model("sprint-2025") == model
