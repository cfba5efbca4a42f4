"""What every service shell shares: a FastStream broker, its JetStream context, the topology, and the truth about
its health (connected, and every long-running task still running)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from faststream.nats import NatsBroker
from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.js import JetStreamContext

from services.broker.connection import inbox_prefix, servers
from services.broker.topology import Topology, ensure_topology

log = logging.getLogger("chequered.service")


class NatsShell:
    def __init__(self, nats_url: str, topology: Topology | None = None) -> None:
        self.topology = topology or Topology()
        # per-message logs at DEBUG: a timing feed is too busy to log each event at INFO. Handlers take the raw
        # body and decode it themselves (ingest judges each event of a request in turn), so FastStream applies no
        # types: its dependency injection cost a one-event request about a tenth of ingest's CPU.
        self.broker = NatsBroker(
            servers(nats_url),
            apply_types=False,
            log_level=logging.DEBUG,
            max_reconnect_attempts=-1,
            reconnect_time_wait=1,
            inbox_prefix=inbox_prefix(nats_url),
        )
        self._connected = False
        self._essential: list[asyncio.Task[None]] = []
        self.stopping = asyncio.Event()
        """Set by ``stop()``: essential tasks that end from now on end on purpose."""

    @property
    def js(self) -> JetStreamContext:
        stream: JetStreamContext = self.broker.config.connection_state.stream
        return stream

    @property
    def nc(self) -> Client:
        return self.broker.connection

    @property
    def healthy(self) -> bool:
        """Connected to NATS now, and no essential task has ended: what readiness needs before anything else.
        A connection that is closed for good, or a task that died, makes the service unready for as long as it
        runs, so an orchestrator restarts it."""
        return self._connected and self.nc.is_connected and not any(task.done() for task in self._essential)

    def spawn(self, work: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        """Run ``work`` for the life of the service: if it ever ends, the service is no longer healthy."""
        task = asyncio.create_task(work, name=name)
        task.add_done_callback(self._report_end)
        self._essential.append(task)
        return task

    def _report_end(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or self.stopping.is_set():
            return
        error = task.exception()
        log.error("%s stopped (%r): the service reports not ready", task.get_name(), error, exc_info=error)

    async def disconnect(self) -> None:
        """Drain and close; a broker already gone (or a connection already closed) is not an error on the way out."""
        self._connected = False
        try:
            await self.broker.stop()
        except* NatsError as gone:  # FastStream groups its subscribers' errors
            log.debug("stopped with a connection already gone: %r", gone.exceptions)

    async def connect(self) -> None:
        """Connect and make sure the streams and buckets exist (refusing silent configuration changes)."""
        await self.broker.connect()
        self._connected = True
        await ensure_topology(self.js, self.topology)
