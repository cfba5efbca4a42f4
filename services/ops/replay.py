"""Replay a race log into a session, through ingest, at any pace.

The pacing is pure (:func:`~services.ops.pacing.schedule`); the shell sleeps and sends. Every event
keeps its id, so replaying a log twice stores it once; events the stream
already holds for the session are skipped up front, so a replay stopped with
Ctrl-C continues where it stopped.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from nats.aio.client import Client
from nats.js import JetStreamContext
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from schemas.events import Event, SessionRef
from schemas.ingest import IngestReply, Rejected
from services.broker.reader import read_batches
from services.classification.timefmt import format_clock
from services.ingest.client import Producer, Tally
from services.ops.pacing import schedule


async def stored_ids(js: JetStreamContext, session: SessionRef) -> set[str]:
    """``msg_id`` of every event the stream holds for the session."""
    ids: set[str] = set()
    async for batch in read_batches(js, session.key):
        ids.update(event.msg_id for _, event in batch)
    return ids


@dataclass
class ReplayReport(Tally):
    skipped: int = 0
    """Events the stream already held for the session, not sent again."""
    seconds: float = 0.0


async def replay(
    nc: Client,
    events: Sequence[Event],
    *,
    speed: float | None,
    console: Console | None = None,
    window: int = 256,
    on_reply: Callable[[Event, IngestReply], None] | None = None,
) -> ReplayReport:
    """Send the events through ingest at ``speed``; shows a progress bar when given a console; ``on_reply`` is
    also told of each reply as it comes (a benchmark times them)."""
    report = ReplayReport()
    if not events:
        return report
    held = await stored_ids(nc.jetstream(), events[0].session)
    pending = [event for event in events if event.msg_id not in held]
    report.skipped = len(events) - len(pending)
    producer = Producer(nc, window=window)
    started = time.monotonic()
    origin = events[0].at

    progress = Progress(
        TextColumn("[bold]replay"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("session clock {task.fields[clock]}"),
        TextColumn("{task.fields[rate]} ev/s"),
        TimeElapsedColumn(),
        console=console,
        disable=console is None,
        transient=False,
    )

    def replied(event: Event, reply: IngestReply) -> None:
        report.count(event, reply)
        if isinstance(reply, Rejected) and console is not None:
            console.print(f"[red]rejected[/red] {event.msg_id}: {reply.reason}")
        if on_reply is not None:
            on_reply(event, reply)

    with progress:
        task = progress.add_task("replay", total=len(events), completed=report.skipped, clock="0:00:00", rate="-")
        for offset, group in schedule(pending, speed):
            delay = offset - (time.monotonic() - started)
            if delay > 0:
                await asyncio.sleep(delay)
            await producer.send_all(group, replied)
            elapsed = time.monotonic() - started
            progress.update(
                task,
                completed=report.skipped + report.sent,
                clock=format_clock(group[-1].at - origin),
                rate=f"{report.sent / elapsed:,.0f}" if elapsed > 0 else "-",
            )
    report.seconds = time.monotonic() - started
    return report
