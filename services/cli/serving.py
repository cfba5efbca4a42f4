"""``chequered demo`` and ``chequered serve``: running the services."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from schemas.events import Event, ResultsDeclared, ResultsStatus, SessionRef
from schemas.results import Classification
from schemas.standings import Standings
from services.broker.connection import connect
from services.classification.projector import ClassificationProjector
from services.classification.tower import render_tower
from services.cli.bootstrap import (
    DEMO_CHAMPIONSHIP,
    SAMPLE_LOG,
    configured,
    console,
    gateway_service,
    gateway_tokens,
)
from services.cli.options import TOKENS_ENV, gateway_options, pace_options, speed
from services.cli.watch import wait_for_standings, watch_tower
from services.documents.service import DocumentsService
from services.gateway.server import GatewayService
from services.home import Serving
from services.ingest import racecontrol
from services.ingest.client import Producer
from services.ingest.service import IngestService
from services.observability import Checks, OpsServer, configure_logging, ops_host, readiness
from services.ops.racelog import read_log
from services.ops.replay import ReplayReport, replay
from services.ports import address, inherited, listen
from services.runtime import (
    DEFAULT_HOME,
    Broker,
    Service,
    broker_url,
    home_broker,
    on_signals,
    run_until_signal,
    stop_services,
    unless_signalled,
)
from services.simulator import titlefight
from services.standings.projector import StandingsProjector
from services.standings.render import render_tables, render_titles
from services.supervisor import Relay, Supervisor, service_spec

ROLES = ("all", "ingest", "classification", "standings", "gateway", "documents")
SCENARIOS = {"title-fight": titlefight}
"""Seasons the demo can play to their finale: the module gives its rules, its season before the finale, and
the finale."""


async def demo(args: argparse.Namespace) -> int:
    scenario = SCENARIOS[args.scenario] if args.scenario else None
    events = scenario.finale() if scenario else list(read_log(args.log))
    session = events[0].session
    signalled = asyncio.Event()
    on_signals(signalled)
    started: list[Service] = []
    finished = False
    with (
        tempfile.TemporaryDirectory(prefix="chequered-demo-") as store,
        broker_url(args.nats, args.home, console, command="demo", store=Path(store)) as url,
    ):
        gateway, tokens = gateway_service(url, args)
        try:
            for service in (IngestService(url), ClassificationProjector(url), StandingsProjector(url), gateway):
                if not await unless_signalled(service.start(), signalled):
                    break
                started.append(service)
            else:
                page = f"{gateway.url}/?session={session.key}&token={tokens[0]}"
                say(f"[bold]live timing page[/bold]: {page}")
                race = asyncio.ensure_future(_demo_race(url, events, args, page, scenario))
                if await unless_signalled(race, signalled):
                    finished = True
                    _show_results(*race.result(), page, titles=scenario is not None)
                    if args.linger and not signalled.is_set():
                        say(f"the page stays up until Ctrl-C; in another terminal, try: {_try_next(args, session)}")
                        await signalled.wait()
        finally:
            signalled.clear()
            await stop_services(started, signalled)
    say(f"demo stopped; to run it yourself: chequered serve all, then chequered replay {_shown(args.log)} --max")
    return 0 if finished else 130


async def _demo_race(
    url: str, events: list[Event], args: argparse.Namespace, page: str, scenario: ModuleType | None
) -> tuple[ReplayReport, Classification | None, Standings | None]:
    """The championship configured (and a scenario's season before its finale), the race replayed while the
    tower follows it, the results declared."""
    session = events[0].session
    config = SessionRef.championship_of(session.championship)
    nc = await connect(url, "chequered-demo")
    try:
        console.print(
            f"[bold]chequered demo[/bold]: {len(events):,} events of {session.key} at "
            f"{'full speed' if args.max else f'{args.speed:g}x'} through ingest → JetStream → projectors → KV"
        )
        producer = Producer(nc)
        rules = scenario.CONFIG if scenario else DEMO_CHAMPIONSHIP
        await producer.send(racecontrol.race_control_event(config, configured(rules), events[0].at))
        if scenario:  # the season before this race, its results declared: the title fight it leaves
            await producer.send_all(scenario.prelude())
            before = await wait_for_standings(nc, session.championship, declared=scenario.EVENTS[-2])
            for view in render_titles(before)[:3] if before is not None else []:
                console.print(view)
        title = scenario is not None
        watch = asyncio.create_task(watch_tower(url, session, until_finished=True, caption=page, title=title))
        try:
            report = await replay(nc, events, speed=speed(args), console=None)
            final = await asyncio.wait_for(watch, timeout=30)
        finally:
            watch.cancel()  # interrupted: the live tower ends with the race
        declared = ResultsDeclared(status=ResultsStatus.FINAL)
        await producer.send(racecontrol.race_control_event(session, declared, events[-1].at + 60_000))
        return report, final, await wait_for_standings(nc, session.championship, declared=session.event)
    finally:
        await nc.close()


def _show_results(
    report: ReplayReport, final: Classification | None, standings: Standings | None, page: str, *, titles: bool
) -> None:
    if final is not None:
        console.print(render_tower(final, width=console.width, caption=page), crop=False)
    if standings is not None:
        for table in render_tables(standings, width=console.width)[:3]:
            console.print(table, crop=False)
        for view in render_titles(standings)[:3] if titles else []:
            console.print(view, crop=False)
    console.print(f"[green]done[/green]: {report.accepted:,} events accepted, {report.rejected} rejected")
    say(f"[bold]live timing page[/bold]: {page}")


def _try_next(args: argparse.Namespace, session: SessionRef) -> str:
    """A command that reads the demo's race while it lingers (its broker is found through the home)."""
    where = f" --nats {args.nats}" if args.nats else "" if args.home == DEFAULT_HOME else f" --home {args.home}"
    return f"chequered at {session.key} --time 1h{where}"


def _shown(path: Path) -> str:
    """A path as the user can type it from here."""
    with contextlib.suppress(ValueError):
        return str(path.resolve().relative_to(Path.cwd()))
    return str(path)


async def serve(args: argparse.Namespace) -> int:
    configure_logging(args.log_format)
    if args.role == "all":
        return await serve_all(args)
    return await serve_one(args)


async def serve_one(args: argparse.Namespace) -> int:
    """One service (or, for a child of ``serve all``, the one it was given) in this process."""
    supervised = args.ops_fd is not None
    ops_listener = inherited(args.ops_fd) if supervised else _ops_listener(args)
    gateway_listener = None
    if args.role == "gateway":
        gateway_listener = inherited(args.gateway_fd) if args.gateway_fd is not None else _gateway_listener(args)
    command = f"serve {args.role}"
    with home_broker(args.nats, args.home, console, command=command, port=args.port, exclusive=True) as broker:
        services: list[Service] = []
        if args.role == "ingest":
            services.append(IngestService(broker.url, instance=args.instance))
        if args.role == "classification":
            services.append(ClassificationProjector(broker.url, replica=args.replica))
        if args.role == "standings":
            services.append(StandingsProjector(broker.url))
        if args.role == "documents":
            services.append(DocumentsService(broker.url))
        announce = None
        if args.role == "gateway":
            gateway, tokens = gateway_service(broker.url, args, gateway_listener)
            services.append(gateway)

            def announce() -> None:
                if not supervised:
                    say(f"live timing page: {gateway.url}/?token={tokens[0]}")

        say(f"serving {args.role} on {broker.url}; Ctrl-C to stop")
        _announce(broker, command, gateway_listener, ops_listener)
        ops = None
        if ops_listener is not None:
            ops = OpsServer(0, service_checks(services), listener=ops_listener)
            await ops.start()
            if not supervised:
                say(f"health, readiness and metrics on {ops.url} (/healthz /readyz /metrics)")
        try:
            await run_until_signal(services, started=announce)
        finally:
            if ops is not None:
                await ops.stop()
    say(f"stopped: {flushed(services)}")
    return 0


async def serve_all(args: argparse.Namespace) -> int:
    """The embedded broker (unless ``--nats``) and one child process per service, supervised."""
    stopping, urgent = asyncio.Event(), asyncio.Event()
    ops_listener = _ops_listener(args)
    gateway_listener = _gateway_listener(args)
    tokens = gateway_tokens(args)
    with home_broker(args.nats, args.home, console, command="serve all", port=args.port, exclusive=True) as broker:
        fmt = args.log_format
        instance = ["--instance", args.instance] if args.instance else []
        replica = ["--replica", args.replica] if args.replica else []
        specs = [
            service_spec("ingest", broker.url, fmt, instance),
            service_spec("classification", broker.url, fmt, replica),
            service_spec("standings", broker.url, fmt),
            service_spec("documents", broker.url, fmt),
        ]
        gateway = service_spec("gateway", broker.url, fmt, ["--gateway-fd", str(gateway_listener.fileno())])
        gateway.sockets.append(gateway_listener)
        gateway.env[TOKENS_ENV] = ",".join(tokens)
        specs.append(gateway)
        host, port = address(gateway_listener)
        page = f"http://{host}:{port}"
        supervisor = Supervisor(specs, _relay(fmt), broker.server)
        ops = None
        if ops_listener is not None:
            ops = OpsServer(0, supervisor.checks, metrics=supervisor.metrics, listener=ops_listener)
        _announce(broker, "serve all", gateway_listener, ops_listener)

        def signalled() -> None:
            (urgent if stopping.is_set() else stopping).set()

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, signalled)
        say(f"serving all on {broker.url}: {', '.join(spec.name for spec in specs)}, a process each")
        try:
            if ops is not None:
                await ops.start()
                say(f"health, readiness and metrics on {ops.url} (/healthz /readyz /metrics)")
            await supervisor.start()
            ready = asyncio.ensure_future(supervisor.wait_ready())
            if await unless_signalled(ready, stopping) and ready.result():
                say("every service is ready; Ctrl-C to stop")
                say(f"live timing page: {page}/?token={tokens[0]}")
            await unless_signalled(supervisor.failed.wait(), stopping)  # until Ctrl-C, or a child that cannot start
        finally:
            began = time.monotonic()
            killed = await supervisor.stop(urgent)
            if ops is not None:
                await ops.stop()
    took = time.monotonic() - began
    if killed:
        say(f"{', '.join(killed)} did not stop in time and were killed: they resume from the log")
    broker_last = "" if broker.server is None else f", the broker last (its store {broker.server.store_dir} closed)"
    say(f"stopped in {took:.1f} s{broker_last}: each service said above what it flushed")
    return 2 if supervisor.failed.is_set() else 0


