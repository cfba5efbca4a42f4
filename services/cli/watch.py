"""Following read models in KV from the terminal: the live tower, and waiting for declared standings."""

from __future__ import annotations

import asyncio
import contextlib

from nats.aio.client import Client
from nats.js.errors import KeyNotFoundError
from rich.live import Live

from schemas.events import SessionRef
from schemas.results import Classification, decode_classification
from schemas.standings import Standings, decode_standings
from services.broker.connection import connect
from services.broker.topology import CLASSIFICATION_BUCKET, STANDINGS_BUCKET
from services.classification.tower import render_tower
from services.cli.bootstrap import console


async def watch_tower(
    url: str, session: SessionRef, until_finished: bool, caption: str | None = None
) -> Classification | None:
    """Show the session's classification from KV as it changes (``caption`` under it); return the last one seen."""
    nc = await connect(url, "chequered-tower")
    last: Classification | None = None
    try:
        kv = await nc.jetstream().key_value(CLASSIFICATION_BUCKET)
        watcher = await kv.watch(session.key)
        with Live(console=console, refresh_per_second=8, vertical_overflow="visible") as live:
            while True:
                try:
                    entry = await watcher.updates(timeout=1.0)  # type: ignore[no-untyped-call]
                except TimeoutError:
                    continue
                if entry is None or not entry.value:
                    continue
                last = decode_classification(entry.value)
                limit = console.height - 6 if console.height > 12 else None
                tower = render_tower(last, limit=limit, width=console.width)
                tower.caption = caption
                live.update(tower)
                if until_finished and last.phase.value == "finished":
                    return last
    finally:
        await nc.close()


async def wait_for_standings(nc: Client, championship: str, timeout: float = 30.0) -> Standings | None:
    """The championship's declared standings once they are in KV (None after ``timeout``)."""
    kv = await nc.jetstream().key_value(STANDINGS_BUCKET)
    for _ in range(int(timeout / 0.1)):
        with contextlib.suppress(KeyNotFoundError):
            value = decode_standings((await kv.get(championship)).value or b"")
            if not value.live:
                return value
        await asyncio.sleep(0.1)
    return None
