"""What ingest admits of a calendar: only in the championship's calendar session, and only what applies to the
calendar as stored; refusals have a reason and are kept in the rejects stream."""

from __future__ import annotations

import pytest
from msgspec import structs
from nats.aio.client import Client

from schemas.calendar import SessionActivity, encode_calendar
from schemas.events import (
    CalendarPublished,
    ChampionshipConfigured,
    Event,
    EventBody,
    SessionCancelled,
    SessionRef,
    encode_event,
)
from schemas.ingest import Accepted, RejectCode, Rejected, RejectedEvent
from services.calendar.files import decode_calendar
from services.calendar.fold import CalendarFold
from services.ingest.client import Producer
from services.ingest.rules import IngestLedger, fingerprint
from services.ingest.service import IngestService
from services.ops.rejects import read_rejects
from tests.calendar.seasons import SPRINT, published

SEASON = decode_calendar(SPRINT.read_bytes(), SPRINT.name).season
CALENDAR = SessionRef.calendar_of("sprint-2025")
CANCEL = SessionCancelled(event="lausitzring", session="race-2", reason="storm")


def event(session: SessionRef, body: EventBody, event_id: str) -> Event:
    return Event(id=event_id, session=session, producer="ops", at=1, body=body)


@pytest.mark.parametrize(
    ("session", "body", "code", "words"),
    [
        (SessionRef.championship_of("sprint-2025"), SEASON, RejectCode.WRONG_SUBJECT, "calendar session"),
        (SessionRef("sprint-2025", "lausitzring", "race-1"), CANCEL, RejectCode.WRONG_SUBJECT, "calendar session"),
        (CALENDAR, ChampionshipConfigured(toml="v = 1"), RejectCode.WRONG_SUBJECT, "carries only the calendar"),
        (CALENDAR, CANCEL, RejectCode.INVALID_CALENDAR, "no calendar yet"),
        (
            CALENDAR,
            structs.replace(SEASON, rounds=[structs.replace(SEASON.rounds[0], time_zone="Europe/Lausitz")]),
            RejectCode.INVALID_CALENDAR,
            "unknown time zone 'Europe/Lausitz'",
        ),
    ],
)
def test_calendar_events_belong_to_the_calendar_session(
    session: SessionRef, body: EventBody, code: RejectCode, words: str
) -> None:
    problem = IngestLedger().check(event(session, body, "x"))
    assert problem is not None and problem.code is code and words in problem.reason


def test_each_change_is_judged_against_the_calendar_as_stored() -> None:
    ledger = IngestLedger()
    first = published("sprint-2025", SEASON)
    assert ledger.check(first) is None
    ledger.admit(first, 0, fingerprint(encode_event(first)))  # provisionally, then with its sequence: applied once
    ledger.admit(first, 1, fingerprint(encode_event(first)))
    cancel = event(CALENDAR, CANCEL, "cancel")
    assert ledger.check(cancel) is None
    ledger.admit(cancel, 0, fingerprint(encode_event(cancel)))
    ledger.admit(cancel, 2, fingerprint(encode_event(cancel)))
    again = ledger.check(event(CALENDAR, CANCEL, "cancel-again"))
    assert again == Rejected(
        RejectCode.INVALID_CALENDAR, "SessionCancelled refused: lausitzring.race-2 is already cancelled"
    )


async def test_a_refused_change_is_kept_with_its_reason(nats_url: str, nc: Client) -> None:
    producer = Producer(nc)
    ingest = IngestService(nats_url)
    await ingest.start()
    try:
        assert isinstance(await producer.send(published("sprint-2025", SEASON)), Accepted)
        reply = await producer.send(event(CALENDAR, SessionCancelled(event="lausitzring", session="race-3"), "typo"))
        assert isinstance(reply, Rejected) and reply.code is RejectCode.INVALID_CALENDAR
    finally:
        await ingest.stop()
    kept = [item for _, item in await read_rejects(nc.jetstream(), CALENDAR.key) if isinstance(item, RejectedEvent)]
    assert [(k.event_id, k.reason) for k in kept] == [
        ("typo", "SessionCancelled refused: lausitzring.race-3 is not a session of the calendar")
    ]
    restarted = IngestService(nats_url)
    await restarted.start()
    try:  # the ledger read back from the log knows the calendar
        assert isinstance(await producer.send(event(CALENDAR, CANCEL, "cancel")), Accepted)
        assert isinstance(await producer.send(event(CALENDAR, CANCEL, "cancel-again")), Rejected)
    finally:
        await restarted.stop()


def test_a_calendar_too_large_for_its_read_model_is_refused() -> None:
    """The most a calendar may say (every name at its longest, in characters JSON escapes to six bytes) is
    refused at ingest once its read model could outgrow a KV value; the largest one admitted fits one, with
    every session's activity at its longest."""
    longest = "\x01" * 200
    session = SEASON.rounds[0].sessions[0]

    def season(rounds: int) -> CalendarPublished:
        sessions = [
            structs.replace(session, session=f"s{n}", name=longest, start=session.start + n, end=session.end + n)
            for n in range(64)
        ]
        template = structs.replace(SEASON.rounds[0], name=longest, circuit=longest, sessions=sessions)
        return CalendarPublished(name=longest, rounds=[structs.replace(template, event=f"r{i}") for i in range(rounds)])

    admitted = max(n for n in range(1, 101) if IngestLedger().check(published("big", season(n))) is None)
    refused = IngestLedger().check(published("big", season(admitted + 1)))
    assert refused is not None and "as a read model, more than 786,432" in refused.reason
    fold = CalendarFold()
    fold.apply(published("big", season(admitted)))
    full = SessionActivity(first_at=2**62, started_at=2**62, finished_at=2**62, last_at=2**62, red=False)
    fold.activity = {s.key: full for r in fold.read_model("big").rounds for s in r.sessions}
    assert len(encode_calendar(fold.read_model("big"))) <= 786_432 < 1_048_576
