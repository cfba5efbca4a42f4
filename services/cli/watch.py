"""Following read models in KV from the terminal: the live tower, and waiting for declared standings."""

from __future__ import annotations

import asyncio
import contextlib

from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.errors import BucketNotFoundError, KeyNotFoundError, NotFoundError
from nats.js.kv import KeyValue
from rich.live import Live
from rich.text import Text

from schemas.events import SessionRef
from schemas.results import Classification, decode_classification
from schemas.standings import Standings, decode_standings
from schemas.subjects import events_subject
from services.broker.connection import connect
from services.broker.topology import CLASSIFICATION_BUCKET, EVENTS_STREAM, STANDINGS_BUCKET, current_bucket
from services.classification.tower import render_tower
from services.cli.bootstrap import console

BUCKET_POLL_S = 1.0
"""How often the tower looks again for a classification bucket that does not exist yet."""
ROWS_AROUND = 8
"""Terminal lines the live tower keeps for its title, header and caption."""


async def _classifications(js: JetStreamContext) -> KeyValue:
    """The bucket readers use now (a rebuild moves it); ``BucketNotFoundError`` before any projector ran."""
    return await js.key_value(await current_bucket(js, "classification", CLASSIFICATION_BUCKET))


async def read_classification(js: JetStreamContext, session: SessionRef) -> Classification | None:
    """The session's classification as served now; None when there is none yet."""
    try:
        entry = await (await _classifications(js)).get(session.key)
    except (BucketNotFoundError, KeyNotFoundError):
        return None
    return decode_classification(entry.value) if entry.value else None


async def waiting_for(js: JetStreamContext, session: SessionRef) -> str:
    """What a session with no classification yet is waiting for: its first event, or a projector."""
    try:
        last = await js.get_last_msg(EVENTS_STREAM, events_subject(session))
    except (NotFoundError, NatsError):
        return f"waiting for {session.key} (no events yet)"
    return (
        f"waiting for the classification of {session.key}: its events are stored (up to seq {last.seq}) but no "
        "projector has classified them yet; is chequered serve running?"
    )


async def watch_tower(
    url: str, session: SessionRef, until_finished: bool, caption: str | None = None
) -> Classification | None:
    """Show the session's classification from KV as it changes, fitted to the terminal (what it waits for until
    there is one); return the last one seen."""
    nc = await connect(url, "chequered-tower")
    last: Classification | None = None
    try:
        js = nc.jetstream()
        with Live(console=console, refresh_per_second=8, vertical_overflow="visible") as live:
            live.update(Text(await waiting_for(js, session)))
            kv = None
            while kv is None:
                try:
                    kv = await _classifications(js)
                except BucketNotFoundError:
                    await asyncio.sleep(BUCKET_POLL_S)
            watcher = await kv.watch(session.key)
            while True:
                try:
                    entry = await watcher.updates(timeout=1.0)  # type: ignore[no-untyped-call]
                except TimeoutError:
                    continue
                if entry is None or not entry.value:
                    continue
                last = decode_classification(entry.value)
                rows = console.height - ROWS_AROUND if console.height > 2 * ROWS_AROUND else None
                live.update(render_tower(last, width=console.width, limit=rows, caption=caption))
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
