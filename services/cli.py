"""``chequered``: the command line. Thin: every command delegates to a room of ``services``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import signal
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from datetime import date
from pathlib import Path

import msgspec
from nats.aio.client import Client
from nats.js.errors import KeyNotFoundError
from rich.console import Console
from rich.live import Live
from rich.progress import Progress

from schemas.events import (
    CarRetired,
    ChampionshipConfigured,
    DecisionWithdrawn,
    EventBody,
    Flag,
    FlagChanged,
    LapDeleted,
    PenaltyKind,
    ResultsDeclared,
    ResultsStatus,
    SessionFinished,
    SessionKind,
    SessionRef,
    SessionStarted,
)
from schemas.ingest import Rejected
from schemas.results import Classification, decode_classification
from schemas.standings import Standings, decode_standings
from services.broker.connection import connect
from services.broker.edge import source_from
from services.broker.topology import (
    CLASSIFICATION_BUCKET,
    STANDINGS_BUCKET,
    Topology,
    TopologyConflict,
    ensure_topology,
)
from services.classification.fold import fold_until
from services.classification.projector import ClassificationProjector
from services.classification.tower import render_tower
from services.feeds.ingestor import (
    DEFAULT_PORT,
    FeedReport,
    RMonitorOptions,
    import_alkamel,
    run_rmonitor_capture,
    run_rmonitor_live,
)
from services.gateway.server import GatewayService
from services.gateway.standings import OPENAPI as STANDINGS_OPENAPI
from services.gateway.standings import ROUTES as STANDINGS_ROUTES
from services.ingest import racecontrol
from services.ingest.client import Producer
from services.ingest.service import IngestService
from services.observability import OpsServer, configure_logging
from services.ops.history import history, to_csv, to_jsonl
from services.ops.instants import parse_instant
from services.ops.log import read_events
from services.ops.racelog import read_log, write_log
from services.ops.rebuild import PROJECTIONS, rebuild
from services.ops.record import record
from services.ops.replay import replay, retarget
from services.ops.verify import verify_all
from services.runtime import DEFAULT_HOME, Service, broker_url, run_until_signal
from services.simulator.endurance import RaceSpec, simulate
from services.standings.config import ConfigError, decode_config
from services.standings.offline import run_offline
from services.standings.projector import StandingsProjector
from services.standings.render import render_tables
from services.standings.timeline import standings_from_log

TOKENS_ENV = "CHEQUERED_GATEWAY_TOKENS"
SAMPLE_LOG = Path(__file__).resolve().parent.parent / "data" / "sample-race.jsonl.gz"
DEMO_CHAMPIONSHIP = Path(__file__).resolve().parent / "standings" / "configs" / "gt-endurance.toml"
console = Console()


@contextlib.asynccontextmanager
async def _client(args: argparse.Namespace, name: str) -> AsyncIterator[Client]:
    """A NATS connection for one command: to ``--nats``/``NATS_URL``, or to an embedded broker for its duration."""
    with broker_url(args.nats, args.home / "nats", console) as url:
        nc = await connect(url, name)
        try:
            yield nc
        finally:
            await nc.close()


def _nats_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--nats", metavar="URL", help="use this NATS server or cluster (default: $NATS_URL, else embedded)"
    )
    parser.add_argument("--home", type=Path, default=DEFAULT_HOME, help="data directory of the embedded broker")


def _speed(args: argparse.Namespace) -> float | None:
    return None if args.max else float(args.speed)


async def _watch_tower(url: str, session: SessionRef, until_finished: bool) -> Classification | None:
    """Show the session's classification from KV as it changes; return the last one seen."""
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
                live.update(render_tower(last, limit=console.height - 6 if console.height > 12 else None))
                if until_finished and last.phase.value == "finished":
                    return last
    finally:
        await nc.close()


