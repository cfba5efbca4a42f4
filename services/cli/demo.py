"""``chequered demo``: every service in one process, a race replayed through them while the tower follows it."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
from pathlib import Path
from types import ModuleType

from schemas.events import Event, ResultsDeclared, ResultsStatus, SessionRef
from schemas.results import Classification
from schemas.standings import Standings
from services.broker.connection import connect
from services.classification.projector import ClassificationProjector
from services.classification.tower import render_tower
from services.cli.bootstrap import DEMO_CHAMPIONSHIP, configured, console, gateway_service, say
from services.cli.options import speed
from services.cli.watch import wait_for_standings, watch_tower
from services.ingest import racecontrol
from services.ingest.client import Producer
from services.ingest.service import IngestService
from services.ops.racelog import read_log
from services.ops.replay import ReplayReport, replay
from services.runtime import DEFAULT_HOME, Service, broker_url, on_signals, stop_services, unless_signalled
from services.standings.projector import StandingsProjector
from services.standings.render import render_tables, render_titles


async def run_demo(args: argparse.Namespace, scenario: ModuleType | None) -> int:
    """The demo of ``args``: the race of ``--log``, or ``scenario``'s finale."""
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
