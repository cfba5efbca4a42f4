"""The feed shells end to end: RMonitor over real TCP and Al Kamel files, into a real nats-server through ingest.

The captures and charts are generated here. Every wait is on a condition
(lines read, failures counted, a classification reaching a sequence) with a
generous deadline, never a fixed sleep, so a loaded machine only makes the
tests slower.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import msgspec
import pytest
from nats.aio.client import Client

from schemas.events import Event, LapCompleted, SessionRef
from schemas.ingest import Accepted, IngestReply, RejectCode, Rejected
from schemas.results import Classification
from services.broker.reader import read_events
from services.classification.projector import ClassificationProjector
from services.feeds.alkamel.parser import analysis_events, read_analysis
from services.feeds.ingestor import (
    AlKamelOptions,
    FeedReport,
    RMonitorOptions,
    feed_events,
    import_alkamel,
    rmonitor_mapper,
    run_rmonitor_capture,
    run_rmonitor_live,
)
from services.feeds.rmonitor.capture import MappedCapture, ReadStats, map_capture, map_lines, read_capture
from services.feeds.rmonitor.client import Backoff, CapturePlayer, LineSplitter, RMonitorClient
from services.feeds.rmonitor.parser import ClassInfo, RMonitorRecord
from services.feeds.rmonitor.weekend import WeekendMapper
from services.ingest.service import IngestService
from tests.factory import SessionWriter, classify
from tests.feeds.captures import clock, hms, passing, position, write_capture
from tests.feeds.rmonitor_server import HOST, RMonitorServer, Segment
from tests.ingest.test_producer import ScriptedIngest, producer
from tests.live import wait_for_classification
from tests.polling import until

DAY = date(2025, 6, 1)
ZONE = "Europe/Paris"
GREEN = 14 * 3600  # the green flag at 14:00:00 local
OPTIONS = RMonitorOptions(day=DAY, time_zone=ZONE)
FAST = Backoff(initial_s=0.05, cap_s=0.4, factor=2.0, jitter=0.5)
DEADLINE_S = 60.0


# -- a generated race ------------------------------------------------------------------


def heartbeat(race_s: int, flag: str) -> str:
    return f'$F,9999,"{hms(1800 - race_s)}","{hms(GREEN + race_s)}","{hms(race_s)}","{flag}"'


def entries(cars: int) -> list[str]:
    lines = ['$I,"13:55:00.000","01 Jun 25"', '$B,7,"Feature Race"', '$C,1,"GT3"', '$C,2,"GT4"']
    lines += ['$E,"TRACKNAME","Test Ring"', '$E,"TRACKLENGTH","2.500"']
    for n in range(1, cars + 1):
        cls = 1 if n <= cars // 2 else 2
        lines.append(f'$A,"{n}","{n}",{1000 + n},"Driver","Number{n}","FRA",{cls}')
        lines.append(f'$COMP,"{n}","{n}",{cls},"Driver","Number{n}","FRA","Team {n}"')
    return lines


def passings(cars: int, laps: int) -> list[tuple[int, str, int]]:
    """``(race ms, car, lap ms)`` of every passing, in time order: car 1 is the fastest, no one is lapped."""
    out: list[tuple[int, str, int]] = []
    for n in range(1, cars + 1):
        total = 0
        for lap in range(1, laps + 1):
            lap_ms = 90_000 + n * 850 + (lap * n * 37) % 400
            total += lap_ms
            out.append((total, str(n), lap_ms))
    return sorted(out)


def race(cars: int = 5, laps: int = 6) -> list[str]:
    """Entries, a heartbeat a second (blank, then Green, then Finish after the leader's last lap), and a ``$J``
    with its ``$G`` for every passing."""
    crossings = passings(cars, laps)
    leader_done = max(t for t, car, _ in crossings if car == "1")
    lines = [*entries(cars), heartbeat(0, "      ")]
    done: dict[str, tuple[int, int]] = {}
    pending = list(crossings)
    for second in range(0, crossings[-1][0] // 1000 + 4):
        lines.append(heartbeat(second, "Finish" if second * 1000 > leader_done else "Green "))
        while pending and pending[0][0] < (second + 1) * 1000:
            total, car, lap_ms = pending.pop(0)
            done[car] = (done.get(car, (0, 0))[0] + 1, total)
            order = sorted(done, key=lambda c: (-done[c][0], done[c][1]))
            lines.append(passing(car, lap_ms / 1000, total / 1000))
            lines.append(position(order.index(car) + 1, car, done[car][0], total / 1000))
    return lines


def new_session() -> SessionRef:
    return SessionRef(f"t{uuid.uuid4().hex[:10]}", "rmonitor", "race")


def laps_of(events: list[Event]) -> Counter[tuple[str, int]]:
    return Counter((e.body.number, e.body.lap) for e in events if isinstance(e.body, LapCompleted))


def without_seq(classification: Classification) -> Classification:
    return msgspec.structs.replace(classification, last_seq=0)


# -- fixtures ------------------------------------------------------------------------------


@pytest.fixture
async def projector(nats_url: str, ingest: IngestService) -> AsyncIterator[ClassificationProjector]:
    service = ClassificationProjector(nats_url)
    await service.start()
    yield service
    await service.stop()


@dataclass
class Live:
    """A live feed running against a test server, stopped once ``lines`` lines have been read and sent."""

    nc: Client
    session: SessionRef
    options: RMonitorOptions = OPTIONS

    async def follow(
        self, port: int, lines: int, *, during: Callable[[FeedReport], Awaitable[None]] | None = None
    ) -> FeedReport:
        stop = asyncio.Event()
        report = FeedReport()
        feed = run_rmonitor_live(
            self.nc,
            HOST,
            port,
            self.session,
            stop=stop,
            options=self.options,
            backoff=FAST,
            rng=random.Random(7),
            report=report,
        )
        task = asyncio.create_task(feed)
        try:
            if during is not None:
                await during(report)
            await until(lambda: report.read.lines >= lines or task.done(), f"{lines} lines", DEADLINE_S)
        finally:
            stop.set()
            await asyncio.wait({task}, timeout=DEADLINE_S)
        return task.result()

    async def stored(self) -> list[Event]:
        return [event for _, event in await read_events(self.nc.jetstream(), self.session.key)]


def live_and_offline(tmp_path: Path, nc: Client) -> tuple[list[str], Live, MappedCapture]:
    """The test race's lines, a live feed to a new session for them, and the same lines read offline as a capture."""
    lines = race()
    live = Live(nc, new_session())
    return lines, live, map_capture(write_capture(tmp_path, lines), live.session, OPTIONS)


# -- RMonitor live, end to end ---------------------------------------------------------


async def test_live_feed_classifies_as_the_capture_read_offline(
    tmp_path: Path, nc: Client, projector: ClassificationProjector
) -> None:
    lines, live, offline = live_and_offline(tmp_path, nc)
    async with RMonitorServer(lines) as server:
        report = await live.follow(server.port, len(lines))

    assert (report.read.lines, report.read.skipped, report.rejected) == (len(lines), 0, 0)
    assert await live.stored() == offline.events
    classified = await wait_for_classification(nc, live.session.key, report.last_seq)
    expected = classify(offline.events)
    assert without_seq(classified) == without_seq(expected)
    assert [car.number for car in classified.cars] == ["1", "2", "3", "4", "5"]
    assert classified.phase == "finished"


async def test_a_dropped_connection_resent_from_earlier_loses_and_duplicates_no_lap(
    tmp_path: Path, nc: Client, ingest: IngestService
) -> None:
    lines, live, offline = live_and_offline(tmp_path, nc)
    drop, resume = len(lines) * 3 // 5, len(lines) * 2 // 5  # the second connection re-sends a fifth
    async with RMonitorServer(lines, [Segment(0, drop, cut=True), Segment(resume)]) as server:
        report = await live.follow(server.port, drop + 1 + len(lines) - resume)

    assert server.sent == [drop, len(lines) - resume]
    assert report.read.skipped == 1  # the line the drop cut short, never parsed
    assert report.link is not None and report.link.connections == 2
    stored = await live.stored()
    assert laps_of(stored) == laps_of(offline.events)
    assert set(laps_of(stored).values()) == {1}
    assert stored == offline.events


async def test_the_client_backs_off_while_the_server_is_down_and_resumes_when_it_returns(
    tmp_path: Path, nc: Client, ingest: IngestService
) -> None:
    lines, live, offline = live_and_offline(tmp_path, nc)
    first = await RMonitorServer(lines, [Segment(0, 250)]).start()  # plays 250 lines, then stops listening
    second: list[RMonitorServer] = []
    refused: list[int] = []

    async def outage(report: FeedReport) -> None:
        await asyncio.wait_for(first.played.wait(), DEADLINE_S)
        await until(lambda: report.link is not None and report.link.failures >= 3, "3 refused connections", DEADLINE_S)
        second.append(await RMonitorServer(lines, [Segment(200)], port=first.port).start())
        assert report.link is not None
        refused.append(report.link.failures)  # every attempt from now on finds the server

    try:
        report = await live.follow(first.port, 250 + len(lines) - 200, during=outage)
    finally:
        await first.stop()
        for server in second:
            await server.stop()

    assert report.link is not None and report.link.connections == 2
    waits = list(report.link.backoffs)[: refused[0] + 1]  # after the drop, then after each refusal
    for attempt, wait in enumerate(waits):
        base = min(FAST.cap_s, FAST.initial_s * FAST.factor**attempt)
        assert base * (1 - FAST.jitter) <= wait <= base
    assert waits[2] > waits[0]  # the waits grow
    assert await live.stored() == offline.events


# -- RMonitor client alone --------------------------------------------------------------


async def collect(client: RMonitorClient, lines: int) -> list[Event]:
    """Every event of the client until it has read ``lines`` lines."""
    stop = asyncio.Event()
    events: list[Event] = []

    async def read() -> None:
        async for batch in client.batches(stop):
            events.extend(batch)

    task = asyncio.create_task(read())
    await until(lambda: client.stats.lines >= lines or task.done(), f"{lines} lines", DEADLINE_S)
    stop.set()
    await asyncio.wait_for(task, DEADLINE_S)
    return events


async def test_bad_lines_are_counted_with_their_numbers_and_the_feed_goes_on(tmp_path: Path) -> None:
    lines = race(cars=3, laps=2)
    session = new_session()
    offline = map_capture(write_capture(tmp_path, lines), session, OPTIONS)
    noisy = [*lines[:10], '$J,"1"', "garbage", *lines[10:20], '$F,"x","y","z","w","Green"', *lines[20:]]
    client = RMonitorClient(HOST, 0, rmonitor_mapper(OPTIONS, session), backoff=FAST, rng=random.Random(1))
    async with RMonitorServer(noisy) as server:
        client.port = server.port
        events = await collect(client, len(noisy))
    assert [number for number, _ in client.stats.errors] == [11, 12, 23]
    assert client.stats.skipped == 3
    assert events == offline.events


async def test_a_silent_link_is_dropped_and_reconnected(tmp_path: Path) -> None:
    lines = race(cars=3, laps=2)
    session = new_session()
    offline = map_capture(write_capture(tmp_path, lines), session, OPTIONS)
    client = RMonitorClient(HOST, 0, rmonitor_mapper(OPTIONS, session), backoff=FAST, idle_timeout_s=2.0)
    async with RMonitorServer(lines, [Segment(0, 100, hold=True), Segment(60)]) as server:
        client.port = server.port
        events = await collect(client, 100 + len(lines) - 60)
    assert (client.link.connections, client.link.drops) == (2, 2)
    assert events == offline.events


class Fragile(WeekendMapper):
    """A mapper that fails on every ``$C`` record."""

    def feed(self, record: RMonitorRecord, arrival: float | None = None) -> list[Event]:
        if isinstance(record, ClassInfo):
            raise RuntimeError("boom")
        return super().feed(record, arrival)


def test_a_record_the_mapper_fails_on_is_skipped_like_a_bad_line() -> None:
    lines = race()
    stats = ReadStats()
    session = new_session()
    fragile = Fragile(session.championship, session.event, RMonitorOptions(day=DAY), session=session.session)
    events = map_lines(fragile, [(i, None, line) for i, line in enumerate(lines, 1)], stats)
    assert stats.errors == [(3, "mapper failed: RuntimeError('boom')"), (4, "mapper failed: RuntimeError('boom')")]
    assert sum(isinstance(event.body, LapCompleted) for event in events) == 30


def test_backoff_doubles_to_its_cap_with_seeded_jitter() -> None:
    backoff = Backoff(initial_s=1.0, cap_s=10.0, factor=2.0, jitter=0.25)
    waits = [backoff.delay(attempt, random.Random(5)) for attempt in range(8)]
    assert waits == [backoff.delay(attempt, random.Random(5)) for attempt in range(8)]
    for attempt, wait in enumerate(waits):
        base = min(10.0, 2.0**attempt)
        assert 0.75 * base <= wait <= base
    assert backoff.delay(10_000, random.Random(5)) <= 10.0


def test_line_splitter_takes_any_terminator_across_reads() -> None:
    splitter = LineSplitter(max_line=64)
    assert splitter.feed(b'$F,1\r\n$A,"\xe9') == ["$F,1"]
    assert splitter.feed(b'"\r') == ['$A,"é"']
    assert splitter.feed(b"\n$B,1\n\n$C,1\r$E") == ["$B,1", "$C,1"]
    assert splitter.tail() == "$E"
    assert splitter.feed(b"x" * 100) == ["x" * 100]  # too long without a terminator: cut, memory stays bounded


async def test_capture_player_keeps_the_heartbeat_pace_at_speed(tmp_path: Path) -> None:
    lines = race(cars=2, laps=1)
    path = write_capture(tmp_path, lines)
    now = [0.0]
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    session = new_session()
    player = CapturePlayer(path, rmonitor_mapper(OPTIONS, session), 10.0, sleep=sleep, clock=lambda: now[0])
    events = [event for batch in [b async for b in player.batches()] for event in batch]
    heartbeats = sum(line.startswith("$F") for line in lines)
    assert waits == pytest.approx([0.1] * (heartbeats - 1))
    assert events == map_capture(path, session, OPTIONS).events
    assert player.stats.lines == player.total_lines == len(lines)


# -- RMonitor capture replay and Al Kamel import --------------------------------------


async def test_a_capture_replayed_twice_is_stored_once(tmp_path: Path, nc: Client, ingest: IngestService) -> None:
    lines = race(cars=4, laps=3)
    path = write_capture(tmp_path, lines)
    session = new_session()
    first = await run_rmonitor_capture(nc, path, session, None, options=OPTIONS)
    again = await run_rmonitor_capture(nc, path, session, None, options=OPTIONS)
    offline = map_capture(path, session, OPTIONS).events
    assert (first.sent, first.accepted, first.read.lines) == (len(offline), len(offline), len(lines))
    assert (again.sent, again.duplicates, again.accepted) == (len(offline), len(offline), 0)
    assert [event for _, event in await read_events(nc.jetstream(), session.key)] == offline


ALKAMEL_HEADER = (
    "NUMBER; DRIVER_NUMBER; LAP_NUMBER; LAP_TIME; LAP_IMPROVEMENT; CROSSING_FINISH_LINE_IN_PIT; S1; S1_IMPROVEMENT;"
    " S2; S2_IMPROVEMENT; S3; S3_IMPROVEMENT; KPH; ELAPSED; HOUR;S1_LARGE;S2_LARGE;S3_LARGE;TOP_SPEED;DRIVER_NAME;"
    "PIT_TIME;CLASS;GROUP;TEAM;MANUFACTURER;FLAG_AT_FL;S1_SECONDS;S2_SECONDS;S3_SECONDS;"
)


def alkamel_chart(cars: int = 4, laps: int = 5) -> str:
    """A chart of ``cars`` cars (car 1 fastest) over ``laps`` laps, the last lap of each under the chequered flag."""
    rows = [ALKAMEL_HEADER]
    for n in range(1, cars + 1):
        elapsed = 0
        for lap in range(1, laps + 1):
            lap_ms = 100_000 + n * 700 + lap * 13
            elapsed += lap_ms
            third = lap_ms // 3
            sectors = [clock(third / 1000)[3:], clock(third / 1000)[3:], clock((lap_ms - 2 * third) / 1000)[3:]]
            hour = clock(15 * 3600 + elapsed / 1000)
            flag = "FF" if lap == laps else "GF"
            values = [str(n), "1", str(lap), clock(lap_ms / 1000)[3:], "0", "", sectors[0], "0", sectors[1], "0"]
            values += [sectors[2], "0", "180.0", clock(elapsed / 1000), hour, "", "", "", "", f"Driver {n}", ""]
            values += ["HYPERCAR" if n % 2 else "LMGT3", "", f"Team {n}", "Maker", flag, "", "", ""]
            rows.append(";".join(values) + ";")
    rows.append("not;a;row;")
    return "\ufeff" + "\n".join(rows) + "\n"


async def test_an_alkamel_chart_imports_and_classifies(
    tmp_path: Path, nc: Client, projector: ClassificationProjector
) -> None:
    path = tmp_path / "analysis.csv"
    path.write_text(alkamel_chart(), encoding="utf-8")
    session = SessionRef(f"t{uuid.uuid4().hex[:10]}", "alkamel", "race")
    report = await import_alkamel(nc, path, session, AlKamelOptions(day=DAY, time_zone=ZONE))

    expected = analysis_events(read_analysis(path), session, AlKamelOptions(day=DAY, time_zone=ZONE))
    assert (report.sent, report.accepted, report.rejected) == (len(expected), len(expected), 0)
    assert (report.read.lines, report.read.skipped) == (4 * 5 + 1, 1)
    assert [event for _, event in await read_events(nc.jetstream(), session.key)] == expected
    classified = await wait_for_classification(nc, session.key, report.last_seq)
    assert [(car.number, car.laps) for car in classified.cars] == [("1", 5), ("2", 5), ("3", 5), ("4", 5)]
    assert classified.phase == "finished"


# -- a real capture -----------------------------------------------------------------------


async def test_a_real_capture_through_tcp_stores_what_the_file_maps_to(
    shared_data: Path, nc: Client, ingest: IngestService
) -> None:
    path = shared_data / "rmonitor" / "orbits-mock-session.txt"
    session = new_session()
    options = RMonitorOptions(day=date(2009, 1, 27), time_zone="Europe/London")
    offline = map_capture(path, session, options)
    lines = [line for _, _, line in read_capture(path)]
    live = Live(nc, session, options)
    async with RMonitorServer(lines) as server:
        report = await live.follow(server.port, len(lines))

    stored = await live.stored()
    assert len(stored) == len(offline.events) == report.accepted
    assert stored == offline.events


async def test_an_event_the_stream_never_stores_is_given_up_and_the_feed_goes_on(nc: Client) -> None:
    """Ingest answers, but one event stays unavailable through every retry: a live feed once sent its batch
    again forever, holding back every event after it."""
    w = SessionWriter()
    first, poison, last = w.opened(), w.entry("7"), w.entry("8")
    later = w.entry("9")
    unavailable = Rejected(RejectCode.UNAVAILABLE, "the stream did not acknowledge")
    again: list[IngestReply] = [unavailable]
    answers: list[list[IngestReply] | None] = [[Accepted(1), unavailable, Accepted(2)], again, again, again]
    await ScriptedIngest([*answers, [Accepted(3)]]).start(nc)
    report = FeedReport()
    sent = feed_events(producer(nc, attempts=4), [[first, poison, last], [later]], report, stop=asyncio.Event())
    await asyncio.wait_for(sent, DEADLINE_S)
    assert (report.accepted, report.rejected, report.dropped) == (3, 1, 1)
