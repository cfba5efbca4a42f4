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
from tests.live import running

ASGI_ONLY = {"http": "h11", "ws": "wsproto"}
"""uvicorn protocol implementations whose connections the hub cannot write to: every push client goes
through ASGI ``send`` (what the gateway does under any other server)."""


@pytest.fixture
async def stack(nats_url: str, request: pytest.FixtureRequest) -> AsyncIterator[Stack]:
    """The stack; parametrized indirectly with ``"asgi"``, a gateway that serves push through ASGI only."""
    ingest = IngestService(nats_url)
    projector = ClassificationProjector(nats_url)
    options = ASGI_ONLY if getattr(request, "param", "direct") == "asgi" else None
    gateway = GatewayService(nats_url, {TOKEN}, port=0, uvicorn_options=options)
    async with running(ingest, projector, gateway):
        yield Stack(ingest, projector, gateway)


@pytest.fixture
async def api(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the gateway carrying a valid read token."""
    headers = {"authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=stack.gateway.url, headers=headers, timeout=10.0) as client:
        yield client
