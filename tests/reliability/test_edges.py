"""An adversarial producer against real processes, while a race is sent.

Ingest, the classification projector and the standings projector run as
``chequered serve`` processes against a real nats-server. A points
configuration, a race and its results are sent by an honest producer while a
hostile or careless one sends, interleaved, a bounded mix of oversized,
malformed, hostile-reply and implausible messages (and one poison message is
written straight into the log). Then:

- every acknowledged event is stored exactly once, and nothing else ingest took;
- every service is still serving and ready (``/readyz``), and the served
  classification and standings equal the fold of the race alone;
- every refusal has its reason in ``chequered rejects`` (and the poison its
  dead letter).
"""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest
from nats.aio.client import Client

from schemas.events import (
    SCHEMA_VERSION,
    ChampionshipConfigured,
    Event,
    LapCompleted,
    PenaltyIssued,
    PenaltyKind,
    SessionRef,
    encode_event,
)
from schemas.ingest import MAX_BATCH_EVENTS, Accepted, IngestReply, RejectCode, Rejected, RejectedEvent
from schemas.results import encode_classification
from schemas.standings import encode_standings
from schemas.subjects import ingest_subject
from services.broker.connection import connect
from services.broker.embedded import EmbeddedNats, free_port
from services.broker.reader import read_events
from services.classification.fold import fold_log
from services.ingest.client import Producer
from services.ops.rejects import read_rejects
from services.standings.fold import standings_until
from tests.reliability.processes import ServiceProcess, run_chequered
from tests.reliability.test_crash import CONFIG, final_state, season

pytestmark = pytest.mark.slow

DAY = 24 * 3_600_000
_reply = msgspec.json.Decoder(IngestReply | list[IngestReply])