def _announce(broker: Broker, command: str, gateway: socket.socket | None, ops: socket.socket | None) -> None:
    """Say in the home where this ``serve`` listens, when it runs the home's broker (other commands look there)."""
    if broker.lock is None:
        return

    def url(listener: socket.socket | None) -> str:
        return "" if listener is None else "http://{}:{}".format(*address(listener))

    serving = Serving(pid=os.getpid(), command=command, nats=broker.url, gateway=url(gateway), ops=url(ops))
    broker.lock.announce(serving)


def say(line: str) -> None:
    """A line of ``serve``: whole, however narrow the terminal (a URL or a path broken in two is no use)."""
    console.print(line, soft_wrap=True)


def _ops_listener(args: argparse.Namespace) -> socket.socket | None:
    return None if args.ops_port is None else listen(ops_host(args.ops_host), args.ops_port, "ops", "--ops-port")


def _gateway_listener(args: argparse.Namespace) -> socket.socket:
    return listen(args.host, args.gateway_port, "gateway", "--gateway-port")


def _relay(log_format: str) -> Relay:
    """Each child's lines, its name in front (JSON lines: a ``service`` field added)."""
    if log_format == "json":

        def relay_json(name: str, line: str) -> None:
            try:
                entry = json.loads(line)
            except ValueError:
                entry = None
            record = {**entry, "service": name} if isinstance(entry, dict) else {"service": name, "message": line}
            console.out(json.dumps(record), highlight=False)

        return relay_json

    def relay_text(name: str, line: str) -> None:
        console.out(f"{name:<14}| {line}", highlight=False)

    return relay_text


