"""What every handler reaches through ``request.app.state.gateway``: the NATS connection and the hub."""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass, field

from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue
from starlette.requests import HTTPConnection

from schemas.results import RaceControlMessages
from services.gateway.held import HeldValues
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
    _buckets: dict[str, KeyValue] = field(default_factory=dict, repr=False)
    _held: dict[str, HeldValues] = field(default_factory=dict, repr=False)

    @property
    def js(self) -> JetStreamContext:
        if self._js is None:
            raise RuntimeError("the gateway is not connected to NATS (lifespan not started)")
        return self._js

    def connected(self, nc: Client) -> None:
        self.nc = nc
        self._js = nc.jetstream()
        self._buckets.clear()
        self._held.clear()

    def held(self, bucket: str) -> HeldValues:
        """The values of ``bucket`` as read a moment ago (:mod:`services.gateway.held`): what a crowd of pages
        asks for again and again."""
        if bucket not in self._held:
            self._held[bucket] = HeldValues(functools.partial(self._read, bucket))
        return self._held[bucket]

    async def _read(self, bucket: str, key: str) -> bytes | None:
        if bucket not in self._buckets:  # a look-up is a request to the broker (the stream's info): made once
            self._buckets[bucket] = await self.js.key_value(bucket)
        try:
            entry = await self._buckets[bucket].get(key)
        except KeyNotFoundError:
            return None
        return entry.value or None


def gateway_of(connection: HTTPConnection) -> GatewayState:
    state: GatewayState = connection.app.state.gateway
    return state