async def _demo(args: argparse.Namespace) -> int:
    events = list(read_log(args.log))
    session = events[0].session
    config = SessionRef.championship_of(session.championship)
    with (
        tempfile.TemporaryDirectory(prefix="chequered-demo-") as store,
        broker_url(args.nats, Path(store), console) as url,
    ):
        gateway, tokens = _gateway(url, args)
        services: list[Service] = [IngestService(url), ClassificationProjector(url), StandingsProjector(url), gateway]
        for service in services:
            await service.start()
        console.print(f"[bold]live timing page[/bold]: {gateway.url}/?session={session.key}&token={tokens[0]}")
        nc = await connect(url, "chequered-demo")
        try:
            console.print(
                f"[bold]chequered demo[/bold]: {len(events):,} events of {session.key} at "
                f"{'full speed' if args.max else f'{args.speed:g}x'} through ingest → JetStream → projectors → KV"
            )
            producer = Producer(nc)
            await producer.send(racecontrol.race_control_event(config, _configured(DEMO_CHAMPIONSHIP), events[0].at))
            watch = asyncio.create_task(_watch_tower(url, session, until_finished=True))
            report = await replay(nc, events, speed=_speed(args), console=None)
            final = await asyncio.wait_for(watch, timeout=30)
            declared = ResultsDeclared(status=ResultsStatus.FINAL)
            await producer.send(racecontrol.race_control_event(session, declared, events[-1].at + 60_000))
            standings = await _wait_for_standings(nc, session.championship)
        finally:
            await nc.close()
            for service in reversed(services):
                await service.stop()
    if final is not None:
        console.print(render_tower(final))
    if standings is not None:
        for table in render_tables(standings)[:3]:
            console.print(table)
    console.print(f"[green]done[/green]: {report.accepted:,} events accepted, {report.rejected} rejected")
    return 0


def _gateway(url: str, args: argparse.Namespace) -> tuple[GatewayService, list[str]]:
    tokens = list(args.token or []) or [t for t in os.environ.get(TOKENS_ENV, "").split(",") if t]
    tokens = tokens or [secrets.token_urlsafe(12)]
    service = GatewayService(
        url,
        tokens,
        host=args.host,
        port=args.gateway_port,
        standings=STANDINGS_ROUTES,
        standings_openapi=STANDINGS_OPENAPI,
    )
    return service, tokens


def _gateway_args(parser: argparse.ArgumentParser, port: int) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="gateway address (0.0.0.0 to serve the network)")
    parser.add_argument("--gateway-port", type=int, default=port, help="gateway port (0: any free port)")
    parser.add_argument("--token", action="append", help=f"a read token for graphics clients (default ${TOKENS_ENV})")


def _configured(path: Path) -> ChampionshipConfigured:
    """The file, read once, as a config event; a bad file is refused here, naming the file, the field and the
    reason."""
    try:
        toml = path.read_text()
    except OSError as error:
        raise ConfigError(str(path), [f"$: cannot read the file: {error.strerror}"]) from None
    decode_config(toml, str(path))
    return ChampionshipConfigured(toml=toml, source=path.name)


async def _wait_for_standings(nc: Client, championship: str, timeout: float = 30.0) -> Standings | None:
    kv = await nc.jetstream().key_value(STANDINGS_BUCKET)
    for _ in range(int(timeout / 0.1)):
        with contextlib.suppress(KeyNotFoundError):
            value = decode_standings((await kv.get(championship)).value or b"")
            if not value.live:
                return value
        await asyncio.sleep(0.1)
    return None


