"""Replay a race log into a session, through ingest, at any pace.

The pacing is pure (:func:`schedule`); the shell sleeps and sends. Every event
keeps its id, so replaying a log twice stores it once; events the stream
already holds for the session are skipped up front, so a replay stopped with
Ctrl-C continues where it stopped.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import msgspec
from nats.aio.client import Client
from nats.js import JetStreamContext
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from schemas.events import ClassificationRules, Event, SessionOpened, SessionRef
from schemas.ingest import IngestReply, Rejected
from services.broker.reader import read_batches
from services.classification.timefmt import format_clock
from services.ingest.client import Producer, Tally

AS_FAST_CHUNK = 1000


def retarget(events: Iterable[Event], session: SessionRef | None) -> Iterator[Event]:
    """The same events in another session (a new name for a replayed log)."""
    for event in events:
        yield event if session is None else msgspec.structs.replace(event, session=session)


def with_rules(events: Iterable[Event], rules: ClassificationRules | None) -> Iterator[Event]:
    """The same events with the session's classification rules replaced (None: as logged). A session already open
    keeps its rules (ingest stores one ``session_opened``): give a new one with :func:`retarget`."""
    for event in events:
        if rules is not None and isinstance(event.body, SessionOpened):
            event = msgspec.structs.replace(event, body=msgspec.structs.replace(event.body, rules=rules))
        yield event


def schedule(events: Sequence[Event], speed: float | None) -> Iterator[tuple[float, list[Event]]]:
    """Groups of events sharing an instant, each with its offset in seconds from the first.

    ``speed`` 1 is the recorded pace, 10 ten times faster, None as fast as possible
    (chunks of ``AS_FAST_CHUNK``, all at offset 0).
    """
    if not events:
        return
    if speed is None:
        for start in range(0, len(events), AS_FAST_CHUNK):
            yield 0.0, list(events[start : start + AS_FAST_CHUNK])
        return
    origin = events[0].at
    group: list[Event] = []
    for event in events:
        if group and event.at != group[0].at:
            yield (group[0].at - origin) / 1000 / speed, group
            group = []
        group.append(event)
    yield (group[0].at - origin) / 1000 / speed, group


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
