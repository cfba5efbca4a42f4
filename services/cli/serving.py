"""``chequered demo`` and ``chequered serve``: running the services."""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

from schemas.events import ResultsDeclared, ResultsStatus, SessionRef
from services.broker.connection import connect
from services.classification.projector import ClassificationProjector
from services.classification.tower import render_tower
from services.cli.bootstrap import DEMO_CHAMPIONSHIP, SAMPLE_LOG, configured, console, gateway_service
from services.cli.options import gateway_options, pace_options, speed
from services.cli.watch import wait_for_standings, watch_tower
from services.documents.service import DocumentsService
from services.ingest import racecontrol
from services.ingest.client import Producer
from services.ingest.service import IngestService
from services.observability import OpsServer, configure_logging
from services.ops.racelog import read_log
from services.ops.replay import replay
from services.runtime import Service, broker_url, run_until_signal
from services.simulator import titlefight
from services.standings.projector import StandingsProjector
from services.standings.render import render_tables, render_titles

ROLES = ("all", "ingest", "classification", "standings", "gateway", "documents")
SCENARIOS = {"title-fight": titlefight}
"""Seasons the demo can play to their finale: the module gives its rules, its season before the finale, and
the finale."""


async def demo(args: argparse.Namespace) -> int:
    scenario = SCENARIOS[args.scenario] if args.scenario else None
    events = scenario.finale() if scenario else list(read_log(args.log))
    session = events[0].session
    config = SessionRef.championship_of(session.championship)
    with (
        tempfile.TemporaryDirectory(prefix="chequered-demo-") as store,
        broker_url(args.nats, Path(store), console) as url,
    ):
        gateway, tokens = gateway_service(url, args)
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
            rules = scenario.CONFIG if scenario else DEMO_CHAMPIONSHIP
            await producer.send(racecontrol.race_control_event(config, configured(rules), events[0].at))
            if scenario:  # the season before this race, its results declared: the title fight it leaves
                await producer.send_all(scenario.prelude())
                before = await wait_for_standings(nc, session.championship, declared=scenario.EVENTS[-2])
                for view in render_titles(before)[:3] if before is not None else []:
                    console.print(view)
            watch = asyncio.create_task(watch_tower(url, session, until_finished=True, title=scenario is not None))
            report = await replay(nc, events, speed=speed(args), console=None)
            final = await asyncio.wait_for(watch, timeout=30)
            declared = ResultsDeclared(status=ResultsStatus.FINAL)
            await producer.send(racecontrol.race_control_event(session, declared, events[-1].at + 60_000))
            standings = await wait_for_standings(nc, session.championship, declared=session.event)
        finally:
            await nc.close()
            for service in reversed(services):
                await service.stop()
    if final is not None:
        console.print(render_tower(final, width=console.width), crop=False)
    if standings is not None:
        for table in render_tables(standings, width=console.width)[:3]:
            console.print(table, crop=False)
        for view in render_titles(standings)[:3] if scenario else []:
            console.print(view, crop=False)
    console.print(f"[green]done[/green]: {report.accepted:,} events accepted, {report.rejected} rejected")
    return 0


async def serve(args: argparse.Namespace) -> int:
    configure_logging(args.log_format)
    with broker_url(args.nats, args.home / "nats", console, port=args.port) as url:
        services: list[Service] = []
        if args.role in ("all", "ingest"):
            services.append(IngestService(url, instance=args.instance))
        if args.role in ("all", "classification"):
            services.append(ClassificationProjector(url, replica=args.replica))
        if args.role in ("all", "standings"):
            services.append(StandingsProjector(url))
        if args.role in ("all", "documents"):
            services.append(DocumentsService(url))
        announce = None
        if args.role in ("all", "gateway"):
            gateway, tokens = gateway_service(url, args)
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
    pace_options(parser, 60.0)
    gateway_options(parser, 8080)
    parser.set_defaults(handler=demo)

    parser = sub.add_parser("serve", parents=[broker], help="run services until Ctrl-C")
    parser.add_argument("role", choices=ROLES, nargs="?", default="all")
    gateway_options(parser, 8080)
    parser.add_argument("--port", type=int, default=4222, help="port of the embedded broker")
    parser.add_argument(
        "--replica", help="run the classification projector as this replica of several (sessions are shared)"
    )
    parser.add_argument(
        "--instance",
        help="run ingest as this instance of several: one answers, the others stand by and take over (about 2 s)",
    )
    parser.add_argument("--ops-port", type=int, default=0, help="serve /healthz, /readyz, /metrics on this port")
    parser.add_argument("--log-format", choices=("text", "json"), default="text", help="json: one object a line")
    parser.set_defaults(handler=serve)
