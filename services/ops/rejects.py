"""``chequered rejects``: what ingest refused and what projectors dead-lettered, with reasons; and, first, the
scheduled sessions whose feed is missing or stalled now (their calendar says they are on)."""

from __future__ import annotations

import msgspec
from nats.js import JetStreamContext
from rich.console import Console
from rich.table import Table

from schemas.calendar import Alert
from schemas.ingest import DeadLetter, RejectedEvent
from schemas.subjects import DLQ_PREFIX, REJECTS_PREFIX, REJECTS_STREAM
from services.broker.bulkread import read_to_head
from services.calendar.store import read_calendars
from services.calendar.views import alerts

_rejected = msgspec.json.Decoder(RejectedEvent)
_dead = msgspec.json.Decoder(DeadLetter)


async def read_rejects(
    js: JetStreamContext, session: str | None = None
) -> list[tuple[int, RejectedEvent | DeadLetter]]:
    """Every rejection (of one session, or all) and every dead letter, oldest first, with its sequence."""
    found: list[tuple[int, RejectedEvent | DeadLetter]] = []
    subjects = [f"{REJECTS_PREFIX}.{session}" if session else f"{REJECTS_PREFIX}.>", f"{DLQ_PREFIX}.>"]
    async for batch in read_to_head(js, subjects, stream=REJECTS_STREAM):
        for stored in batch:
            decoder = _dead if stored.subject.startswith(DLQ_PREFIX) else _rejected
            found.append((stored.seq, decoder.decode(stored.data)))
    return found


async def feed_alerts(js: JetStreamContext, now: int, session: str | None = None) -> list[Alert]:
    """Every championship's scheduled sessions (or only ``session``) live now with no data yet or a stalled feed."""
    found = [alert for calendar in await read_calendars(js) for alert in alerts(calendar, now)]
    return [alert for alert in found if session is None or alert.key == session]


async def list_rejects(js: JetStreamContext, console: Console, *, session: str | None, limit: int, now: int) -> None:
    for alert in await feed_alerts(js, now, session):
        console.print(f"[bold red]feed[/bold red] {alert.message}")
    found = await read_rejects(js, session)
    table = Table(title=f"rejections and dead letters ({len(found)}, newest {min(limit, len(found))} shown)")
    for column in ("seq", "where", "what", "reason"):
        table.add_column(column, overflow="fold")
    for seq, item in found[-limit:]:
        if isinstance(item, RejectedEvent):
            where = item.subject.removeprefix(f"{REJECTS_PREFIX}.")
            if item.line is not None:  # kept aside by a feed: the line it came on
                where, what = f"{where} line {item.line}", f"{item.code.value} {item.producer or ''}"
            else:
                what = f"{item.code.value} {item.producer or ''}:{item.event_id or '?'}"
            table.add_row(str(seq), where, what, item.reason)
        else:
            table.add_row(str(seq), f"dlq {item.projection}", f"event seq {item.seq}", item.reason)
    console.print(table)
