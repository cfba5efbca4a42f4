"""Running the gateway in-process: uvicorn served as an asyncio task, started and stopped like the other services."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import uvicorn
from starlette.routing import BaseRoute

from services.embedded_http import EmbeddedServer
from services.gateway.app import create_app
from services.gateway.guard import HEADER_TIMEOUT_S, MAX_CONNECTIONS, GuardedHttpTools, connection_cap
from services.gateway.hub import ClassificationHub
from services.gateway.state import GatewayState
from services.ports import GatewayStartFailed, address, listen

GRACE_S = 3
"""How long stopping waits for connections to end before cancelling them."""


class GatewayService:
    """``await start()`` serves the gateway on ``host:port`` (0: any free port, see :attr:`url`)."""

    role = "gateway"

    def __init__(
        self,
        nats_url: str,
        tokens: Iterable[str],
        *,
        host: str = "127.0.0.1",
        port: int = 8080,
        hub: ClassificationHub | None = None,
        standings: Sequence[BaseRoute] = (),
        standings_openapi: dict[str, Any] | None = None,
        uvicorn_options: Mapping[str, Any] | None = None,
        header_timeout: float = HEADER_TIMEOUT_S,
        max_connections: int = MAX_CONNECTIONS,
        listener: socket.socket | None = None,
    ) -> None:
        """``hub``, ``standings`` and ``standings_openapi``: see :func:`services.gateway.app.create_app`;
        ``uvicorn_options``: more ``uvicorn.Config`` arguments (TLS files, other protocol implementations);
        ``header_timeout`` and ``max_connections``: see :mod:`services.gateway.guard` (the cap is lowered to what
        the process's descriptor limit allows); ``listener``: serve on this listening socket (bound by a
        supervisor) instead of binding ``host:port``."""
        self.app = create_app(nats_url, tokens, hub=hub, standings=standings, standings_openapi=standings_openapi)
        self.host = host
        self.port = port
        self._options = dict(uvicorn_options or {})
        self._listener = listener
        self._http = GuardedHttpTools.limited(header_timeout, connection_cap(max_connections))
        self._server: EmbeddedServer | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def flushed(self) -> str:
        return "gateway connections closed"

    @property
    def ready(self) -> bool:
        """Serving, connected to NATS, following the bucket, and holding every classification it had at the start."""
        state = self.state
        serving = self._server is not None and self._server.started and self._task is not None and not self._task.done()
        connected = state.nc is not None and state.nc.is_connected
        return serving and connected and state.hub.following and state.hub.ready.is_set()

    @property
    def state(self) -> GatewayState:
        state: GatewayState = self.app.state.gateway
        return state

    async def start(self) -> None:
        """Serve; a port in use is a :class:`~services.ports.ListenError` before anything starts."""
        listener = self._listener or listen(self.host, self.port, "gateway", "--gateway-port")
        self.host, self.port = address(listener)
        options: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "log_level": "warning",
            "lifespan": "on",
            "timeout_graceful_shutdown": GRACE_S,
            # The push fast path writes frames to the connections of these two protocol implementations
            # (services.gateway.wire): httptools (with the connection limits of services.gateway.guard) and
            # websockets' sans-I/O protocol; deflate is per connection, so it would also rule out one frame for
            # every client, and costs more CPU than the bandwidth is worth on a broadcast network.
            "http": self._http,
            "ws": "websockets-sansio",
            "ws_per_message_deflate": False,
        }
        config = uvicorn.Config(self.app, **(options | self._options))
        self._server = server = EmbeddedServer(config)
        self._task = asyncio.create_task(self._serve(server, listener), name="gateway-http")
        while not server.started:
            if self._task.done():
                await self._task  # raises why it could not start
                raise GatewayStartFailed("the gateway stopped while starting")
            await asyncio.sleep(0.01)

    async def _serve(self, server: uvicorn.Server, listener: socket.socket) -> None:
        try:
            await server.serve(sockets=[listener])
        except SystemExit as exit_:  # uvicorn exits when the lifespan (NATS connection) fails
            raise GatewayStartFailed(f"the gateway could not start (exit {exit_.code}); see the log") from exit_

    async def stop(self) -> None:
        if self._server is None or self._task is None:
            return
        await self.state.hub.stop()  # ends every push feed, so uvicorn is not kept waiting by open streams
        await self.app.state.analysis.stop()  # and every analysis stream
        self._server.should_exit = True
        await self._task
