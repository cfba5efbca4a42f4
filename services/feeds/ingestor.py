"""Timing feeds into ingest: the glue between the feed adapters and the producer client.

Each runner makes the events of one feed (a live RMonitor connection, an
RMonitor capture replayed, an Al Kamel chart imported) and sends them through
ingest, batch by batch, in order. A rejection is counted and logged with its
reason and the feed goes on: one refused event is no reason to lose the rest
of a session, and an event the stream never stores through every retry is
given up, not sent forever. What an RMonitor feed skipped or kept aside (and
its disagreements with the timing system's scoreboard) goes to the rejects
stream, where ``chequered rejects`` shows it. Every event id is derived from
the feed's content, so running a feed again (a restart, a replay, an import of
the same file) stores nothing twice: ingest answers the repeats as duplicates.

CLI use::

    await run_rmonitor_live(nc, host, port, Weekend("gtes", "monza"), stop=stop)  # a session per run, to Ctrl-C
    await run_rmonitor_capture(nc, path, session, speed=10.0, options=RMonitorOptions(time_zone="Asia/Tokyo"))
    await import_alkamel(nc, path, session, AlKamelOptions(day=day, time_zone="Europe/Paris"))
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import msgspec
from nats.aio.client import Client
from nats.errors import Error as NatsError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from schemas.events import Event, SessionRef
from schemas.ingest import IngestReply, Rejected, RejectedEvent
from schemas.subjects import rejects_subject
from services.feeds.alkamel.options import AlKamelOptions
from services.feeds.alkamel.parser import analysis_events, read_analysis
from services.feeds.rmonitor.capture import MAX_LOGGED_ERRORS, KeptAside, ReadStats
from services.feeds.rmonitor.client import DEFAULT_PORT, Backoff, CapturePlayer, LinkStats, RMonitorClient
from services.feeds.rmonitor.options import RMonitorOptions
from services.feeds.rmonitor.weekend import WeekendMapper
from services.ingest.client import IngestUnavailable, Producer, Tally, requests

log = logging.getLogger(__name__)

REFRESH_S = 0.25
WINDOW = 500
"""Events per ingest request."""
MAX_STORED_ASIDE = 5_000
"""Kept-aside lines a feed stores in the rejects stream in one run; the rest are logged only."""
STORE_TIMEOUT_S = 2.0
STORE_FAILURES = 3
"""Failed writes to the rejects stream in a row after which a feed stops trying (and says why)."""

__all__ = [
    "DEFAULT_PORT",
    "AlKamelOptions",
    "FeedReport",
    "RMonitorOptions",
    "Weekend",
    "feed_events",
    "import_alkamel",
    "run_rmonitor_capture",
    "run_rmonitor_live",
]


@dataclass
class FeedReport(Tally):
    """What a feed sent and what ingest made of it (the :class:`Tally`, each rejection also logged); a live feed's
    report fills in as it runs."""

    read: ReadStats = field(default_factory=ReadStats)
    """Lines (RMonitor) or rows (Al Kamel) read, and the ones skipped with their line numbers and reasons; a
    feed's own, so it counts as the lines arrive."""
    link: LinkStats | None = None
    """A live feed's connection: connections, failures, drops, back-off waits."""
    seconds: float = 0.0
    sessions: list[SessionRef] = field(default_factory=list)
    """The sessions the feed wrote into, in order."""
    dropped: int = 0
    """Events given up: ingest answered, but the stream never stored them through every retry."""
    aside_stored: int = 0
    """Lines the feed skipped or kept aside, stored in the rejects stream (``chequered rejects``)."""

    def count(self, event: Event, reply: IngestReply) -> None:
        super().count(event, reply)
        if isinstance(reply, Rejected):
            log.warning("ingest rejected %s (%s): %s", event.msg_id, reply.code, reply.reason)

    def status(self) -> str:
        return f"{self.accepted:,} new · {self.duplicates:,} duplicates · {self.rejected:,} rejected"


class Weekend(NamedTuple):
    """Where a feed that follows a whole weekend writes: one session per run, in this event of this championship."""

    championship: str
    event: str

    def check(self) -> Weekend:
        """The same, once both are known to be subject-safe tokens (raises ``msgspec.ValidationError``)."""
        SessionRef.parse(f"{self.championship}.{self.event}.session")
        return self


