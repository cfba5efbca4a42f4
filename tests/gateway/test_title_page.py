"""The live page's championship panel shows who can still win, in real headless Chromium, during a finale: the
contenders as it stands lap by lap, then the champion once the results are declared; and the REST endpoint."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from msgspec import structs
from nats.aio.client import Client

from schemas.events import ChampionshipConfigured, Event, LapCompleted, SessionRef
from services.classification.projector import ClassificationProjector
from services.gateway.server import GatewayService
from services.gateway.standings import OPENAPI, ROUTES
from services.ingest.service import IngestService
from services.standings.projector import StandingsProjector
from tests.browser import chromium_or_skip, launched
from tests.gateway.clients import TOKEN
from tests.live import running, send
from tests.standings.season import CHAMPIONSHIP, Session
from tests.standings.test_title import FINALE, GRID, OPENING

LEADERS = (
    "() => [...document.querySelectorAll('#standings .contender')].map(r => [r.dataset.contender, r.dataset.leads])"
)


@pytest.fixture
async def gateway(nats_url: str) -> AsyncIterator[GatewayService]:
    """Ingest, both projectors and a gateway serving standings, on the test's server."""
    gateway = GatewayService(nats_url, {TOKEN}, port=0, standings=ROUTES, standings_openapi=OPENAPI)
    projectors = ClassificationProjector(nats_url), StandingsProjector(nats_url)
    async with running(IngestService(nats_url), *projectors, gateway):
        yield gateway


def own(events: list[Event], championship: str) -> list[Event]:
    """The events in a championship of this test's own (the server may be shared)."""
    return [structs.replace(e, session=structs.replace(e.session, championship=championship)) for e in events]


@pytest.mark.browser
async def test_the_panel_shows_who_can_still_win_lap_by_lap(gateway: GatewayService, nc: Client) -> None:
    executable = chromium_or_skip()

    name = f"t{uuid.uuid4().hex[:8]}"
    config = Event(
        id="config",
        session=SessionRef.championship_of(name),
        producer="ops",
        at=1,
        body=ChampionshipConfigured(toml=FINALE.replace(f'"{CHAMPIONSHIP}"', f'"{name}"'), source="finale.toml"),
    )
    finale = own(Session("r2", GRID, ["3", "5", "1", "2", "4", "72", "71", "73"], retire={"3": 6}).events(), name)
    retired = next(i for i, e in enumerate(finale) if isinstance(e.body, LapCompleted) and e.body.lap == 7)
    await send(nc, [config, *own(OPENING.events(), name), *finale[:retired]])
    key = finale[0].session.key

    async with launched(executable) as browser:
        page = await browser.new_page(viewport={"width": 1600, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        await page.goto(f"{gateway.url}/?session={key}&token={TOKEN}")
        # #3 leads the finale: as it stands, their crew would be champion
        await page.wait_for_selector('#standings .contender[data-contender="P3a / P3b"][data-leads="true"]')
        assert [c for c, _ in await page.evaluate(LEADERS)] == ["P3a / P3b", "P1a / P1b", "P2a / P2b", "P4a / P4b"]
        assert "wins the title if 1st" in (await page.text_content("#standings .title-fight") or "")
        await send(nc, finale[retired:])  # #3 retires; #1 second, champion once the results are declared
        await page.wait_for_selector('#standings .title-fight[data-decided="true"]', timeout=30_000)
        assert await page.evaluate(LEADERS) == [["P1a / P1b", "true"]]
        assert "Champion" in (await page.text_content("#standings .title-fight h3") or "")
        assert errors == []

    async with httpx.AsyncClient(base_url=gateway.url, headers={"authorization": f"Bearer {TOKEN}"}) as client:
        fights = (await client.get(f"/api/standings/{name}/contenders")).json()
        pro = next(t for t in fights["tables"] if t["class_name"] == "Pro" and t["kind"] == "drivers")
        assert pro["title"]["decided"] and pro["title"]["contenders"][0]["competitors"] == ["P1a", "P1b"]
        assert (await client.get("/api/standings/nobody/contenders")).status_code == 404
