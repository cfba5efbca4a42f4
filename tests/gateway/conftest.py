"""A running stack for the gateway tests: real nats-server, ingest, projector, gateway on a free port."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from services.classification.projector import ClassificationProjector
from services.gateway.server import GatewayService
from services.ingest.service import IngestService
from tests.gateway.clients import TOKEN
from tests.gateway.stack import Stack


@pytest.fixture
async def stack(nats_url: str) -> AsyncIterator[Stack]:
    ingest = IngestService(nats_url)
    projector = ClassificationProjector(nats_url)
    gateway = GatewayService(nats_url, {TOKEN}, port=0)
    await ingest.start()
    await projector.start()
    await gateway.start()
    try:
        yield Stack(ingest, projector, gateway)
    finally:
        await gateway.stop()
        await projector.stop()
        await ingest.stop()


@pytest.fixture
async def api(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the gateway carrying a valid read token."""
    headers = {"authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=stack.gateway.url, headers=headers, timeout=10.0) as client:
        yield client