def rmonitor_mapper(options: RMonitorOptions, target: SessionRef | Weekend) -> WeekendMapper:
    """The mapper of a feed into one session, or a session per run of a weekend."""
    if isinstance(target, SessionRef):
        return WeekendMapper.one_session(target, options)
    return WeekendMapper(target.championship, target.event, options)


class FeedRejects:
    """Stores what a feed skipped or kept aside in the rejects stream, where operations look (``chequered
    rejects``), with the line, its number and the reason. A write that fails is logged and the feed goes on;
    after :data:`STORE_FAILURES` in a row (no permission, no stream) it stops trying and says what to do."""

    def __init__(self, nc: Client, producer: str, mapper: WeekendMapper, report: FeedReport) -> None:
        self.js = nc.jetstream()
        self.producer = producer
        self.mapper = mapper
        self.report = report
        self._failures = 0

    async def store(self, items: list[KeptAside]) -> None:
        for item in items:
            if self._failures >= STORE_FAILURES or self.report.aside_stored >= MAX_STORED_ASIDE:
                return
            session = item.session or self.mapper.session
            subject = rejects_subject(session.key if session is not None else None)
            record = RejectedEvent(
                subject=subject,
                code=item.code,
                reason=item.reason,
                payload=item.text,
                producer=self.producer,
                line=item.line,
            )
            try:
                await self.js.publish(subject, msgspec.json.encode(record), timeout=STORE_TIMEOUT_S)
            except (NatsError, TimeoutError) as error:
                self._failures += 1
                log.warning("could not store line %d in the rejects stream: %r", item.line, error)
                if self._failures == STORE_FAILURES:
                    log.error(
                        "the feed stops storing what it keeps aside (it still logs it): the timing user needs the "
                        "right to publish to %s (deploy/nats/accounts.conf, CHEQUERED_EVENT_REJECTS)",
                        subject,
                    )
                continue
            self._failures = 0
            self.report.aside_stored += 1


async def _each(batches: AsyncIterable[list[Event]] | Iterable[list[Event]]) -> AsyncIterator[list[Event]]:
    if isinstance(batches, AsyncIterable):
        async for batch in batches:
            yield batch
    else:
        for batch in batches:
            yield batch


async def _send(
    producer: Producer, batch: list[Event], stop: asyncio.Event | None, report: FeedReport
) -> list[IngestReply]:
    """Send a batch, request by request. Events ingest answered but the stream never stored through every retry
    are given up (counted, logged): one event must not hold the feed forever. With ``stop``, an ingest that does
    not answer at all is waited out (the request goes again, with the same ids) until ``stop`` is set."""
    replies: list[IngestReply] = []
    for request in requests(batch, producer.window):
        while True:
            try:
                replies += await producer.send_batch(request)
                break
            except IngestUnavailable as error:
                if error.replies is not None:
                    given_up = [
                        e.msg_id for e, r in zip(request, error.replies, strict=True) if isinstance(r, Rejected)
                    ]
                    report.dropped += len(given_up)
                    log.error("%d events never stored, given up: %s", len(given_up), ", ".join(given_up[:10]))
                    replies += error.replies
                    break
                if stop is None or stop.is_set():
                    raise
                log.error("ingest unavailable (%s); sending %d events again", error, len(request))
    return replies


async def feed_events(
    producer: Producer,
    batches: AsyncIterable[list[Event]] | Iterable[list[Event]],
    report: FeedReport | None = None,
    *,
    stop: asyncio.Event | None = None,
    rejects: FeedRejects | None = None,
) -> FeedReport:
    """Send every batch through ingest, in order; rejections are counted in the report and logged, never fatal.
    After each batch, what the feed kept aside goes to the rejects stream (with ``rejects``).

    ``IngestUnavailable`` (ingest did not answer through all of the producer's retries) ends the feed, unless
    ``stop`` is given (see :func:`_send`).
    """
    report = report if report is not None else FeedReport()
    started = time.monotonic()
    try:
        async for batch in _each(batches):
            for event, reply in zip(batch, await _send(producer, batch, stop, report), strict=True):
                report.count(event, reply)
                if event.session not in report.sessions:
                    report.sessions.append(event.session)
            if rejects is not None:
                await rejects.store(report.read.take_aside())
        if rejects is not None:
            await rejects.store(report.read.take_aside())
    finally:
        report.seconds += time.monotonic() - started
    return report


