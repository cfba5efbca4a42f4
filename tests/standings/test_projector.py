"""The standings projector against a real nats-server: live "as it stands", then the declared standings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from msgspec import structs
from nats.aio.client import Client

from schemas.events import (
    ChampionshipConfigured,
    Driver,
    EntryRegistered,
    Event,
    ResultsDeclared,
    ResultsStatus,
    SessionOpened,
    SessionRef,
    encode_event,
)
from schemas.ingest import Accepted, RejectCode, Rejected
from schemas.standings import decode_live_standings, decode_standings, encode_standings
from schemas.subjects import STANDINGS_BUCKET, live_key
from services.ingest.client import Producer
from services.ingest.service import IngestService
from services.simulator.endurance import RaceSpec, simulate
from services.standings.config import load_config
from services.standings.fold import ChampionshipFold, fold_championship, standings_until
from services.standings.projector import StandingsProjector
from services.standings.rulebook import Rulebook
from tests.live import running, wait_for_dead_letters
from tests.polling import until

CONFIG = Path(__file__).resolve().parents[2] / "services" / "standings" / "configs" / "gt-endurance.toml"
CHAMPIONSHIP = "gtes-2026"


async def value(nc: Client, key: str, ready, timeout: float = 30.0) -> bytes:  # type: ignore[no-untyped-def]
    kv = await nc.jetstream().key_value(STANDINGS_BUCKET)
    found = [b""]

    async def written() -> bool:
        try:
            found[0] = (await kv.get(key)).value or b""
            return bool(ready(found[0]))
        except Exception:
            return False

    await until(written, f"{key} to become ready", timeout)
    return found[0]


def configured(toml: str | None = None, source: str = CONFIG.name, event_id: str = "config-1") -> Event:
    """The championship's ``championship_configured`` event: the shipped GT endurance configuration unless told."""
    return Event(
        id=event_id, session=SessionRef.championship_of(CHAMPIONSHIP), producer="ops", at=1,
        body=ChampionshipConfigured(toml=CONFIG.read_text() if toml is None else toml, source=source),
    )  # fmt: skip


@pytest.fixture
async def projector(nats_url: str) -> AsyncIterator[StandingsProjector]:
    """Ingest and the standings projector running against the test's server, stopped in reverse order."""
    projector = StandingsProjector(nats_url)
    async with running(IngestService(nats_url), projector):
        yield projector


async def folded(projector: StandingsProjector, seq: int, timeout: float = 30.0) -> None:
    """Wait until the projector has folded the event stored at ``seq`` and written what its batch changed."""
    await until(lambda: projector.folded >= seq, lambda: f"seq {seq} folded (last folded: {projector.folded})", timeout)


async def test_a_race_opened_but_not_started_scores_nothing(nc: Client, projector: StandingsProjector) -> None:
    race = simulate(RaceSpec(seed=4, cars=10, duration_ms=15 * 60_000, retirements=0, championship=CHAMPIONSHIP))
    head = [e for e in race[:20] if isinstance(e.body, SessionOpened | EntryRegistered)]
    replies = await Producer(nc).send_all([configured(), *head])  # the grid is set; the start never comes
    assert head and all(isinstance(reply, Accepted) for reply in replies)
    await folded(projector, max(reply.seq for reply in replies if isinstance(reply, Accepted)))
    declared = decode_standings(await value(nc, CHAMPIONSHIP, lambda d: bool(d)))
    # every configured table is declared, and no round was put into the season: no row (least of all the entry
    # order's), no session reflected
    tables = len(Rulebook(load_config(CONFIG)).table_keys)
    assert len(declared.tables) == tables and not declared.live and not declared.sequences
    assert [table.rows for table in declared.tables] == [[]] * len(declared.tables)