async def _serve(args: argparse.Namespace) -> int:
    configure_logging(args.log_format)
    with broker_url(args.nats, args.home / "nats", console, port=args.port) as url:
        services: list[Service] = []
        if args.role in ("all", "ingest"):
            services.append(IngestService(url, instance=args.instance))
        if args.role in ("all", "classification"):
            services.append(ClassificationProjector(url, replica=args.replica))
        if args.role in ("all", "standings"):
            services.append(StandingsProjector(url))
        announce = None
        if args.role in ("all", "gateway"):
            gateway, tokens = _gateway(url, args)
            services.append(gateway)

            def announce() -> None:
                console.print(f"live timing page: {gateway.url}/?token={tokens[0]}")

        console.print(f"serving {args.role} on {url}; Ctrl-C to stop")
        if args.ops_port:
            ops = OpsServer(args.ops_port, lambda: all(service.ready for service in services))
            await ops.start()
            console.print(f"health, readiness and metrics on :{args.ops_port} (/healthz /readyz /metrics)")
        try:
            await run_until_signal(services, started=announce)
        finally:
            if args.ops_port:
                await ops.stop()
    return 0


async def _replay(args: argparse.Namespace) -> int:
    events = list(retarget(read_log(args.log), SessionRef.parse(args.session) if args.session else None))
    async with _client(args, "chequered-replay") as nc:
        report = await replay(nc, events, speed=_speed(args), console=console)
    console.print(
        f"{report.accepted:,} accepted, {report.duplicates:,} duplicates, {report.rejected:,} rejected, "
        f"{report.skipped:,} already stored, in {report.seconds:.1f}s"
    )
    return 1 if report.rejected else 0


async def _tower(args: argparse.Namespace) -> int:
    with broker_url(args.nats, args.home / "nats", console) as url:
        await _watch_tower(url, SessionRef.parse(args.session), until_finished=False)
    return 0


async def _rejects(args: argparse.Namespace) -> int:
    from services.ops.rejects import list_rejects

    async with _client(args, "chequered-rejects") as nc:
        await list_rejects(nc.jetstream(), console, session=args.session, limit=args.limit)
    return 0


async def _rebuild(args: argparse.Namespace) -> int:
    async with _client(args, "chequered-rebuild") as nc:
        report = await rebuild(nc.jetstream(), args.projection, session=args.session, console=console)
    console.print(
        f"[green]rebuilt[/green] {report.sessions} session(s) from {report.events:,} events in {report.seconds:.2f}s "
        f"({report.events / max(report.seconds, 1e-9):,.0f} ev/s); readers now use {report.bucket}"
    )
    return 0


async def _verify(args: argparse.Namespace) -> int:
    async with _client(args, "chequered-verify") as nc:
        report = await verify_all(nc.jetstream(), args.session)
    for divergence in report.divergences:
        console.print(f"[red]{divergence.session} diverges[/red] from {divergence.event}")
        for line in divergence.differences[:20]:
            console.print(f"   {line}")
    ok = not report.divergences
    console.print(
        f"{'[green]ok[/green]' if ok else '[red]diverged[/red]'}: {report.checked} read model(s) checked, "
        f"{len(report.divergences)} differ from a fresh fold of the log"
    )
    return 0 if ok else 1


async def _at(args: argparse.Namespace) -> int:
    key = SessionRef.parse(args.session)
    async with _client(args, "chequered-at") as nc:
        championship_log = await read_events(nc.jetstream(), f"{key.championship}.>")
    events = [(seq, e) for seq, e in championship_log if e.session == key]
    if not events:
        raise LookupError(f"no events of session {key.key} in the stream")
    started = next((e.at for _, e in events if isinstance(e.body, SessionStarted)), None)
    instant = parse_instant(args.time, started) if args.time else None
    state = fold_until(events, seq=args.seq, at=instant).sessions.get(key.key)
    if state is None or state.opened is None:
        raise LookupError(f"session {key.key} was not open at that point")
    console.print(render_tower(state.classification()))
    as_it_stood = [
        (seq, e)
        for seq, e in championship_log
        if (args.seq is None or seq <= args.seq)
        and (instant is None or e.at <= instant or isinstance(e.body, ChampionshipConfigured))
    ]  # the points configuration in force applies whenever it was published
    standings = standings_from_log(as_it_stood, key.championship)
    if standings is not None:
        for table in render_tables(standings)[:3]:
            console.print(table)
    return 0