# -- progress --------------------------------------------------------------------


async def _every(seconds: float, action: Callable[[], None]) -> None:
    while True:
        action()
        await asyncio.sleep(seconds)


@contextlib.asynccontextmanager
async def _progress(
    console: Console | None, label: str, total: int | None, state: Callable[[], tuple[int, str]]
) -> AsyncIterator[None]:
    """A progress bar on ``console`` (none without one), redrawn from ``state()`` (done, status) as work runs."""
    if console is None:
        yield
        return
    columns = (TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[status]}"))
    with Progress(*columns, TimeElapsedColumn(), console=console) as progress:
        task = progress.add_task(label, total=total, status="")

        def refresh() -> None:
            done, status = state()
            progress.update(task, completed=done, status=status)

        refresher = asyncio.create_task(_every(REFRESH_S, refresh))
        try:
            yield
        finally:
            refresher.cancel()
            refresh()


# -- the feeds ---------------------------------------------------------------------


async def run_rmonitor_live(
    nc: Client,
    host: str,
    port: int,
    target: SessionRef | Weekend,
    *,
    stop: asyncio.Event,
    options: RMonitorOptions | None = None,
    backoff: Backoff | None = None,
    rng: random.Random | None = None,
    idle_timeout_s: float | None = 30.0,
    console: Console | None = None,
    report: FeedReport | None = None,
) -> FeedReport:
    """Follow a live RMonitor feed into ``target`` (one session, or a weekend's) until ``stop`` is set,
    reconnecting whenever the link drops.

    Pass a ``report`` to watch it fill in while the feed runs (``report.link`` is the live connection state).
    """
    options = options or RMonitorOptions()
    client = RMonitorClient(
        host, port, rmonitor_mapper(options, target), backoff=backoff, rng=rng, idle_timeout_s=idle_timeout_s
    )
    report = report if report is not None else FeedReport()
    report.read, report.link = client.stats, client.link
    rejects = FeedRejects(nc, options.producer, client.mapper, report)

    def state() -> tuple[int, str]:
        link = "connected" if client.link.connected else f"reconnecting ({client.link.failures} failed attempts)"
        return client.stats.lines, f"{link} · {report.status()}"

    async with _progress(console, f"rmonitor {host}:{port}", None, state):
        await feed_events(Producer(nc), client.batches(stop), report, stop=stop, rejects=rejects)
    return report


async def run_rmonitor_capture(
    nc: Client,
    path: str | Path,
    target: SessionRef | Weekend,
    speed: float | None = 1.0,
    *,
    options: RMonitorOptions | None = None,
    console: Console | None = None,
) -> FeedReport:
    """Replay a capture file into ``target`` (one session, or a weekend's) at ``speed`` times its recorded pace
    (``None``: as fast as possible)."""
    options = options or RMonitorOptions()
    player = CapturePlayer(path, rmonitor_mapper(options, target), speed)
    report = FeedReport(read=player.stats)
    rejects = FeedRejects(nc, options.producer, player.mapper, report)
    async with _progress(console, "rmonitor replay", player.total_lines, lambda: (report.read.lines, report.status())):
        await feed_events(Producer(nc, window=WINDOW), player.batches(), report, rejects=rejects)
    return report


async def import_alkamel(
    nc: Client,
    path: str | Path,
    session: SessionRef,
    options: AlKamelOptions | None = None,
    *,
    console: Console | None = None,
) -> FeedReport:
    """Import an Al Kamel analysis chart into ``session`` (raises ``AnalysisError`` for a file it cannot read)."""
    chart = read_analysis(path)
    for line, reason in chart.skipped[:MAX_LOGGED_ERRORS]:
        log.warning("alkamel line %d skipped: %s", line, reason)
    events = analysis_events(chart, session, options)
    read = ReadStats(
        lines=len(chart.rows) + len(chart.skipped),
        records=len(chart.rows),
        skipped=len(chart.skipped),
        errors=chart.skipped[:MAX_LOGGED_ERRORS],
    )
    report = FeedReport(read=read)
    batches = [events[i : i + WINDOW] for i in range(0, len(events), WINDOW)]
    async with _progress(console, "alkamel import", len(events), lambda: (report.sent, report.status())):
        await feed_events(Producer(nc, window=WINDOW), batches, report)
    return report
