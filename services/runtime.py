"""Running services: where the broker comes from, and start/stop around a signal."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from rich.console import Console

from services.broker.connection import configured_url
from services.broker.embedded import EmbeddedNats
from services.home import HomeInUse, HomeLock, Serving
from services.tasks import cancel

DEFAULT_HOME = Path(".chequered")
ANNOUNCE_WAIT_S = 10.0
"""How long a command waits for the process holding the home to say where its broker listens (it is starting)."""
STOP_GRACE_S = 3.0
"""How long the services of a process have, together, to stop cleanly after Ctrl-C or SIGTERM."""

log = logging.getLogger("chequered.serve")


class Service(Protocol):
    role: str
    """Its name in ``chequered serve ROLE`` and in readiness."""

    @property
    def ready(self) -> bool: ...

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    def flushed(self) -> str:
        """What it made durable, for the last line of a stopped process."""
        ...


@dataclass
class Broker:
    """The broker a command uses: a URL, and when this process runs it, the server and the home it holds."""

    url: str
    server: EmbeddedNats | None = None
    lock: HomeLock | None = None


@contextlib.contextmanager
def home_broker(
    explicit: str | None,
    home: Path,
    console: Console,
    *,
    command: str,
    port: int = 0,
    store: Path | None = None,
    exclusive: bool = False,
) -> Iterator[Broker]:
    """The configured NATS URL; else the broker already serving this home (``exclusive``: refused); else an
    embedded ``nats-server`` on ``store`` (default ``<home>/nats``), this process holding the home, for the
    duration of the block."""
    url = configured_url(explicit)
    if url is not None:
        yield Broker(url)
        return
    lock = HomeLock(home)
    deadline = time.monotonic() + ANNOUNCE_WAIT_S
    while not lock.claim():
        serving = lock.announced()
        if serving is not None and exclusive:
            raise HomeInUse(
                f"chequered {serving.command} is already running at {serving.nats} (process {serving.pid}) on "
                f"{home}: stop it first, or give this one another --home"
            )
        if serving is not None:
            notice = f"[dim]chequered {serving.command} is running at {serving.nats}; using it[/dim]"
            console.print(notice, soft_wrap=True)
            yield Broker(serving.nats)
            return
        if time.monotonic() > deadline:
            raise HomeInUse(
                f"the store {home} is locked by process {lock.holder_pid() or '?'}, which has not said where its "
                "broker listens: stop it, or use another --home"
            )
        time.sleep(0.05)
    try:
        store = store or home / "nats"
        with EmbeddedNats(store, port) as server:
            lock.announce(Serving(pid=os.getpid(), command=command, nats=server.url))
            console.print(f"[dim]embedded nats-server on {server.url}, JetStream store {store}[/dim]", soft_wrap=True)
            yield Broker(server.url, server, lock)
        console.print("[dim]embedded nats-server stopped[/dim]")
    finally:
        lock.release()


@contextlib.contextmanager
def broker_url(
    explicit: str | None, home: Path, console: Console, *, command: str, store: Path | None = None
) -> Iterator[str]:
    """The URL of :func:`home_broker` (shared with a ``chequered serve`` running on the same home)."""
    with home_broker(explicit, home, console, command=command, store=store) as broker:
        yield broker.url


async def run_until_signal(services: Sequence[Service], started: Callable[[], None] | None = None) -> None:
    """Start the services in order (then call ``started``), wait for SIGINT/SIGTERM, stop them in reverse.

    Stopping is bounded: the services have :data:`STOP_GRACE_S` seconds together (a projector retrying a
    write to a broker that is gone does not hold the process), and a second signal stops waiting at once.
    What is left is cancelled when the event loop closes; every service resumes from the log when it starts
    again, so nothing acknowledged is lost."""
    signalled = asyncio.Event()
    on_signals(signalled)
    running: list[Service] = []
    try:
        for service in services:
            if not await unless_signalled(service.start(), signalled):
                break
            running.append(service)
        else:
            if started is not None:
                started()
            await signalled.wait()
    finally:
        signalled.clear()
        await stop_services(running, signalled)


def on_signals(event: asyncio.Event) -> None:
    """SIGINT and SIGTERM set ``event`` (instead of raising in the middle of whatever runs)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, event.set)


async def stop_services(services: Sequence[Service], signalled: asyncio.Event) -> None:
    """Stop the services in reverse order within :data:`STOP_GRACE_S` together; a (further) signal stops
    waiting: what is left is cancelled."""
    deadline = time.monotonic() + STOP_GRACE_S
    for service in reversed(services):
        if not await unless_signalled(service.stop(), signalled, deadline - time.monotonic()):
            log.warning("%s did not stop in time: cancelled", type(service).__name__)


async def unless_signalled(work: Awaitable[Any], signalled: asyncio.Event, timeout: float | None = None) -> bool:
    """Run ``work`` (a coroutine or a task) to its end (True), or cancel it when a signal or the timeout comes
    first (False)."""
    task = asyncio.ensure_future(work)
    waiter = asyncio.ensure_future(signalled.wait())
    try:
        await asyncio.wait(
            {task, waiter}, timeout=None if timeout is None else max(0.0, timeout), return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        waiter.cancel()
    if task.done():
        task.result()  # raises what made it fail
        return True
    await cancel(task)
    return False
