"""Commands that write into the log through ingest: replay, feed, import, publish; and simulate, which makes a
log to replay."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import signal
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from nats.aio.client import Client
from nats.errors import Error as NatsError

from schemas.events import ChampionshipConfigured, ClassificationRules, Event, EventBody, SessionKind, SessionRef
from schemas.ingest import Rejected
from services.classification.timefmt import format_clock, format_instant
from services.cli.bootstrap import configured, console, nats_client
from services.cli.calendar import publish_calendar
from services.cli.options import pace_options, rules, rules_option, shared, speed
from services.feeds.ingestor import (
    DEFAULT_PORT,
    AlKamelOptions,
    FeedReport,
    RMonitorOptions,
    Weekend,
    import_alkamel,
    run_rmonitor_capture,
    run_rmonitor_live,
)
from services.ingest import racecontrol
from services.ingest.client import Producer, session_view
from services.ops.instants import parse_instant
from services.ops.pacing import retarget, with_rules
from services.ops.racelog import read_log, write_log
from services.ops.replay import replay, stored_ids
from services.simulator.endurance import RaceSpec, simulate

RESUME_COUNT_TIMEOUT_S = 10.0
"""How long an interrupted replay spends counting what it stored before it says how to resume."""


async def replay_log(args: argparse.Namespace) -> int:
    session = SessionRef.parse(args.session) if args.session else None
    events = list(with_rules(retarget(read_log(args.log), session), rules(args)))
    async with nats_client(args, "chequered-replay") as nc:
        try:
            report = await replay(nc, events, speed=speed(args), console=console)
        except asyncio.CancelledError:  # Ctrl-C
            await _resume_hint(nc, events)
            raise
    console.print(
        f"{report.accepted:,} accepted, {report.duplicates:,} duplicates, {report.rejected:,} rejected, "
        f"{report.skipped:,} already stored, in {report.seconds:.1f}s"
    )
    return 1 if report.rejected else 0


async def _resume_hint(nc: Client, events: list[Event]) -> None:
    """What an interrupted replay stored, and how to go on: the same command skips what is stored."""
    if not events:
        return
    session = events[0].session
    try:
        held = len(await asyncio.wait_for(stored_ids(nc.jetstream(), session), RESUME_COUNT_TIMEOUT_S))
        done = f"{held:,} of the log's {len(events):,} events of {session.key} are stored"
    except (NatsError, TimeoutError):
        done = f"some of the log's {len(events):,} events of {session.key} are stored"
    console.print(
        f"[yellow]replay interrupted[/yellow]: {done}; run the same command again to resume "
        "(what is stored is skipped, nothing is sent twice)"
    )


async def publish(args: argparse.Namespace) -> int:
    if args.what == "calendar":
        return await publish_calendar(args)
    session = SessionRef.parse(args.session)
    config = configured(args.file) if args.what == "config" else None
    _input(args, config, None)  # what was typed reads, before anything connects
    async with nats_client(args, "chequered-publish") as nc:
        try:
            view = await session_view(nc.jetstream(), session)
        except (NatsError, TimeoutError) as error:
            console.print(f"[yellow]cannot read {session.key} from the log ({error!r}): sent unchecked[/yellow]")
            view = racecontrol.SessionView(session)
        started = view.fold.started_at if view.fold is not None else None
        now = int(time.time() * 1000)
        at = parse_instant(args.at, started) if args.at else racecontrol.default_instant(view, now)
        event = racecontrol.race_control_event(session, _input(args, config, view.rules), at, args.id)
        if not args.at:  # the same command again: the input as it was stored, so a duplicate rather than a conflict
            event = racecontrol.as_stored(event, view)
        reply = await Producer(nc).send_race_control(event, view)
    if isinstance(reply, Rejected):
        console.print(f"[red]rejected[/red] ({reply.code.value}): {reply.reason}")
        return 1
    at = event.at
    clock = f", {format_clock(at - started)} into the session" if started is not None and at >= started else ""
    console.print(
        f"[green]{'already stored' if reply.duplicate else 'stored'}[/green] as {event.id} at seq {reply.seq} "
        f"({format_instant(at)}{clock})"
    )
    return 0


def _input(
    args: argparse.Namespace, config: ChampionshipConfigured | None, rules: ClassificationRules | None
) -> EventBody:
    """The body of what ``publish`` was given; ``rules``: the session's (a pit-lane penalty's time)."""
    return racecontrol.race_control_body(
        spelling(args.what),
        number=getattr(args, "number", ""),
        decision=getattr(args, "decision", ""),
        flag=getattr(args, "flag", ""),
        sector=getattr(args, "sector", None),
        kind=getattr(args, "kind", ""),
        amount=getattr(args, "amount", None),
        lap=getattr(args, "lap", 0),
        status=getattr(args, "status", ""),
        reason=getattr(args, "reason", ""),
        config=config,
        rules=rules,
    )


def _feed_target(args: argparse.Namespace) -> SessionRef | Weekend:
    """``--session KEY`` (one run into one session) or ``--championship C --event E`` (a session per run)."""
    if args.session is not None:
        if args.championship or args.event:
            raise ValueError("give either --session, or --championship and --event, not both")
        return SessionRef.parse(args.session)
    if not (args.championship and args.event):
        raise ValueError("give --championship C --event E (a session per run) or --session KEY")
    return Weekend(args.championship, args.event).check()


async def feed(args: argparse.Namespace) -> int:
    target = _feed_target(args)
    options = RMonitorOptions(
        time_zone=args.time_zone,
        day=args.day,
        run=args.run,
        name=args.name,
        kind=SessionKind(args.session_kind) if args.session_kind else None,
        rules=rules(args),
    )
    async with nats_client(args, "chequered-feed") as nc:
        if args.capture is not None:
            report = await run_rmonitor_capture(nc, args.capture, target, speed(args), options=options, console=console)
        else:
            stop = asyncio.Event()
            for sig in (signal.SIGINT, signal.SIGTERM):
                asyncio.get_running_loop().add_signal_handler(sig, stop.set)
            console.print(f"following RMonitor at {args.host}:{args.port}; Ctrl-C to stop")
            report = await run_rmonitor_live(
                nc, args.host, args.port, target, stop=stop, options=options, console=console
            )
    for session in report.sessions:
        console.print(f"session {session.key}")
    if report.read.kept_aside or report.dropped or report.read.disagreements:
        console.print(
            f"[yellow]{report.read.kept_aside:,} records kept aside, {report.dropped:,} events given up, "
            f"{report.read.disagreements:,} disagreements with the scoreboard[/yellow] "
            f"({report.aside_stored:,} stored for chequered rejects)"
        )
    return _feed_summary(report)


async def import_chart(args: argparse.Namespace) -> int:
    session, chosen = SessionRef.parse(args.session), rules(args)  # a bad key or preset says so before connecting
    async with nats_client(args, "chequered-import") as nc:
        options = AlKamelOptions(
            name=args.name, kind=SessionKind(args.session_kind), day=args.day, time_zone=args.time_zone, rules=chosen
        )
        report = await import_alkamel(nc, args.file, session, options, console=console)
    return _feed_summary(report)


def _feed_summary(report: FeedReport) -> int:
    for number, reason in report.read.errors[:20]:
        console.print(f"[yellow]line {number} skipped[/yellow]: {reason}")
    console.print(
        f"{report.accepted:,} accepted, {report.duplicates:,} duplicates, {report.rejected:,} rejected; "
        f"{report.read.skipped:,} of {report.read.lines:,} lines skipped"
    )
    return 1 if report.rejected else 0


def simulate_race(args: argparse.Namespace) -> int:
    spec = RaceSpec(seed=args.seed, cars=args.cars, duration_ms=int(args.hours * 3600_000), laps=args.laps)
    if (chosen := rules(args)) is not None:
        spec = dataclasses.replace(spec, rules=chosen)
    events = simulate(spec)
    write_log(events, args.out)
    console.print(f"wrote {len(events):,} events of a {args.cars}-car race (seed {args.seed}) to {args.out}")
    return 0


def spelling(text: str) -> str:
    """The command line's spelling of a choice: ``drive_through`` and ``Drive-Through`` are ``drive-through``."""
    return racecontrol.spelled(racecontrol.unspelled(text))