async def _export(args: argparse.Namespace) -> int:
    key = SessionRef.parse(args.session).key
    async with _client(args, "chequered-export") as nc:
        events = await read_events(nc.jetstream(), key)
    if not events:
        raise LookupError(f"no events of session {key} in the stream")
    fmt = args.format or ("csv" if args.out.suffix == ".csv" else "jsonl")
    with Progress(console=console) as progress, args.out.open("w" if fmt == "csv" else "wb") as out:
        task = progress.add_task("export", total=len(events))
        changes = history(events, key, progress=lambda: progress.advance(task))
        for chunk in to_csv(changes) if fmt == "csv" else to_jsonl(changes):
            out.write(chunk)
    console.print(f"wrote {args.out}")
    return 0


async def _record(args: argparse.Namespace) -> int:
    follow = asyncio.Event() if args.follow else None
    if follow is not None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGINT, follow.set)
        console.print("recording; Ctrl-C to stop")
    async with _client(args, "chequered-record") as nc:
        count = await record(nc.jetstream(), SessionRef.parse(args.session), args.out, follow=follow)
    console.print(f"wrote {count:,} events of {args.session} to {args.out}")
    return 0


def _race_control_body(args: argparse.Namespace) -> EventBody:
    what = args.what
    if what == "flag":
        return FlagChanged(flag=Flag(args.flag), sector=args.sector)
    if what == "penalty":
        return racecontrol.penalty(args.number, args.decision, args.kind, args.amount, args.reason)
    if what == "retire":
        return CarRetired(number=args.number, reason=args.reason)
    if what == "delete-lap":
        return LapDeleted(number=args.number, decision=args.decision, lap=args.lap, reason=args.reason)
    if what == "withdraw":
        return DecisionWithdrawn(decision=args.decision, reason=args.reason)
    if what == "results":
        return ResultsDeclared(status=ResultsStatus(args.status))
    if what == "config":
        return _configured(args.file)
    return SessionFinished()


async def _publish(args: argparse.Namespace) -> int:
    session = SessionRef.parse(args.session)
    at = parse_instant(args.at, None) if args.at else int(time.time() * 1000)
    event = racecontrol.race_control_event(session, _race_control_body(args), at, args.id)
    async with _client(args, "chequered-publish") as nc:
        reply = await Producer(nc).send(event)
    if isinstance(reply, Rejected):
        console.print(f"[red]rejected[/red] ({reply.code.value}): {reply.reason}")
        return 1
    console.print(
        f"[green]{'already stored' if reply.duplicate else 'stored'}[/green] as {event.id} at seq {reply.seq}"
    )
    return 0


async def _edge(args: argparse.Namespace) -> int:
    async with _client(args, "chequered-edge") as nc:
        domains = await source_from(nc.jetstream(), args.domain)
    console.print(f"the central stream sources the circuits of domains: {', '.join(domains)}")
    return 0


async def _setup(args: argparse.Namespace) -> int:
    async with _client(args, "chequered-setup") as nc:
        await ensure_topology(nc.jetstream(), Topology(replicas=args.replicas), update=args.update)
    console.print("[green]streams and buckets are in place[/green]")
    return 0


def _simulate(args: argparse.Namespace) -> int:
    spec = RaceSpec(seed=args.seed, cars=args.cars, duration_ms=int(args.hours * 3600_000), laps=args.laps)
    events = simulate(spec)
    write_log(events, args.out)
    console.print(f"wrote {len(events):,} events of a {args.cars}-car race (seed {args.seed}) to {args.out}")
    return 0