def readyz(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
            return int(response.status)
    except OSError:
        return 0


class Hostile:
    """Sends the mix, one message at a time, and keeps what it was told."""

    def __init__(self, nc: Client, race: list[Event]) -> None:
        self.nc = nc
        self.race = race
        self.session = race[0].session
        self.refusals: list[Rejected] = []
        """Every answer the hostile producer got: each must be a refusal."""
        self.unanswered: list[str] = []
        """Reply subjects it set that were not inboxes: refused, kept, never answered."""

    async def ask(self, data: bytes, session: SessionRef | None = None) -> None:
        subject = ingest_subject(session or self.session)
        answer = _reply.decode((await self.nc.request(subject, data, timeout=30)).data)
        for reply in answer if isinstance(answer, list) else [answer]:
            assert isinstance(reply, Rejected), (data[:200], reply)
            self.refusals.append(reply)

    async def hostile_reply(self, data: bytes, reply: str) -> None:
        await self.nc.publish(ingest_subject(self.session), data, reply=reply)
        self.unanswered.append(reply)

    def mix(self, stored_lap: Event) -> list[Callable[[], object]]:
        """The messages, in the order sent (each a callable returning an awaitable)."""
        opened = self.race[0]
        lap = stored_lap.body
        assert isinstance(lap, LapCompleted)
        huge_config = CONFIG.read_text() + "\n# " + "\U0001d538" * 30_000 + "\n"
        config_session = SessionRef.championship_of(self.session.championship)

        def event(body: object, at: int, id: str, session: SessionRef | None = None) -> bytes:
            return encode_event(Event(id=id, session=session or self.session, producer="hostile", at=at, body=body))  # type: ignore[arg-type]

        future = {**msgspec.to_builtins(opened), "id": "from-the-future", "v": SCHEMA_VERSION + 1}
        year_3000 = {**msgspec.to_builtins(stored_lap), "id": "year-3000", "at": 32_503_680_000_000}
        long_reason = PenaltyIssued(number=lap.number, decision="X1", kind=PenaltyKind.TIME, reason="r" * 600_000)
        inf_config = ChampionshipConfigured(toml=CONFIG.read_text().replace("[25,", "[inf,", 1), source="inf.toml")
        return [
            lambda: self.ask(b"\x00\xff not json at all"),
            lambda: self.ask(b'{"id": "x", "session": 3}'),
            lambda: self.ask(b"[1, 2"),
            lambda: self.ask(b"[" + b",".join([b"{}"] * (MAX_BATCH_EVENTS + 1)) + b"]"),
            lambda: self.ask(msgspec.json.encode(future)),
            lambda: self.ask(msgspec.json.encode(year_3000)),
            lambda: self.ask(event(long_reason, stored_lap.at, "long-reason")),
            lambda: self.ask(event(ChampionshipConfigured(toml=huge_config), opened.at, "huge", config_session),
                             config_session),
            lambda: self.ask(event(inf_config, opened.at, "inf-config", config_session), config_session),
            lambda: self.ask(event(LapCompleted(number=lap.number, lap=10_000, lap_time_ms=1), opened.at, "backwards")),
            lambda: self.ask(event(LapCompleted(number=lap.number, lap=10_001, lap_time_ms=1),
                                   stored_lap.at + 3 * DAY, "days-ahead")),
            lambda: self.ask(event(LapCompleted(number="999", lap=1, lap_time_ms=1), stored_lap.at, "no-such-car")),
            lambda: self.ask(encode_event(msgspec.structs.replace(stored_lap, at=stored_lap.at + 1))),
            lambda: self.ask(encode_event(opened), SessionRef("elsewhere", "event", "race")),
            lambda: self.hostile_reply(encode_event(stored_lap), f"chequered.events.{self.session.key}"),
            lambda: self.hostile_reply(b"[]", "$KV.chequered_read_models.classification"),
            lambda: self.hostile_reply(encode_event(opened), "$KV.chequered_standings.gtes-2026"),
        ]  # fmt: skip


async def test_a_hostile_producer_during_a_race(tmp_path: Path) -> None:
    events = season()
    ports = {role: free_port() for role in ("ingest", "classification", "standings")}
    with EmbeddedNats(tmp_path / "nats") as server:
        processes = [
            ServiceProcess(role, server.url, tmp_path, "--ops-port", str(port)).start() for role, port in ports.items()
        ]
        honest, hostile_nc = await connect(server.url, "honest"), await connect(server.url, "hostile")
        try:
            replies: list[tuple[Event, IngestReply]] = []
            laps_stored = asyncio.Event()

            def count(event: Event, reply: IngestReply) -> None:
                replies.append((event, reply))
                if isinstance(event.body, LapCompleted) and isinstance(reply, Accepted):
                    laps_stored.set()

            async def race() -> None:
                await Producer(honest, window=25, timeout=5, attempts=60).send_all(events, count)

            async def attack() -> Hostile:
                await laps_stored.wait()
                assert len(replies) < len(events)  # the race is still being sent
                stored_lap = next(e for e, r in replies if isinstance(e.body, LapCompleted) and isinstance(r, Accepted))
                hostile = Hostile(hostile_nc, events[1:-1])
                for send in hostile.mix(stored_lap):
                    await send()  # type: ignore[misc]
                await hostile_nc.jetstream().publish(f"chequered.events.{hostile.session.key}", b"poison")
                return hostile

            _, hostile = await asyncio.gather(race(), attack())

            # every acknowledged event is stored exactly once, and nothing else ingest took
            assert all(isinstance(reply, Accepted) and not reply.duplicate for _, reply in replies)
            stored = await read_events(honest.jetstream(), f"{events[1].session.championship}.>")  # no poison
            assert [e.id for _, e in stored] == [e.id for e in events]
            assert [(seq, e.id) for seq, e in stored] == [(r.seq, e.id) for e, r in replies]  # type: ignore[union-attr]

            # every service still serves, ready, and the race is classified and scored as if nothing happened
            served, _ = await final_state(server.url, events)
            key, championship = events[-1].session.key, events[-1].session.championship
            standings = standings_until(stored, championship)
            assert standings is not None
            classification = fold_log(stored).sessions[key].classification()
            assert served == (encode_classification(classification), encode_standings(standings))
            for role, port in ports.items():
                assert readyz(port) == 200, role
            late = await Producer(honest).send(msgspec.structs.replace(events[-1], id="after-the-attack"))
            assert isinstance(late, Accepted)

            # every refusal has its reason in chequered rejects
            codes = {r.code for r in hostile.refusals}
            assert {RejectCode.MALFORMED, RejectCode.TOO_LARGE, RejectCode.UNSUPPORTED_VERSION} <= codes
            assert {RejectCode.INVALID_CONFIG, RejectCode.IMPLAUSIBLE, RejectCode.CONFLICT} <= codes
            assert {RejectCode.UNKNOWN_CAR, RejectCode.WRONG_SUBJECT} <= codes
            kept = [r for _, r in await read_rejects(honest.jetstream()) if isinstance(r, RejectedEvent)]
            assert sorted((r.code, r.reason) for r in kept if r.code is not RejectCode.REPLY_NOT_INBOX) == sorted(
                (r.code, r.reason) for r in hostile.refusals
            )
            not_inboxes = [r for r in kept if r.code is RejectCode.REPLY_NOT_INBOX]
            assert [next(s for s in hostile.unanswered if s in r.reason) for r in not_inboxes] == hostile.unanswered
            listed = await run_chequered("rejects", "--nats", server.url, "--limit", "100", env={"COLUMNS": "2000"})
            assert listed.returncode == 0, listed.stderr
            assert f"rejections and dead letters ({len(kept) + 1}," in listed.stdout
            for code in codes | {RejectCode.REPLY_NOT_INBOX}:
                assert code.value in listed.stdout
            assert "undecodable event" in listed.stdout  # the poison's dead letter
        finally:
            await honest.close()
            await hostile_nc.close()
            for process in processes:
                process.stop()
