"""The calendar through the gateway's REST API, against a real stack: a session moved, a race across the
daylight-saving changes, the iCalendar feed, and requests that get a reason instead of an answer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import icalendar
import msgspec
from nats.aio.client import Client

from schemas.calendar import CalendarView, LiveNow, NextEvent, SessionState
from schemas.ingest import Accepted
from services.calendar.files import decode_calendar
from services.calendar.schedule import apply, changes_to
from services.ingest.client import Producer
from tests.calendar.seasons import SPRINT, at, published, race_round
from tests.gateway.clients import TOKEN
from tests.polling import until

SEASON = decode_calendar(SPRINT.read_bytes(), SPRINT.name).season
TUESDAY_BEFORE = "2025-05-20T12:00:00+02:00"


async def until_served(
    api: httpx.AsyncClient, path: str, params: dict[str, str], ready: Callable[[Any], bool], type_: type[Any]
) -> Any:
    """GET ``path`` until it answers a value for which ``ready`` holds (the projector writes asynchronously)."""
    found: list[Any] = []
    last: list[httpx.Response] = []

    async def served() -> bool:
        last[:] = [await api.get(path, params=params)]
        if last[0].status_code == 200:
            found[:] = [msgspec.json.decode(last[0].content, type=type_)]
        return bool(found) and ready(found[0])

    await until(served, lambda: f"{path} to be ready; last: {last[0].status_code} {last[0].text[:300]}")
    return found[0]


async def test_a_moved_session_through_the_api(nc: Client, calendar_api: httpx.AsyncClient) -> None:
    """Race 2 at the Lausitzring moved from 15:10 to 15:25 by bulletin: the calendar, the next event and the
    iCalendar feed all show the new time and where it moved from."""
    producer = Producer(nc)
    assert isinstance(await producer.send(published("sprint-2025", SEASON)), Accepted)
    params = {"at": TUESDAY_BEFORE}
    before = await until_served(calendar_api, "/api/calendar/sprint-2025/next", params, lambda v: True, NextEvent)
    assert before.text.endswith("Race 2 Sun 15:10")

    edited = SPRINT.read_bytes().replace(b"2025-05-25T15:10:00", b"2025-05-25T15:25:00")
    edited = edited.replace(b"2025-05-25T16:10:00", b"2025-05-25T16:25:00")
    [moved] = changes_to(apply(None, SEASON, 1), decode_calendar(edited, SPRINT.name).season, "bulletin 12")
    assert isinstance(await producer.send(published("sprint-2025", moved, 2, "move-1")), Accepted)

    after = await until_served(
        calendar_api, "/api/calendar/sprint-2025/next", params, lambda v: "15:25" in v.text, NextEvent
    )
    assert after.text.endswith("Race 2 Sun 15:25 (moved from Sun 15:10)")
    german = await calendar_api.get("/api/calendar/sprint-2025/next", params=params | {"lang": "de"})
    assert german.json()["text"].endswith("Race 2 So. 15:25 Uhr (verschoben von So. 15:10 Uhr)")

    season = msgspec.json.decode((await calendar_api.get("/api/calendar/sprint-2025", params=params)).content,
                                 type=CalendarView)  # fmt: skip
    race_2 = next(s for r in season.rounds for s in r.sessions if s.key == "sprint-2025.lausitzring.race-2")
    assert (race_2.local_start, race_2.state) == ("2025-05-25T15:25:00+02:00", SessionState.UPCOMING)
    [change] = race_2.changes
    assert (change.kind.value, change.was_start, change.reason) == (
        "moved",
        at("2025-05-25T15:10:00+02:00"),
        "bulletin 12",
    )

    feed = await calendar_api.get("/api/calendar/sprint-2025/season.ics")
    assert feed.headers["content-type"] == "text/calendar; charset=utf-8"
    entry = next(
        e
        for e in icalendar.Calendar.from_ical(feed.content).walk("VEVENT")
        if str(e["uid"]) == "sprint-2025.lausitzring.race-2@chequered"
    )
    assert (entry.decoded("dtstart").isoformat(), str(entry["sequence"])) == ("2025-05-25T15:25:00+02:00", "1")


DST_SEASON = (
    'name = "Endurance 2025"\nchampionship = "endurance-2025"\n'
    + race_round(
        "spa", "Spa", "Spa-Francorchamps", "Europe/Brussels", "24 Hours", "2025-10-25T15:00:00", "2025-10-26T14:00:00"
    )
    + race_round(
        "sebring",
        "Sebring",
        "Sebring International Raceway",
        "America/New_York",
        "12 Hours",
        "2025-03-08T20:00:00",
        "2025-03-09T09:00:00",
    )
).encode()


async def test_races_across_the_daylight_saving_changes_through_the_api(
    nc: Client, calendar_api: httpx.AsyncClient
) -> None:
    """Spa: 15:00 Saturday to 14:00 Sunday is 24 hours (Europe's clocks go back at 03:00 on 26 October 2025);
    it is live in both of the night's 02:30s. Sebring: 20:00 Saturday to 09:00 Sunday is 12 hours (America's
    clocks go forward at 02:00 on 9 March 2025). Shown in Berlin, in Tokyo (no daylight saving) and locally."""
    season = decode_calendar(DST_SEASON, "dst.toml").season
    assert isinstance(await Producer(nc).send(published("endurance-2025", season)), Accepted)
    path = "/api/calendar/endurance-2025"
    local = await until_served(calendar_api, path, {"at": "2025-01-01T00:00:00Z"}, lambda v: True, CalendarView)
    assert [r.event for r in local.rounds] == ["sebring", "spa"], "in order of their days"
    sebring, spa = (r.sessions[0] for r in local.rounds)
    assert (spa.local_start, spa.local_end, spa.end - spa.start) == (
        "2025-10-25T15:00:00+02:00",
        "2025-10-26T14:00:00+01:00",
        24 * 3_600_000,
    )
    assert (sebring.local_start, sebring.local_end, sebring.end - sebring.start) == (
        "2025-03-08T20:00:00-05:00",
        "2025-03-09T09:00:00-04:00",
        12 * 3_600_000,
    )
    tokyo = (await calendar_api.get(path, params={"tz": "Asia/Tokyo", "lang": "de"})).json()
    shown = {r["event"]: r["sessions"][0] for r in tokyo["rounds"]}
    assert (shown["spa"]["date"], shown["spa"]["time"], shown["spa"]["end_time"]) == ("Sa., 25. Okt.", "22:00 Uhr",
                                                                                       "22:00 Uhr")  # fmt: skip
    assert (shown["sebring"]["day"], shown["sebring"]["time"]) == ("So.", "10:00 Uhr")

    for moment in ("2025-10-26T02:30:00+02:00", "2025-10-26T02:30:00+01:00", "2025-10-26T13:59:00+01:00"):
        live = msgspec.json.decode((await calendar_api.get(f"{path}/live", params={"at": moment})).content,
                                   type=LiveNow)  # fmt: skip
        assert [s.key for s in live.sessions] == ["endurance-2025.spa.race"], moment
        assert [a.message for a in live.alerts] == [
            "endurance-2025.spa.race (24 Hours) scheduled Sat 15:00 local, no data yet"
        ]
    over = (await calendar_api.get(f"{path}/live", params={"at": "2025-10-26T14:00:00+01:00"})).json()
    assert over["sessions"] == []


async def test_what_the_api_refuses_says_why(nc: Client, calendar_api: httpx.AsyncClient) -> None:
    missing = await calendar_api.get("/api/calendar/nobody-2025/next")
    assert missing.status_code == 404
    assert "publish one (chequered publish nobody-2025._championship.calendar calendar FILE)" in missing.json()["error"]
    assert (await calendar_api.get("/api/calendar/a%20b/next")).status_code == 400
    assert isinstance(await Producer(nc).send(published("sprint-2025", SEASON)), Accepted)
    await until_served(calendar_api, "/api/calendar/sprint-2025", {}, lambda v: True, CalendarView)
    for params, reason in (
        ({"tz": "Europe/Lausitz"}, "unknown time zone 'Europe/Lausitz'"),
        ({"tz": "Europe/" + "x" * 3000}, "unknown time zone 'Europe/xxx"),
        ({"lang": "xx"}, "unknown language 'xx'"),
        ({"at": "tomorrow"}, "at: cannot read 'tomorrow' as an instant"),
        ({"at": "2025-05-24T15:00:00"}, "has no time zone"),
    ):
        refused = await calendar_api.get("/api/calendar/sprint-2025/live", params=params)
        assert refused.status_code == 400 and reason in refused.json()["error"], params
    assert (await calendar_api.get("/api/calendar")).json() == {"championships": ["sprint-2025"]}
    async with httpx.AsyncClient(base_url=str(calendar_api.base_url)) as anonymous:
        assert (await anonymous.get("/api/calendar/sprint-2025/season.ics")).status_code == 401
        subscribed = await anonymous.get("/api/calendar/sprint-2025/season.ics", params={"token": TOKEN})
        assert subscribed.status_code == 200, "a calendar app subscribes with the token in the address"
