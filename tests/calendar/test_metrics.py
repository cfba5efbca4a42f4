"""A missing feed on ``/metrics`` of ``chequered serve standings --ops-port``: a real process counts the scheduled
sessions live now with no timing data, as an alerting rule reads it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from nats.aio.client import Client

from schemas.events import (
    CalendarPublished,
    Event,
    ScheduledRound,
    ScheduledSession,
    SessionKind,
    SessionRef,
    SessionStarted,
)
from schemas.ingest import Accepted
from services.broker.embedded import free_port
from services.ingest.client import Producer
from services.ingest.service import IngestService
from tests.calendar.seasons import published
from tests.commands import answered
from tests.factory import SessionWriter
from tests.reliability.processes import ServiceProcess

pytestmark = pytest.mark.slow

RACE = SessionRef("today", "here", "race")


async def test_a_missing_feed_counts_on_metrics(nats_url: str, nc: Client, tmp_path: Path) -> None:
    now = int(time.time() * 1000)
    race = ScheduledSession(session="race", name="Race", kind=SessionKind.RACE, start=now - 60_000, end=now + 7_200_000)
    season = CalendarPublished(
        name="Today",
        rounds=[ScheduledRound(event="here", name="Here", circuit="Here", time_zone="UTC", sessions=[race])],
    )
    port = free_port()
    metrics = f"http://127.0.0.1:{port}/metrics"
    ingest = IngestService(nats_url)
    await ingest.start()
    try:
        with ServiceProcess("standings", nats_url, tmp_path, "--ops-port", str(port)):
            assert isinstance(await Producer(nc).send(published("today", season, now)), Accepted)
            await answered(metrics, lambda status, body: "chequered_calendar_feeds_missing 1.0" in body)
            opened = Event(
                id="opened", session=RACE, producer="tests", at=now - 60_000, body=SessionWriter().opened().body
            )
            started = Event(id="green", session=RACE, producer="tests", at=now, body=SessionStarted())
            replies = await Producer(nc).send_all([opened, started])
            assert all(isinstance(reply, Accepted) for reply in replies), replies
            await answered(metrics, lambda status, body: "chequered_calendar_feeds_missing 0.0" in body)
    finally:
        await ingest.stop()