async def _feed(args: argparse.Namespace) -> int:
    session = SessionRef.parse(args.session)
    options = RMonitorOptions(time_zone=args.time_zone, day=args.day, run=args.run)
    async with _client(args, "chequered-feed") as nc:
        if args.capture is not None:
            report = await run_rmonitor_capture(
                nc, args.capture, session, _speed(args), options=options, console=console
            )
        else:
            stop = asyncio.Event()
            for sig in (signal.SIGINT, signal.SIGTERM):
                asyncio.get_running_loop().add_signal_handler(sig, stop.set)
            console.print(f"following RMonitor at {args.host}:{args.port}; Ctrl-C to stop")
            report = await run_rmonitor_live(
                nc, args.host, args.port, session, stop=stop, options=options, console=console
            )
    return _feed_summary(report)


async def _import(args: argparse.Namespace) -> int:
    async with _client(args, "chequered-import") as nc:
        report = await import_alkamel(
            nc, args.file, SessionRef.parse(args.session), name=args.name, kind=SessionKind(args.session_kind),
            day=args.day, time_zone=args.time_zone, console=console,
        )  # fmt: skip
    return _feed_summary(report)


def _feed_summary(report: FeedReport) -> int:
    for number, reason in report.read.errors[:20]:
        console.print(f"[yellow]line {number} skipped[/yellow]: {reason}")
    console.print(
        f"{report.accepted:,} accepted, {report.duplicates:,} duplicates, {report.rejected:,} rejected; "
        f"{report.lines_skipped:,} of {report.lines:,} lines skipped"
    )
    return 1 if report.rejected else 0


def _standings(args: argparse.Namespace) -> int:
    return run_offline(args.config, args.logs, args.format)


