"""Following read models in KV from the terminal: the live tower (with a championship's title fight, as it stands),
and waiting for declared standings."""

from __future__ import annotations

import asyncio
import contextlib

from nats.aio.client import Client
from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue
from rich.console import Group
from rich.live import Live
from rich.table import Table

from schemas.events import SessionRef
from schemas.results import Classification, decode_classification
from schemas.standings import Standings, decode_live_standings, decode_standings
from services.broker.connection import connect
from services.broker.topology import CLASSIFICATION_BUCKET, STANDINGS_BUCKET
from services.classification.tower import render_tower
from services.cli.bootstrap import console
from services.standings.projector import live_key
from services.standings.render import render_title


async def watch_tower(
    url: str, session: SessionRef, until_finished: bool, title: bool = False
) -> Classification | None:
    """Show the session's classification from KV as it changes (``title``: with its championship's first title
    fight still open, as it stands); return the last one seen."""
    nc = await connect(url, "chequered-tower")
    last: Classification | None = None
    try:
        kv = await nc.jetstream().key_value(CLASSIFICATION_BUCKET)
        standings = await nc.jetstream().key_value(STANDINGS_BUCKET)
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
                fight = await _title_fight(standings, session.championship) if title else None
                rows = console.height - 6 - (len(fight.rows) + 6 if fight is not None else 0)
                tower = render_tower(last, limit=rows if console.height > 12 else None, width=console.width)
                live.update(Group(tower, fight) if fight is not None else tower)
                if until_finished and last.phase.value == "finished":
                    return last
    finally:
        await nc.close()


async def _title_fight(kv: KeyValue, championship: str) -> Table | None:
    """The first table of the championship whose title is still open (else the first), as it stands."""
    with contextlib.suppress(KeyNotFoundError):
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
