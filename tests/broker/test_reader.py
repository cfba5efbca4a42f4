"""One way to read the log: a stored message that is no event of its subject is left out by every reader, and
dead-lettered once by the classification projector (services/broker/reader.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import msgspec
from nats.aio.client import Client

from schemas.events import Event, SessionRef, encode_event
from schemas.results import decode_classification
from services.broker.reader import read_events
from services.classification.fold import fold_log
from services.gateway.timetravel import classification_at
from services.ingest.service import IngestService
from services.ops.racelog import write_log
from services.ops.replay import stored_ids
from tests.commands import chequered, output
from tests.factory import SessionWriter, small_race
from tests.live import send


async def misfiled(nc: Client, where: SessionRef, event: Event) -> None:
    """Store ``event`` on the subject of another session, as nothing but a hand on the broker can."""
    await nc.jetstream().publish(f"chequered.events.{where.key}", encode_event(event))


async def test_every_reader_leaves_out_what_is_not_an_event_of_its_subject(nc: Client, ingest: IngestService) -> None:
    w = SessionWriter()
    stored = await send(nc, small_race(w, cars=2, laps=2))
    js = nc.jetstream()
    await js.publish(f"chequered.events.{w.session.key}", b"\x00 not an event")
    elsewhere = SessionWriter(SessionRef(w.session.championship, "event", "other"))
    await misfiled(nc, w.session, elsewhere.opened())
    stored += await send(nc, [w.lap("1", 3, 300_000)])

    assert await read_events(js, w.session.key) == stored
    assert await read_events(js, f"{w.session.championship}.>") == stored
    assert await stored_ids(js, w.session) == {event.msg_id for _, event in stored}
    whole = fold_log(stored).sessions[w.session.key].classification()
    assert await classification_at(js, w.session, seq=stored[-1][0], at=None) == whole


async def test_replay_resumes_a_session_that_holds_a_poison_message(
    nats_url: str, nc: Client, ingest: IngestService, tmp_path: Path
) -> None:
    """``chequered replay`` read the session's ids with a decoder of its own, which raised on a message that does not
    decode: a session with a poison message in it could not be replayed into again."""
    w = SessionWriter()
    race = small_race(w, cars=2, laps=3)
    await send(nc, race[:5])
    await nc.jetstream().publish(f"chequered.events.{w.session.key}", b"poison")
    write_log(race, tmp_path / "race.jsonl")

    done = await asyncio.to_thread(chequered, "replay", tmp_path / "race.jsonl", "--max", "--nats", nats_url)

    assert done.returncode == 0, output(done)
    assert "5 already stored" in done.stdout, output(done)
    assert [event for _, event in await read_events(nc.jetstream(), w.session.key)] == race


async def test_at_agrees_with_the_projector_on_an_event_stored_on_another_sessions_subject(
    nats_url: str, nc: Client, ingest: IngestService
) -> None:
    """``chequered at`` read a championship's log with its own decoder and kept an event of the session asked for
    that was stored on another session's subject; the projector refuses such an event, so ``at`` showed a lap the
    live classification never had."""
    w = SessionWriter()
    stored = await send(nc, small_race(w, cars=2, laps=2))
    neighbour = SessionRef(w.session.championship, "event", "neighbour")
    await misfiled(nc, neighbour, w.lap("1", 3, 300_000))
    stored += await send(nc, [w.lap("2", 3, 300_500)])

    done = await asyncio.to_thread(
        chequered, "at", w.session.key, "--seq", str(stored[-1][0]), "--format", "json", "--nats", nats_url
    )

    assert done.returncode == 0, output(done)
    shown = decode_classification(done.stdout.encode())
    whole = fold_log(stored).sessions[w.session.key].classification()
    assert msgspec.json.encode(shown) == msgspec.json.encode(whole)
