"""A running stack for the calendar: real nats-server, ingest, the standings projector (which folds the
calendar) and the gateway on a free port."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from services.gateway.server import GatewayService
from services.ingest.service import IngestService
from services.standings.projector import StandingsProjector
from tests.gateway.clients import TOKEN
from tests.live import running


@dataclass
class CalendarStack:
    ingest: IngestService
    projector: StandingsProjector
    gateway: GatewayService


@pytest.fixture
async def calendar_stack(nats_url: str) -> AsyncIterator[CalendarStack]:
    stack = CalendarStack(
        IngestService(nats_url), StandingsProjector(nats_url), GatewayService(nats_url, {TOKEN}, port=0)
    )
    async with running(stack.ingest, stack.projector, stack.gateway):
        yield stack


@pytest.fixture
async def calendar_api(calendar_stack: CalendarStack) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=calendar_stack.gateway.url, headers=headers, timeout=10.0) as client:
        yield client
