"""Following read models in KV from the terminal: the live tower (with a championship's title fight, as it stands),
and waiting for declared standings."""

from __future__ import annotations

import asyncio
import contextlib

from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.errors import BucketNotFoundError, KeyNotFoundError, NotFoundError
from nats.js.kv import KeyValue
from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from schemas.events import SessionRef
from schemas.results import Classification, decode_classification
from schemas.standings import Standings, decode_live_standings, decode_standings
from schemas.subjects import (
    CLASSIFICATION_BUCKET,
    CLASSIFICATION_PROJECTION,
    STANDINGS_BUCKET,
    live_key,
)
from services.broker.connection import connect
from services.broker.reader import last_event
from services.broker.topology import current_bucket
from services.classification.tower import render_tower
from services.cli.bootstrap import console
from services.standings.render import render_title

BUCKET_POLL_S = 1.0
"""How often the tower looks again for a classification bucket that does not exist yet."""
ROWS_AROUND = 8
"""Terminal lines the live tower keeps for its title, header and caption."""


async def _classifications(js: JetStreamContext) -> KeyValue:
    """The bucket readers use now (a rebuild moves it); ``BucketNotFoundError`` before any projector ran."""
    return await js.key_value(await current_bucket(js, CLASSIFICATION_PROJECTION, CLASSIFICATION_BUCKET))


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
        last = await last_event(js, session)
    except (NotFoundError, NatsError):
        return f"waiting for {session.key} (no events yet)"
    return (
        f"waiting for the classification of {session.key}: its events are stored (up to seq {last.seq}) but no "
        "projector has classified them yet; is chequered serve running?"
    )


async def watch_tower(
    url: str, session: SessionRef, until_finished: bool, caption: str | None = None, title: bool = False
) -> Classification | None:
    """Show the session's classification from KV as it changes, fitted to the terminal (what it waits for until
    there is one; ``title``: with its championship's first title fight still open, as it stands); return the last
    one seen."""
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
                fight = await _title_fight(js, session.championship) if title else None
                around = ROWS_AROUND + (len(fight.rows) + ROWS_AROUND if fight is not None else 0)
                rows = console.height - around if console.height > 2 * around else None
                tower = render_tower(last, width=console.width, limit=rows, caption=caption)
                live.update(Group(tower, fight) if fight is not None else tower)
                if until_finished and last.phase.value == "finished":
                    return last
    finally:
        await nc.close()


async def _title_fight(js: JetStreamContext, championship: str) -> Table | None:
    """The first table of the championship whose title is still open (else the first), as it stands."""
    with contextlib.suppress(KeyNotFoundError, BucketNotFoundError):
        kv = await js.key_value(STANDINGS_BUCKET)
        value = decode_live_standings((await kv.get(live_key(championship))).value or b"")
        fought = [t for t in value.tables if t.title is not None and t.title.contenders]
        still_open = [t for t in fought if t.title is not None and not t.title.decided]
        return render_title(value, (still_open or fought)[0]) if fought else None
    return None


async def wait_for_standings(
    nc: Client, championship: str, timeout: float = 30.0, declared: str | None = None
) -> Standings | None:
    """The championship's declared standings once they are in KV (``declared``: once that round's results are in
    them); None after ``timeout``."""
    kv = await nc.jetstream().key_value(STANDINGS_BUCKET)
    for _ in range(int(timeout / 0.1)):
        with contextlib.suppress(KeyNotFoundError):
            value = decode_standings((await kv.get(championship)).value or b"")
            done = declared is None or any(r.event == declared and r.state.value == "final" for r in value.rounds)
            if not value.live and done:
                return value
        await asyncio.sleep(0.1)
    return None
