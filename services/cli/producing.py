"""Commands that write into the log through ingest: replay, feed, import, publish; and simulate, which makes a
log to replay."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import signal
import time
from datetime import date
from pathlib import Path

from schemas.events import Flag, PenaltyKind, ResultsStatus, SessionKind, SessionRef
from schemas.ingest import Rejected
from services.cli.bootstrap import configured, console, nats_client
from services.cli.calendar import publish_calendar
from services.cli.options import pace_options, rules, rules_option, speed
from services.feeds.ingestor import (
    DEFAULT_PORT,
    FeedReport,
    RMonitorOptions,
    import_alkamel,
    run_rmonitor_capture,
    run_rmonitor_live,
)
from services.ingest import racecontrol
from services.ingest.client import Producer
from services.ops.instants import parse_instant
from services.ops.racelog import read_log, write_log
from services.ops.replay import replay, retarget, with_rules
from services.simulator.endurance import RaceSpec, simulate


async def replay_log(args: argparse.Namespace) -> int:
    session = SessionRef.parse(args.session) if args.session else None
    events = list(with_rules(retarget(read_log(args.log), session), rules(args)))
    async with nats_client(args, "chequered-replay") as nc:
        report = await replay(nc, events, speed=speed(args), console=console)
    console.print(
        f"{report.accepted:,} accepted, {report.duplicates:,} duplicates, {report.rejected:,} rejected, "
        f"{report.skipped:,} already stored, in {report.seconds:.1f}s"
    )
    return 1 if report.rejected else 0


async def publish(args: argparse.Namespace) -> int:
    if args.what == "calendar":
        return await publish_calendar(args)
    session = SessionRef.parse(args.session)
    at = parse_instant(args.at, None) if args.at else int(time.time() * 1000)
    body = racecontrol.race_control_body(
        args.what,
        number=getattr(args, "number", ""),
        decision=getattr(args, "decision", ""),
        flag=getattr(args, "flag", ""),
        sector=getattr(args, "sector", None),
        kind=getattr(args, "kind", ""),
        amount=getattr(args, "amount", None),
        lap=getattr(args, "lap", 0),
        status=getattr(args, "status", ""),
        reason=getattr(args, "reason", ""),
        config=configured(args.file) if args.what == "config" else None,
    )
    event = racecontrol.race_control_event(session, body, at, args.id)
    async with nats_client(args, "chequered-publish") as nc:
        reply = await Producer(nc).send(event)
    if isinstance(reply, Rejected):
        console.print(f"[red]rejected[/red] ({reply.code.value}): {reply.reason}")
        return 1
    console.print(
        f"[green]{'already stored' if reply.duplicate else 'stored'}[/green] as {event.id} at seq {reply.seq}"
    )
    return 0


async def feed(args: argparse.Namespace) -> int:
    session = SessionRef.parse(args.session)
    options = RMonitorOptions(time_zone=args.time_zone, day=args.day, run=args.run, rules=rules(args))
    async with nats_client(args, "chequered-feed") as nc:
        if args.capture is not None:
            report = await run_rmonitor_capture(
                nc, args.capture, session, speed(args), options=options, console=console
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


async def import_chart(args: argparse.Namespace) -> int:
    session, chosen = SessionRef.parse(args.session), rules(args)  # a bad key or preset says so before connecting
    async with nats_client(args, "chequered-import") as nc:
        report = await import_alkamel(
            nc, args.file, session, name=args.name, kind=SessionKind(args.session_kind),
            day=args.day, time_zone=args.time_zone, rules=chosen, console=console,
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


def simulate_race(args: argparse.Namespace) -> int:
    spec = RaceSpec(seed=args.seed, cars=args.cars, duration_ms=int(args.hours * 3600_000), laps=args.laps)
    if (chosen := rules(args)) is not None:
        spec = dataclasses.replace(spec, rules=chosen)
    events = simulate(spec)
    write_log(events, args.out)
    console.print(f"wrote {len(events):,} events of a {args.cars}-car race (seed {args.seed}) to {args.out}")
    return 0


def _publish_parsers(pub: argparse.ArgumentParser, broker: argparse.ArgumentParser) -> None:
    what = pub.add_subparsers(dest="what", required=True)

    def input_parser(name: str, help: str) -> argparse.ArgumentParser:
        return what.add_parser(name, parents=[broker], help=help)

    fl = input_parser("flag", "a flag: green, yellow, full_course_yellow, safety_car, red, chequered")
    fl.add_argument("flag", choices=[f.value for f in Flag])
    fl.add_argument("--sector", type=int, help="a local flag in this sector")
    pen = input_parser("penalty", "a stewards' decision against a car")
    pen.add_argument("number")
    pen.add_argument("decision", help="the decision's document number, e.g. D12")
    pen.add_argument("kind", choices=[k.value for k in PenaltyKind])
    pen.add_argument("amount", nargs="?", help="time (5s, 1:05.2) or a count of laps/positions")
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
    res.add_argument("status", choices=[r.value for r in ResultsStatus])
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

    parser = sub.add_parser(
        "publish", parents=[broker], help="one race-control input: a flag, a penalty, a retirement, a decision"
    )
    parser.add_argument("session", help="championship.event.session")
    parser.add_argument("--at", help="when (ISO 8601 or epoch ms; default now)")
    parser.add_argument("--id", help="event id (default: derived, so repeating the command is idempotent)")
    _publish_parsers(parser, broker)
    parser.set_defaults(handler=publish)

    parser = sub.add_parser(
        "feed", parents=[broker], help="ingest a live timing feed (needs a running ingest: chequered serve)"
    )
    parser.add_argument("kind", choices=("rmonitor",))
    parser.add_argument("--session", required=True, help="championship.event.session to write into")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--capture", type=Path, help="play a capture file instead of connecting")
    pace_options(parser, 1.0, "capture: ")
    parser.add_argument("--time-zone", default="UTC", help="the circuit's zone: RMonitor times of day are local")
    parser.add_argument("--day", type=date.fromisoformat, help="the session's date, YYYY-MM-DD")
    parser.add_argument("--run", type=int, help="only this RMonitor run number")
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