@pytest.mark.usefixtures("projector")
async def test_live_then_declared_standings_equal_the_offline_fold(nc: Client) -> None:
    producer = Producer(nc)
    race = simulate(RaceSpec(seed=3, cars=12, duration_ms=20 * 60_000, retirements=1, championship=CHAMPIONSHIP))
    assert isinstance(await producer.send(configured()), Accepted)
    half = len(race) // 2
    replies = await producer.send_all(race[:half])

    live = decode_live_standings(await value(nc, live_key(CHAMPIONSHIP), lambda d: bool(d)))
    assert live.live and live.round == "monza" and live.tables

    declared = Event(
        id="results", session=race[0].session, producer="ops", at=race[-1].at + 1,
        body=ResultsDeclared(status=ResultsStatus.FINAL),
    )  # fmt: skip
    replies += await producer.send_all([*race[half:], declared])
    final = decode_standings(await value(nc, CHAMPIONSHIP, lambda d: b'"state":"final"' in d))
    assert not final.live

    stored = [(r.seq, e) for r, e in zip(replies, [*race, declared], strict=True)]  # type: ignore[union-attr]
    offline = fold_championship(stored, CHAMPIONSHIP, Rulebook(load_config(CONFIG))).standings()
    assert offline is not None and encode_standings(final) == encode_standings(offline)
    drivers = next(t for t in final.tables if t.kind.value == "drivers" and t.class_name == "Pro")
    assert drivers.rows[0].points == 25 and drivers.rows[0].rounds[0].state.value == "counted"


async def test_a_bad_configuration_is_refused_at_ingest_with_its_field(
    nc: Client, projector: StandingsProjector
) -> None:
    bad = configured(toml="v = 1\nchampionship = 3\n", source="broken.toml", event_id="config-bad")
    reply = await Producer(nc).send(bad)
    assert isinstance(reply, Rejected) and reply.code is RejectCode.INVALID_CONFIG
    assert reply.reason.startswith("broken.toml: $.championship: Expected `str`, got `int`")
    await until(lambda: projector.ready, "the projector to be ready", 10)
    assert projector.ready


async def test_a_configuration_the_engine_fails_on_is_a_dead_letter_and_the_projector_goes_on(
    nc: Client, projector: StandingsProjector
) -> None:
    """A points scale with ``inf`` made the engine raise ``OverflowError``, which only ``ConfigError``/``ValueError``
    handlers missed: the standings task died silently and readiness stayed green. Ingest now refuses such a file;
    one already in a log (written before) is a dead letter, and the projector goes on."""
    toml = CONFIG.read_text().replace("three-hours = [25,", "three-hours = [inf,")
    refused = await Producer(nc).send(configured(toml=toml, source="inf.toml", event_id="config-inf"))
    assert isinstance(refused, Rejected) and refused.code is RejectCode.INVALID_CONFIG
    assert "inf.toml: $.scales.three-hours[0]: inf is not a number of points" in refused.reason
    poison = configured(toml=toml, source="inf.toml", event_id="config-inf-old")
    await nc.jetstream().publish(f"chequered.events.{poison.session.key}", encode_event(poison))
    letters = await wait_for_dead_letters(nc, "standings", 1)
    assert "OverflowError" in letters[0].reason or "not a number of points" in letters[0].reason
    good = await Producer(nc).send(configured(event_id="config-good"))
    assert isinstance(good, Accepted)
    await until(lambda: projector.folded >= good.seq, f"seq {good.seq} folded", 10)
    assert projector.folded >= good.seq and projector.ready


