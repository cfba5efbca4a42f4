"""The calendar read model written by the standings projector against a real nats-server."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from nats.aio.client import Client
from nats.js.errors import KeyNotFoundError

from schemas.calendar import SeasonCalendar, decode_calendar
from schemas.events import Event, SessionRef, SessionStarted
from schemas.ingest import Accepted
from schemas.subjects import STANDINGS_BUCKET, calendar_key
from services.calendar.files import decode_calendar as decode_file
from services.calendar.fold import CalendarFold
from services.ingest.client import Producer
from services.standings.projector import StandingsProjector
from tests.calendar.seasons import SPRINT, at, published
from tests.factory import SessionWriter
from tests.polling import until

SEASON = decode_file(SPRINT.read_bytes(), SPRINT.name).season
RACE_1 = SessionRef("sprint-2025", "lausitzring", "race-1")


async def calendar_value(nc: Client, ready: Callable[[SeasonCalendar], bool], timeout: float = 30.0) -> bytes:
    """The KV value once ``ready`` holds for it; fails after ``timeout``."""
    kv = await nc.jetstream().key_value(STANDINGS_BUCKET)
    found = [b""]

    async def reached() -> bool:
        try:
            found[0] = (await kv.get(calendar_key("sprint-2025"))).value or b""
        except KeyNotFoundError:
            found[0] = b""
        return bool(found[0]) and bool(ready(decode_calendar(found[0])))

    await until(reached, "the calendar to reach the state waited for", timeout)
    return found[0]


@pytest.mark.usefixtures("ingest")
async def test_the_calendar_and_its_sessions_activity_from_the_log(nats_url: str, nc: Client) -> None:
    projector = StandingsProjector(nats_url)
    await projector.start()
    w = SessionWriter(session=RACE_1)
    green = at("2025-05-24T15:03:00+02:00")

    def timed(event: Event, at_ms: int) -> Event:
        return Event(id=event.id, session=RACE_1, producer="tests", at=at_ms, body=event.body)

    timing = [
        timed(w.opened(), green - 3_600_000),
        timed(w.entry("7"), green - 3_600_000),
        timed(w.event(SessionStarted()), green),
        timed(w.lap("7", 1, 0, lap_time_ms=95_000), green + 95_000),
    ]
    try:
        replies = await Producer(nc).send_all([published("sprint-2025", SEASON), *timing])
        assert all(isinstance(r, Accepted) for r in replies), replies
        data = await calendar_value(nc, lambda c: c.rounds[1].sessions[3].activity.started_at is not None)
    finally:
        await projector.stop()
    served = decode_calendar(data)
    race = served.rounds[1].sessions[3]
    assert (race.key, race.activity.started_at, race.activity.last_at) == (
        RACE_1.key,
        green,
        at("2025-05-24T15:04:00+02:00"),
    )
    fold = CalendarFold()
    for e in [published("sprint-2025", SEASON), *timing]:
        fold.apply(e)
    assert fold.read_model("sprint-2025") == served

    again = StandingsProjector(nats_url)  # refolds the log from the start: the same bytes
    await again.start()
    try:
        await asyncio.wait_for(again.caught_up.wait(), 30)
        assert again.calendars.read_model("sprint-2025") == served
    finally:
        await again.stop()
