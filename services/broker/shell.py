"""What every service shell shares: a FastStream broker, its JetStream context, the topology."""

from __future__ import annotations

import contextlib
import logging

from fast_depends.msgspec import MsgSpecSerializer
from faststream.nats import NatsBroker
from nats.errors import Error as NatsError
from nats.js import JetStreamContext

from services.broker.connection import servers
from services.broker.topology import Topology, ensure_topology


class NatsShell:
    def __init__(self, nats_url: str, topology: Topology | None = None) -> None:
        self.topology = topology or Topology()
        # per-message logs at DEBUG: a timing feed is too busy to log each event at INFO
        self.broker = NatsBroker(
            servers(nats_url),
            serializer=MsgSpecSerializer(),
            log_level=logging.DEBUG,
            max_reconnect_attempts=-1,
            reconnect_time_wait=1,
        )

    @property
    def js(self) -> JetStreamContext:
        stream: JetStreamContext = self.broker.config.connection_state.stream
        return stream

    async def disconnect(self) -> None:
        """Drain and close; a broker already gone is not an error on the way out."""
        with contextlib.suppress(NatsError):
            await self.broker.stop()

    async def connect(self) -> None:
        """Connect and make sure the streams and buckets exist (refusing silent configuration changes)."""
        await self.broker.connect()
        await ensure_topology(self.js, self.topology)