def service_checks(services: Sequence[Service]) -> Checks:
    return readiness(**{SERVICE_NAMES.get(type(s), type(s).__name__): lambda s=s: s.ready for s in services})


SERVICE_NAMES: dict[type, str] = {
    IngestService: "ingest",
    ClassificationProjector: "classification",
    StandingsProjector: "standings",
    GatewayService: "gateway",
    DocumentsService: "documents",
}


def flushed(services: Sequence[Service]) -> str:
    """What the stopped services had made durable, for the last line of a process."""
    parts = []
    for service in services:
        if isinstance(service, IngestService):
            parts.append(f"ingest acknowledged {service.accepted:,} events, each stored in the stream first")
        elif isinstance(service, ClassificationProjector):
            written = max(service.written.values(), default=0)
            parts.append(
                f"classification folded to seq {service.projection.last_seq:,}, its read models written to {written:,}"
            )
        elif isinstance(service, StandingsProjector):
            parts.append(f"standings folded and written to seq {service.folded:,}")
        elif isinstance(service, DocumentsService):
            parts.append(f"documents stored for {sum(1 for seq in service.generated.values() if seq):,} session(s)")
        elif isinstance(service, GatewayService):
            parts.append("gateway connections closed")
    return "; ".join(parts) or "nothing to flush"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], broker: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "demo", parents=[broker], help="embedded NATS, ingest, projector, and a sample race classified live"
    )
    parser.add_argument("--log", type=Path, default=SAMPLE_LOG, help="race log to replay (default: the shipped sample)")
    parser.add_argument(
        "--scenario",
        choices=sorted(SCENARIOS),
        help="a season to its finale instead: title-fight, four crews within three points (replaces --log)",
    )
    parser.add_argument(
        "--linger",
        action=argparse.BooleanOptionalAction,
        default=sys.stdout.isatty(),
        help="keep the page up after the flag until Ctrl-C (default: when the output is a terminal)",
    )
    pace_options(parser, 60.0)
    gateway_options(parser, 8080)
    parser.set_defaults(handler=demo)

    parser = sub.add_parser("serve", parents=[broker], help="run services until Ctrl-C")
    parser.add_argument("role", choices=ROLES, nargs="?", default="all")
    gateway_options(parser, 8080)
    parser.add_argument("--port", type=int, default=4222, help="port of the embedded broker (0: any free port)")
    parser.add_argument(
        "--replica", help="run the classification projector as this replica of several (sessions are shared)"
    )
    parser.add_argument(
        "--instance",
        help="run ingest as this instance of several: one answers, the others stand by and take over (about 2 s)",
    )
    parser.add_argument(
        "--ops-port", type=int, help="serve /healthz, /readyz, /metrics on this port (0: any free port)"
    )
    parser.add_argument(
        "--ops-host", help="address of the ops port (default $CHEQUERED_OPS_HOST, else 127.0.0.1; 0.0.0.0: network)"
    )
    parser.add_argument("--ops-fd", type=int, help="serve the ops endpoints on this inherited socket (serve all)")
    parser.add_argument("--gateway-fd", type=int, help="serve the gateway on this inherited socket (serve all)")
    parser.add_argument("--log-format", choices=("text", "json"), default="text", help="json: one object a line")
    parser.set_defaults(handler=serve)