def _schemas(_: argparse.Namespace) -> int:
    from schemas.jsonschema import write

    for path in write():
        console.print(f"wrote {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chequered", description="Event-sourced live timing and scoring on NATS JetStream"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="embedded NATS, ingest, projector, and a sample race classified live")
    demo.add_argument("--log", type=Path, default=SAMPLE_LOG, help="race log to replay (default: the shipped sample)")
    demo.add_argument("--speed", type=float, default=60.0, help="times the recorded pace (default 60)")
    demo.add_argument("--max", action="store_true", help="as fast as possible")
    demo.add_argument("--nats", metavar="URL", help="use this NATS server instead of the embedded one")
    _gateway_args(demo, 8080)
    demo.set_defaults(run=_demo)

    serve = sub.add_parser("serve", help="run services until Ctrl-C")
    serve.add_argument(
        "role", choices=("all", "ingest", "classification", "standings", "gateway"), nargs="?", default="all"
    )
    _gateway_args(serve, 8080)
    serve.add_argument("--port", type=int, default=4222, help="port of the embedded broker")
    serve.add_argument(
        "--replica", help="run the classification projector as this replica of several (sessions are shared)"
    )
    serve.add_argument(
        "--instance",
        help="run ingest as this instance of several: one answers, the others stand by and take over (about 2 s)",
    )
    serve.add_argument("--ops-port", type=int, default=0, help="serve /healthz, /readyz, /metrics on this port")
    serve.add_argument("--log-format", choices=("text", "json"), default="text", help="json: one object a line")
    _nats_args(serve)
    serve.set_defaults(run=_serve)

    rep = sub.add_parser("replay", help="publish a race log through ingest")
    rep.add_argument("log", type=Path)
    rep.add_argument("--session", help="replay into this session key (championship.event.session)")
    rep.add_argument("--speed", type=float, default=1.0, help="times the recorded pace (default 1)")
    rep.add_argument("--max", action="store_true", help="as fast as possible")
    _nats_args(rep)
    rep.set_defaults(run=_replay)

    tower = sub.add_parser("tower", help="watch a session's live classification")
    tower.add_argument("session", help="championship.event.session")
    _nats_args(tower)
    tower.set_defaults(run=_tower)

    rejects = sub.add_parser("rejects", help="list rejected input and dead letters with their reasons")
    rejects.add_argument("--session", help="only this session key")
    rejects.add_argument("--limit", type=int, default=50)
    _nats_args(rejects)
    rejects.set_defaults(run=_rejects)

    setup = sub.add_parser("setup", help="create streams and buckets (idempotent)")
    setup.add_argument("--update", action="store_true", help="apply configuration changes to existing streams")
    setup.add_argument("--replicas", type=int, default=Topology().replicas, help="default: $CHEQUERED_REPLICAS or 1")
    _nats_args(setup)
    setup.set_defaults(run=_setup)

    edge = sub.add_parser("edge", help="trackside edge: source a circuit's stream into the central one")
    edge_what = edge.add_subparsers(dest="what", required=True)
    source = edge_what.add_parser("source", help="add the circuit of a JetStream domain (idempotent)")
    source.add_argument("domain", help="the circuit's JetStream domain, e.g. monza")
    _nats_args(source)
    source.set_defaults(run=_edge)

    sim = sub.add_parser("simulate", help="generate a deterministic multi-class race log")
    sim.add_argument("--seed", type=int, default=1)
    sim.add_argument("--cars", type=int, default=45)
    sim.add_argument("--hours", type=float, default=3.0)
    sim.add_argument("--laps", type=int, default=None, help="a lap-count race instead of a time-certain one")
    sim.add_argument("--out", type=Path, required=True, help="output .jsonl or .jsonl.gz")
    sim.set_defaults(run=_simulate)

    reb = sub.add_parser("rebuild", help="rebuild read models from the stream into a new bucket, then switch")
    reb.add_argument("projection", choices=sorted(PROJECTIONS))
    reb.add_argument("--session", help="only this session key")
    _nats_args(reb)
    reb.set_defaults(run=_rebuild)

    ver = sub.add_parser("verify", help="compare served read models with a fresh fold of the stream")
    ver.add_argument("--session", help="only this session key")
    _nats_args(ver)
    ver.set_defaults(run=_verify)

    at = sub.add_parser("at", help="the classification as it stood at an instant or a stream sequence")
    at.add_argument("session", help="championship.event.session")
    when = at.add_mutually_exclusive_group(required=True)
    when.add_argument("--time", help="ISO 8601, epoch ms, or session time since the green: 6h, 6:00:00")
    when.add_argument("--seq", type=int, help="stream sequence")
    _nats_args(at)
    at.set_defaults(run=_at)

    exp = sub.add_parser("export", help="a session's classification history as JSON lines or CSV")
    exp.add_argument("session", help="championship.event.session")
    exp.add_argument("--out", type=Path, required=True, help="output .jsonl or .csv")
    exp.add_argument("--format", choices=("jsonl", "csv"))
    _nats_args(exp)
    exp.set_defaults(run=_export)

    rec = sub.add_parser("record", help="write a session's events from the stream to a race-log file")
    rec.add_argument("session", help="championship.event.session")
    rec.add_argument("--out", type=Path, required=True, help="output .jsonl or .jsonl.gz")
    rec.add_argument("--follow", action="store_true", help="keep recording new events until Ctrl-C")
    _nats_args(rec)
    rec.set_defaults(run=_record)

    pub = sub.add_parser("publish", help="one race-control input: a flag, a penalty, a retirement, a decision")
    pub.add_argument("session", help="championship.event.session")
    pub.add_argument("--at", help="when (ISO 8601 or epoch ms; default now)")
    pub.add_argument("--id", help="event id (default: derived, so repeating the command is idempotent)")
    _nats_args(pub)
    what = pub.add_subparsers(dest="what", required=True)
    fl = what.add_parser("flag", help="a flag: green, yellow, full_course_yellow, safety_car, red, chequered")
    fl.add_argument("flag", choices=[f.value for f in Flag])
    fl.add_argument("--sector", type=int, help="a local flag in this sector")
    pen = what.add_parser("penalty", help="a stewards' decision against a car")
    pen.add_argument("number")
    pen.add_argument("decision", help="the decision's document number, e.g. D12")
    pen.add_argument("kind", choices=[k.value for k in PenaltyKind])
    pen.add_argument("amount", nargs="?", help="time (5s, 1:05.2) or a count of laps/positions")
    pen.add_argument("--reason", default="")
    ret = what.add_parser("retire", help="a car retires")
    ret.add_argument("number")
    ret.add_argument("--reason", default="")
    dl = what.add_parser("delete-lap", help="a lap time deleted (track limits)")
    dl.add_argument("number")
    dl.add_argument("decision")
    dl.add_argument("lap", type=int)
    dl.add_argument("--reason", default="track limits")
    wd = what.add_parser("withdraw", help="withdraw a decision (appeal upheld)")
    wd.add_argument("decision")
    wd.add_argument("--reason", default="")
    res = what.add_parser("results", help="declare the results")
    res.add_argument("status", choices=[r.value for r in ResultsStatus])
    what.add_parser("chequered", help="show the chequered flag")
    cfg = what.add_parser(
        "config", help="the championship's points configuration (session <championship>._championship.points)"
    )
    cfg.add_argument("file", type=Path, help="a TOML file like services/standings/configs/gt-endurance.toml")
    pub.set_defaults(run=_publish)

    feed = sub.add_parser("feed", help="ingest a live timing feed (needs a running ingest: chequered serve)")
    feed.add_argument("kind", choices=("rmonitor",))
    feed.add_argument("--session", required=True, help="championship.event.session to write into")
    feed.add_argument("--host", default="127.0.0.1")
    feed.add_argument("--port", type=int, default=DEFAULT_PORT)
    feed.add_argument("--capture", type=Path, help="play a capture file instead of connecting")
    feed.add_argument("--speed", type=float, default=1.0, help="capture: times the recorded pace")
    feed.add_argument("--max", action="store_true", help="capture: as fast as possible")
    feed.add_argument("--time-zone", default="UTC", help="the circuit's zone: RMonitor times of day are local")
    feed.add_argument("--day", type=date.fromisoformat, help="the session's date, YYYY-MM-DD")
    feed.add_argument("--run", type=int, help="only this RMonitor run number")
    _nats_args(feed)
    feed.set_defaults(run=_feed)

    imp = sub.add_parser("import", help="import an Al Kamel analysis CSV (needs a running ingest)")
    imp.add_argument("kind", choices=("alkamel",))
    imp.add_argument("file", type=Path)
    imp.add_argument("--session", required=True, help="championship.event.session to write into")
    imp.add_argument("--name", default="Race")
    imp.add_argument("--session-kind", choices=[k.value for k in SessionKind], default="race")
    imp.add_argument("--day", type=date.fromisoformat, help="the race's date, YYYY-MM-DD")
    imp.add_argument("--time-zone", default="UTC")
    _nats_args(imp)
    imp.set_defaults(run=_import)

    st = sub.add_parser("standings", help="championship standings from race logs (no broker needed)")
    st.add_argument("--config", required=True, type=Path, help="championship TOML (services/standings/configs/*.toml)")
    st.add_argument("logs", nargs="+", type=Path, help="race logs: JSON lines of events, .gz allowed")
    st.add_argument("--format", choices=["table", "json", "csv"], default="table")
    st.set_defaults(run=_standings)

    schemas = sub.add_parser("schemas", help="regenerate the JSON Schema files in schemas/json")
    schemas.set_defaults(run=_schemas)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result = args.run(args)
        if asyncio.iscoroutine(result):
            with contextlib.suppress(KeyboardInterrupt):
                return int(asyncio.run(result))
            return 130
        return int(result)
    except TopologyConflict as error:
        console.print(f"[red]error:[/red] {error}")
        return 2
    except (msgspec.ValidationError, ConfigError, FileNotFoundError, LookupError, ValueError) as error:
        console.print(f"[red]error:[/red] {error}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
