"""What every handler reaches through ``request.app.state.gateway``: the NATS connection and the hub."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from nats.aio.client import Client
from nats.js import JetStreamContext
from starlette.requests import HTTPConnection

from schemas.results import RaceControlMessages
from services.gateway.hub import ClassificationHub

TIME_TRAVEL_AT_ONCE = 2


@dataclass
class GatewayState:
    nats_url: str
    hub: ClassificationHub
    nc: Client | None = None
    time_travel: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(TIME_TRAVEL_AT_ONCE))
    """Time travel reads and folds a whole session: a few at a time, so live clients stay served."""
    messages: dict[str, RaceControlMessages] = field(default_factory=dict)
    """Each session's race-control messages as last folded from the log, kept up to date from the live values
    (see :func:`services.gateway.rest.messages`): a page loading does not fold the session again."""
    _js: JetStreamContext | None = field(default=None, repr=False)

    @property
    def js(self) -> JetStreamContext:
        if self._js is None:
            raise RuntimeError("the gateway is not connected to NATS (lifespan not started)")
        return self._js

    def connected(self, nc: Client) -> None:
        self.nc = nc
        self._js = nc.jetstream()


def gateway_of(connection: HTTPConnection) -> GatewayState:
    state: GatewayState = connection.app.state.gateway
    return state