def _publish_options(parser: argparse.ArgumentParser, default: Callable[[Any], Any]) -> None:
    parser.add_argument(
        "--at",
        default=default(None),
        help="when: ISO 8601, epoch ms, or session time (6h, 1:02:03); default: now in a live session, the "
        "session's latest instant in a replayed or imported one",
    )
    parser.add_argument(
        "--id", default=default(None), help="event id (default: derived, so repeating the command is idempotent)"
    )


def _publish_parsers(
    pub: argparse.ArgumentParser, broker: argparse.ArgumentParser, inner: argparse.ArgumentParser
) -> None:
    what = pub.add_subparsers(dest="what", required=True)

    def input_parser(name: str, help: str) -> argparse.ArgumentParser:
        aliases = [name.replace("-", "_")] if "-" in name else []
        return what.add_parser(name, aliases=aliases, parents=[broker, inner], help=help)

    fl = input_parser("flag", f"a flag: {', '.join(racecontrol.FLAGS)}")
    fl.add_argument("flag", type=spelling, choices=racecontrol.FLAGS)
    fl.add_argument("--sector", type=int, help="a local flag in this sector")
    pen = input_parser("penalty", "a stewards' decision against a car")
    pen.add_argument("number")
    pen.add_argument("decision", help="the decision's document number, e.g. D12")
    pen.add_argument(
        "kind",
        type=spelling,
        choices=racecontrol.PENALTY_KINDS,
        metavar="kind",
        help=", ".join(racecontrol.PENALTY_KINDS),
    )
    pen.add_argument(
        "amount",
        nargs="?",
        help="a time (5s, 1:05.2): of a time penalty, or what a drive-through/stop-and-go converts to if unserved "
        "(default: the session's rules); a count of laps or positions",
    )
    pen.add_argument("--reason", default="")
    ret = input_parser("retire", "a car retires")
    ret.add_argument("number")
    ret.add_argument("--reason", default="")
    dl = input_parser("delete-lap", "a lap time deleted (track limits)")
    dl.add_argument("number")
    dl.add_argument("decision")
    dl.add_argument("lap", type=int)
    dl.add_argument("--reason", default="track limits")
    wd = input_parser("withdraw", "withdraw a decision (appeal upheld)")
    wd.add_argument("decision")
    wd.add_argument("--reason", default="")
    res = input_parser("results", "declare the results")
    res.add_argument("status", type=spelling, choices=racecontrol.RESULTS)
    input_parser("chequered", "show the chequered flag")
    cfg = input_parser(
        "config", "the championship's points configuration (session <championship>._championship.points)"
    )
    cfg.add_argument("file", type=Path, help="a TOML file like services/standings/configs/gt-endurance.toml")
    cal = input_parser(
        "calendar", "the season's calendar, or what changed in it (session <championship>._championship.calendar)"
    )
    cal.add_argument("file", type=Path, help="TOML, YAML or iCalendar, like services/calendar/examples/*.toml")
    cal.add_argument("--reason", default="", help="why it changed, as the bulletin says it")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], broker: argparse.ArgumentParser) -> None:
    parser = sub.add_parser("replay", parents=[broker], help="publish a race log through ingest")
    parser.add_argument("log", type=Path)
    parser.add_argument("--session", help="replay into this session key (championship.event.session)")
    pace_options(parser, 1.0)
    rules_option(parser, None, "as logged; a session already open keeps its rules, so give a new --session")
    parser.set_defaults(handler=replay_log)

    publishing = shared(_publish_options)  # --at and --id also after the input's own arguments
    parser = sub.add_parser(
        "publish",
        parents=[broker, publishing.outer],
        help="one race-control input: a flag, a penalty, a retirement, a decision",
    )
    parser.add_argument("session", help="championship.event.session")
    _publish_parsers(parser, broker, publishing.inner)
    parser.set_defaults(handler=publish)

    parser = sub.add_parser(
        "feed", parents=[broker], help="ingest a live timing feed (needs a running ingest: chequered serve)"
    )
    parser.add_argument("kind", choices=("rmonitor",))
    parser.add_argument("--championship", help="follow the weekend: a session per run, in this championship ...")
    parser.add_argument("--event", help="... and this event (session keys from the run names)")
    parser.add_argument("--session", help="or write one run into this championship.event.session")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--capture", type=Path, help="play a capture file instead of connecting")
    pace_options(parser, 1.0, "capture: ")
    parser.add_argument("--time-zone", default="UTC", help="the circuit's zone: RMonitor times of day are local")
    parser.add_argument("--day", type=date.fromisoformat, help="the (first) session's date, YYYY-MM-DD")
    parser.add_argument("--run", type=int, help="only this RMonitor run number")
    parser.add_argument("--name", help="the session's name (default: the run's)")
    parser.add_argument(
        "--kind",
        "--session-kind",
        dest="session_kind",
        choices=[k.value for k in SessionKind],
        help="practice, qualifying or race (default: from the run's name, else from the feed's order)",
    )
    rules_option(parser, None, "club")
    parser.set_defaults(handler=feed)

    parser = sub.add_parser("import", parents=[broker], help="import an Al Kamel analysis CSV (needs a running ingest)")
    parser.add_argument("kind", choices=("alkamel",))
    parser.add_argument("file", type=Path)
    parser.add_argument("--session", required=True, help="championship.event.session to write into")
    parser.add_argument("--name", default="Race")
    parser.add_argument("--session-kind", choices=[k.value for k in SessionKind], default="race")
    parser.add_argument("--day", type=date.fromisoformat, help="the race's date, YYYY-MM-DD")
    parser.add_argument("--time-zone", default="UTC")
    rules_option(parser, "wec", "wec, whose classification is the one the series publishes")
    parser.set_defaults(handler=import_chart)

    parser = sub.add_parser("simulate", help="generate a deterministic multi-class race log")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cars", type=int, default=45)
    parser.add_argument("--hours", type=float, default=3.0)
    parser.add_argument("--laps", type=int, default=None, help="a lap-count race instead of a time-certain one")
    parser.add_argument("--out", type=Path, required=True, help="output .jsonl or .jsonl.gz")
    rules_option(parser, None, "club")
    parser.set_defaults(handler=simulate_race)
