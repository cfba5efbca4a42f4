"""Running services: where the broker comes from, and start/stop around a signal."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Protocol

from rich.console import Console

from services.broker.connection import configured_url
from services.broker.embedded import EmbeddedNats, free_port

DEFAULT_HOME = Path(".chequered")


class Service(Protocol):
    @property
    def ready(self) -> bool: ...

    async def start(self) -> None: ...
    async def stop(self) -> None: ...


@contextlib.contextmanager
def broker_url(explicit: str | None, store_dir: Path, console: Console, port: int | None = None) -> Iterator[str]:
    """The configured NATS URL, or an embedded ``nats-server`` for the duration of the block."""
    url = configured_url(explicit)
    if url is not None:
        yield url
        return
    server = EmbeddedNats(store_dir, port or free_port())
    with server:
        console.print(f"[dim]embedded nats-server on {server.url}, JetStream store {store_dir}[/dim]")
        yield server.url
    console.print("[dim]embedded nats-server stopped[/dim]")


async def run_until_signal(services: Sequence[Service], started: Callable[[], None] | None = None) -> None:
    """Start the services in order (then call ``started``), wait for SIGINT/SIGTERM, stop them in reverse."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    running: list[Service] = []
    try:
        for service in services:
            await service.start()
            running.append(service)
        if started is not None:
            started()
        await stop.wait()
    finally:
        for service in reversed(running):
            await service.stop()