@pytest.mark.usefixtures("projector")
async def test_the_gateway_serves_live_and_declared_standings(nats_url: str, nc: Client) -> None:
    import httpx

    from services.gateway.server import GatewayService
    from services.gateway.standings import OPENAPI, ROUTES

    gateway = GatewayService(nats_url, ["t0ken"], port=0, standings=ROUTES, standings_openapi=OPENAPI)
    await gateway.start()  # after ingest and the projector (the fixture's), stopped before them
    try:
        producer = Producer(nc)
        race = simulate(RaceSpec(seed=4, cars=10, duration_ms=15 * 60_000, retirements=0, championship=CHAMPIONSHIP))
        await producer.send_all([configured(), *race[: len(race) // 2]])
        await value(nc, live_key(CHAMPIONSHIP), lambda d: bool(d))
        async with httpx.AsyncClient(base_url=gateway.url, headers={"Authorization": "Bearer t0ken"}) as client:
            page = (await client.get("/api/standings/live", params={"session": race[0].session.key})).json()
            assert page["championship"] == CHAMPIONSHIP and page["rows"][0]["position"] == 1
            assert (await client.get(f"/api/standings/{CHAMPIONSHIP}/live")).status_code == 200
            declared = (await client.get(f"/api/standings/{CHAMPIONSHIP}")).json()  # nothing declared yet: all zero
            assert {row["points"] for table in declared["tables"] for row in table["rows"]} <= {0}
            assert (await client.get("/api/standings/live", params={"session": "x"})).status_code == 400
            assert (
                await httpx.AsyncClient(base_url=gateway.url).get(f"/api/standings/{CHAMPIONSHIP}")
            ).status_code == 401
            document = (await client.get("/api/openapi.json")).json()
            assert (
                "/api/standings/{championship}" in document["paths"]
                and "Standings" in document["components"]["schemas"]
            )
    finally:
        await gateway.stop()


def test_standings_from_the_log_apply_its_configuration_and_decisions_in_force() -> None:
    from schemas.events import AdjustmentKind, DecisionWithdrawn, PointsAdjusted, TableKind

    points = SessionRef.championship_of(CHAMPIONSHIP)
    race = simulate(RaceSpec(seed=5, cars=8, duration_ms=10 * 60_000, retirements=0, championship=CHAMPIONSHIP))
    book = Rulebook(load_config(CONFIG))
    pairs = list(enumerate([configured(source="", event_id="c"), *race], start=1))
    plain = standings_until(pairs, CHAMPIONSHIP)
    assert plain is not None and encode_standings(plain) == encode_standings(
        fold_championship(pairs[1:], CHAMPIONSHIP, book).standings()  # type: ignore[arg-type]
    )
    leader = next(t for t in plain.tables if t.kind is TableKind.DRIVERS and t.class_name == "Pro").rows[0].competitor
    deduction = PointsAdjusted(
        decision="P1", kind=AdjustmentKind.DEDUCTION, table=TableKind.DRIVERS, competitor=leader, points=5
    )
    adjusted = [*pairs, (len(pairs) + 1, Event(id="d", session=points, producer="ops", at=2, body=deduction))]
    penalised = standings_until(adjusted, CHAMPIONSHIP)
    assert penalised is not None and encode_standings(penalised) != encode_standings(plain)
    assert encode_standings(standings_until(adjusted, CHAMPIONSHIP, seq=len(pairs))) == encode_standings(plain)  # type: ignore[arg-type]
    withdrawn = Event(id="w", session=points, producer="ops", at=3, body=DecisionWithdrawn(decision="P1"))
    restored = standings_until([*adjusted, (len(adjusted) + 1, withdrawn)], CHAMPIONSHIP)
    assert restored is not None and encode_standings(restored) == encode_standings(plain)
    assert standings_until(list(enumerate(race, start=1)), CHAMPIONSHIP) is None


def test_the_fold_keeps_the_crews_as_registered_and_replaces_them_on_a_registration() -> None:
    race = simulate(RaceSpec(seed=6, cars=6, duration_ms=5 * 60_000, retirements=0, championship=CHAMPIONSHIP))
    first = next(e for e in race if isinstance(e.body, EntryRegistered))
    assert isinstance(first.body, EntryRegistered)
    again = structs.replace(first, id="again", body=structs.replace(first.body, crew=[Driver(name="Zed")]))
    events = [*race[: len(race) // 2], again, *race[len(race) // 2 :]]
    fold, held = ChampionshipFold(CHAMPIONSHIP), []
    for seq, event in enumerate(events, start=1):
        fold.apply(seq, event)
        held.append(fold.rounds["monza"].crews)
    registered = [e.body for e in race if isinstance(e.body, EntryRegistered)]
    assert held[-1] == {body.number: [d.name for d in body.crew] for body in registered} | {first.body.number: ["Zed"]}
    before, after = held[len(race) // 2 - 1], held[len(race) // 2]  # a registration replaces the mapping
    assert after[first.body.number] == ["Zed"] != before[first.body.number] and held[-1] is after
