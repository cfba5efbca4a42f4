"""The live page and the overlays in real headless Chromium: one stack and one browser per test module.

A module's tests share a nats-server, ingest, the classification and standings projectors, the gateway (with
the standings routes, as ``serve`` mounts them) and a Chromium; each test works in sessions of its own and
opens pages in a browser context of its own.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import pytest_asyncio
from nats.aio.client import Client

from services.broker.connection import connect
from services.broker.embedded import EmbeddedNats
from services.classification.projector import ClassificationProjector
from services.gateway.server import GatewayService
from services.gateway.standings import OPENAPI as STANDINGS_OPENAPI
from services.gateway.standings import ROUTES as STANDINGS_ROUTES
from services.ingest.service import IngestService
from services.standings.projector import StandingsProjector
from tests.browser import ARTIFACTS, chromium_or_skip, launched
from tests.gateway.clients import TOKEN


@dataclass
class PageStack:
    url: str
    gateway: GatewayService
    nc: Client
    api: httpx.AsyncClient

    def address(self, path: str = "/", **query: object) -> str:
        parameters = "&".join(f"{k}={v}" for k, v in {**query, "token": TOKEN}.items())
        return f"{self.url}{path}?{parameters}"


@pytest.fixture(scope="module")
def module_nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if url := os.environ.get("NATS_URL"):
        yield url
        return
    with EmbeddedNats(tmp_path_factory.mktemp("nats")) as server:
        yield server.url


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(module_nats: str) -> AsyncIterator[PageStack]:
    chromium_or_skip()
    services: list[Any] = [
        IngestService(module_nats),
        ClassificationProjector(module_nats),
        StandingsProjector(module_nats),
    ]
    gateway = GatewayService(
        module_nats, {TOKEN}, port=0, standings=STANDINGS_ROUTES, standings_openapi=STANDINGS_OPENAPI
    )
    for service in [*services, gateway]:
        await service.start()
    nc = await connect(module_nats, "page-tests")
    headers = {"authorization": f"Bearer {TOKEN}"}
    try:
        async with httpx.AsyncClient(base_url=gateway.url, headers=headers, timeout=10.0) as api:
            yield PageStack(gateway.url, gateway, nc, api)
    finally:
        await nc.close()
        for service in [gateway, *reversed(services)]:
            await service.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser(stack: PageStack) -> AsyncIterator[Any]:
    async with launched(chromium_or_skip()) as started:
        yield started


@pytest_asyncio.fixture(loop_scope="module")
async def context(browser: Any) -> AsyncIterator[Any]:
    """A browser context of the test's own (its own storage: pinned cars), 1920 x 1080 (a broadcast screen)."""
    opened = await browser.new_context(viewport={"width": 1920, "height": 1080})
    try:
        yield opened
    finally:
        await opened.close()


def screenshot_path(name: str) -> str:
    ARTIFACTS.mkdir(exist_ok=True)
    return str(ARTIFACTS / name)
