"""Timing feeds into ingest: the glue between the feed adapters and the producer client.

Each runner makes the events of one feed (a live RMonitor connection, an
RMonitor capture replayed, an Al Kamel chart imported) and sends them through
ingest with :meth:`Producer.send_all`, batch by batch, in order. A rejection
is counted and logged with its reason and the feed goes on: one refused event
is no reason to lose the rest of a session. Every event id is derived from the
feed's content, so running a feed again (a restart, a replay, an import of
the same file) stores nothing twice: ingest answers the repeats as duplicates.

CLI use::

    await run_rmonitor_live(nc, host, port, session, stop=stop)      # until stop is set (Ctrl-C)
    await run_rmonitor_capture(nc, path, session, speed=10.0)         # speed=None: as fast as possible
    await import_alkamel(nc, path, session)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from nats.aio.client import Client
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from schemas.events import ClassificationRules, Event, SessionKind, SessionRef
from schemas.ingest import IngestReply, Rejected
from services.feeds.alkamel.parser import analysis_events, read_analysis
from services.feeds.rmonitor.capture import MAX_LOGGED_ERRORS, ReadStats
from services.feeds.rmonitor.client import DEFAULT_PORT, Backoff, CapturePlayer, LinkStats, RMonitorClient
from services.feeds.rmonitor.mapper import RMonitorMapper
from services.ingest.client import IngestUnavailable, Producer, Tally

log = logging.getLogger(__name__)

REFRESH_S = 0.25
WINDOW = 500
"""Events per ingest request."""

__all__ = [
    "DEFAULT_PORT",
    "FeedReport",
    "RMonitorOptions",
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

    def count(self, event: Event, reply: IngestReply) -> None:
        super().count(event, reply)
        if isinstance(reply, Rejected):
            log.warning("ingest rejected %s (%s): %s", event.msg_id, reply.code, reply.reason)

    @property
    def lines(self) -> int:
        return self.read.lines

    @property
    def lines_skipped(self) -> int:
        return self.read.skipped

    def status(self) -> str:
        return f"{self.accepted:,} new · {self.duplicates:,} duplicates · {self.rejected:,} rejected"


@dataclass(frozen=True)
class RMonitorOptions:
    """How an RMonitor run maps to the session (see :class:`RMonitorMapper`).

    ``time_zone`` is the circuit's: ``$F`` times of day are local times there. Without ``day``, the session day
    is the first the feed gives (a live feed: the day the first line arrives; a capture: its ``##`` stamps or
    ``$I`` date, else 2000-01-01).
    """

    producer: str = "rmonitor"
    day: date | None = None
    time_zone: str = "UTC"
    name: str | None = None
    run: int | None = None
    rules: ClassificationRules | None = None
    """The session's classification rules (None: chequered's default, the ``club`` preset's)."""

    def mapper(self, session: SessionRef) -> RMonitorMapper:
        return RMonitorMapper(
            session, self.producer, self.day, time_zone=self.time_zone, name=self.name, run=self.run, rules=self.rules
        )


async def _each(batches: AsyncIterable[list[Event]] | Iterable[list[Event]]) -> AsyncIterator[list[Event]]:
    if isinstance(batches, AsyncIterable):
        async for batch in batches:
            yield batch
    else:
        for batch in batches:
            yield batch


async def _send(producer: Producer, batch: list[Event], stop: asyncio.Event | None) -> list[IngestReply]:
    """With ``stop``, an ingest outage that outlasts the producer's own retries is waited out (the batch goes
    again, with the same ids) until ``stop`` is set."""
    while True:
        try:
            return await producer.send_all(batch)
        except IngestUnavailable as error:
            if stop is None or stop.is_set():
                raise
            log.error("ingest unavailable (%s); sending %d events again", error, len(batch))


async def feed_events(
    producer: Producer,
    batches: AsyncIterable[list[Event]] | Iterable[list[Event]],
    report: FeedReport | None = None,
    *,
    stop: asyncio.Event | None = None,
) -> FeedReport:
    """Send every batch through ingest, in order; rejections are counted in the report and logged, never fatal.

    ``IngestUnavailable`` (ingest did not answer through all of the producer's retries) ends the feed, unless
    ``stop`` is given (see :func:`_send`).
    """
    report = report if report is not None else FeedReport()
    started = time.monotonic()
    try:
        async for batch in _each(batches):
            for event, reply in zip(batch, await _send(producer, batch, stop), strict=True):
                report.count(event, reply)
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
    session: SessionRef,
    *,
    stop: asyncio.Event,
    options: RMonitorOptions | None = None,
    backoff: Backoff | None = None,
    rng: random.Random | None = None,
    idle_timeout_s: float | None = 30.0,
    console: Console | None = None,
    report: FeedReport | None = None,
) -> FeedReport:
    """Follow a live RMonitor feed into ``session`` until ``stop`` is set, reconnecting whenever the link drops.

    Pass a ``report`` to watch it fill in while the feed runs (``report.link`` is the live connection state).
    """
    client = RMonitorClient(
        host,
        port,
        (options or RMonitorOptions()).mapper(session),
        backoff=backoff,
        rng=rng,
        idle_timeout_s=idle_timeout_s,
    )
    report = report if report is not None else FeedReport()
    report.read, report.link = client.stats, client.link

    def state() -> tuple[int, str]:
        link = "connected" if client.link.connected else f"reconnecting ({client.link.failures} failed attempts)"
        return client.stats.lines, f"{link} · {report.status()}"

    async with _progress(console, f"rmonitor {host}:{port}", None, state):
        await feed_events(Producer(nc), client.batches(stop), report, stop=stop)
    return report


async def run_rmonitor_capture(
    nc: Client,
    path: str | Path,
    session: SessionRef,
    speed: float | None = 1.0,
    *,
    options: RMonitorOptions | None = None,
    console: Console | None = None,
) -> FeedReport:
    """Replay a capture file into ``session`` at ``speed`` times its recorded pace (``None``: as fast as possible)."""
    player = CapturePlayer(path, (options or RMonitorOptions()).mapper(session), speed)
    report = FeedReport(read=player.stats)
    async with _progress(console, "rmonitor replay", player.total_lines, lambda: (report.lines, report.status())):
        await feed_events(Producer(nc, window=WINDOW), player.batches(), report)
    return report


async def import_alkamel(
    nc: Client,
    path: str | Path,
    session: SessionRef,
    *,
    name: str = "Race",
    kind: SessionKind = SessionKind.RACE,
    day: date | None = None,
    time_zone: str = "UTC",
    track: str | None = None,
    rules: ClassificationRules | None = None,
    producer: str = "alkamel",
    console: Console | None = None,
) -> FeedReport:
    """Import an Al Kamel analysis chart into ``session`` (raises ``AnalysisError`` for a file it cannot read).

    ``day`` and ``time_zone`` place the chart's times of day (the chart has no date; 2000-01-01 without ``day``);
    ``rules`` default to the ``wec`` preset, whose classification is the one the series publishes.
    """
    chart = read_analysis(path)
    for line, reason in chart.skipped[:MAX_LOGGED_ERRORS]:
        log.warning("alkamel line %d skipped: %s", line, reason)
    events = analysis_events(
        chart, session, producer, name=name, kind=kind, day=day, time_zone=time_zone, track=track, rules=rules
    )
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
