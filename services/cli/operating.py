"""Operations: watch, time travel, record, rebuild, verify, export, rejects, set-up, the edge, the schemas."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import time
from functools import partial
from pathlib import Path

import msgspec
from rich.progress import Progress

from schemas.events import SessionRef
from schemas.results import Classification
from services.broker.edge import source_from
from services.broker.reader import read_events
from services.broker.topology import Topology, ensure_topology
from services.classification import tabular
from services.classification.fold import classification_until
from services.classification.hourly import hourly
from services.classification.tower import render_hour, render_tower
from services.cli.bootstrap import console, nats_client, say_error, status
from services.cli.options import format_option, positive_int
from services.cli.watch import read_classification, waiting_for, watch_tower
from services.ops.history import changes, history, to_csv, to_jsonl, to_table
from services.ops.instants import Span, parse_instant
from services.ops.rebuild import EVENTS_PER_WORKER, PROJECTIONS, RebuildFailed, rebuild
from services.ops.record import record
from services.ops.rejects import list_rejects
from services.ops.verify import verify_all
from services.runtime import broker_url
from services.standings.fold import standings_until
from services.standings.render import render_tables


async def tower(args: argparse.Namespace) -> int:
    key = SessionRef.parse(args.session)
    if not args.once:
        if args.format != "table":
            raise ValueError(f"--format {args.format} needs --once: the live tower is a table")
        with broker_url(args.nats, args.home, status, command=args.command) as url:
            await watch_tower(url, key, until_finished=False)
        return 0
    async with nats_client(args, "chequered-tower") as nc:
        js = nc.jetstream()
        value = await read_classification(js, key)
        if value is None:
            raise LookupError(f"nothing to show yet: {await waiting_for(js, key)}")
    print_classification(value, args.format)
    return 0


def print_classification(classification: Classification, fmt: str) -> None:
    """A classification on stdout as a tower that fits the terminal, CSV or JSON."""
    if fmt == "json":
        sys.stdout.write(tabular.to_json(classification))
    elif fmt == "csv":
        sys.stdout.write(tabular.to_csv(classification))
    else:
        console.print(render_tower(classification, width=console.width), crop=False)


async def rejects(args: argparse.Namespace) -> int:
    async with nats_client(args, "chequered-rejects") as nc:
        await list_rejects(nc.jetstream(), console, session=args.session, limit=args.limit, now=int(time.time() * 1000))
    return 0


async def rebuild_projection(args: argparse.Namespace) -> int:
    async with nats_client(args, "chequered-rebuild") as nc:
        url = nc.connected_url.geturl() if nc.connected_url else None  # the workers connect where this did
        try:
            report = await rebuild(
                nc.jetstream(), args.projection, session=args.session, console=console, url=url, workers=args.workers
            )
        except RebuildFailed as error:
            say_error(
                f"{error}; nothing was switched: readers use what they used before, and the rebuild can be run again"
            )
            return 1
    workers = f" by {report.workers} processes" if report.workers > 1 else ""
    console.print(
        f"[green]rebuilt[/green] {report.sessions} session(s) from {report.events:,} events in {report.seconds:.2f}s"
        f"{workers} ({report.events / max(report.seconds, 1e-9):,.0f} ev/s); readers now use {report.bucket}"
    )
    return 0


async def verify(args: argparse.Namespace) -> int:
    async with nats_client(args, "chequered-verify") as nc:
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


async def at(args: argparse.Namespace) -> int:
    key = SessionRef.parse(args.session)
    if args.hourly:
        return await at_every_hour(args, key)
    async with nats_client(args, "chequered-at") as nc:
        championship_log = await read_events(nc.jetstream(), f"{key.championship}.>")
    events = [(seq, e) for seq, e in championship_log if e.session == key]
    if not events:
        raise LookupError(f"no events of session {key.key} in the stream")
    span = Span.of(events)
    instant = parse_instant(args.time, span.started_at) if args.time else None
    if reason := span.outside(args.seq, instant):
        raise LookupError(f"{key.key}: {reason}: {span.describe()}")
    classification = classification_until(events, key, seq=args.seq, at=instant)
    if classification is None:
        raise LookupError(f"session {key.key} was not open yet at that point")
    print_classification(classification, args.format)
    if args.format != "table":
        return 0
    standings = standings_until(championship_log, key.championship, seq=args.seq, at=instant)
    if standings is not None:
        for table in render_tables(standings, width=console.width)[:3]:
            console.print(table, crop=False)
    return 0


async def at_every_hour(args: argparse.Namespace, key: SessionRef) -> int:
    if args.format == "csv":
        raise ValueError("--hourly is a table or JSON (--format json)")
    async with nats_client(args, "chequered-at") as nc:
        events = await read_events(nc.jetstream(), key.key)
    found = hourly(events, key)
    if found is None:
        raise LookupError(f"no events of session {key.key} in the stream")
    if args.format == "json":
        sys.stdout.write(msgspec.json.format(msgspec.json.encode(found), indent=2).decode() + "\n")
        return 0
    if not found.hours:
        console.print(f"{found.name}: no full hour of racing yet")
    for hour in found.hours:
        console.print(render_hour(hour, width=console.width), crop=False)
    return 0


EXPORT_SUFFIXES = {".csv": "csv", ".jsonl": "json", ".json": "json", ".txt": "table"}


async def export(args: argparse.Namespace) -> int:
    key = SessionRef.parse(args.session).key
    async with nats_client(args, "chequered-export") as nc:
        events = await read_events(nc.jetstream(), key)
    if not events:
        raise LookupError(f"no events of session {key} in the stream")
    fmt = {"jsonl": "json"}.get(args.format, args.format)
    if fmt is None:
        fmt = EXPORT_SUFFIXES.get(args.out.suffix, "json") if args.out is not None else "table"
    with (
        Progress(console=status, transient=args.out is None) as progress,
        contextlib.ExitStack() as files,
    ):
        task = progress.add_task("export", total=len(events))
        tick = partial(progress.advance, task)
        items = history(events, key, tick) if args.full else changes(events, key, tick)
        if fmt == "json":
            out_bytes = files.enter_context(args.out.open("wb")) if args.out else sys.stdout.buffer
            for chunk in to_jsonl(items):
                out_bytes.write(chunk)
        else:
            out = files.enter_context(args.out.open("w", newline="")) if args.out else sys.stdout
            lines = to_csv(items) if fmt == "csv" else to_table(items, Span.of(events).started_at)
            for text in lines:
                out.write(text)
    if args.out is not None:
        what = "every car at each change of the order" if args.full else "what changed, event by event"
        status.print(f"wrote {args.out} ({fmt}: {what})")
    return 0


async def record_session(args: argparse.Namespace) -> int:
    follow = asyncio.Event() if args.follow else None
    if follow is not None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGINT, follow.set)
        console.print("recording; Ctrl-C to stop")
    async with nats_client(args, "chequered-record") as nc:
        count = await record(nc.jetstream(), SessionRef.parse(args.session), args.out, follow=follow)
    console.print(f"wrote {count:,} events of {args.session} to {args.out}")
    return 0


async def edge(args: argparse.Namespace) -> int:
    async with nats_client(args, "chequered-edge") as nc:
        domains = await source_from(nc.jetstream(), args.domain)
    console.print(f"the central stream sources the circuits of domains: {', '.join(domains)}")
    return 0


async def setup(args: argparse.Namespace) -> int:
    async with nats_client(args, "chequered-setup") as nc:
        await ensure_topology(nc.jetstream(), Topology(replicas=args.replicas), update=args.update)
    console.print("[green]streams and buckets are in place[/green]")
    return 0


def schemas(args: argparse.Namespace) -> int:
    from schemas.jsonschema import JSON_DIR, write

    for path in write(args.out or JSON_DIR):
        console.print(f"wrote {path}")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], broker: argparse.ArgumentParser) -> None:
    parser = sub.add_parser("tower", parents=[broker], help="watch a session's live classification")
    parser.add_argument("session", help="championship.event.session")
    parser.add_argument("--once", action="store_true", help="print the classification as it is now, and exit")
    format_option(parser, ("table", "csv", "json"), "table", "csv and json with --once")
    parser.set_defaults(handler=tower)

    parser = sub.add_parser("rejects", parents=[broker], help="list rejected input and dead letters with their reasons")
    parser.add_argument("--session", help="only this session key")
    parser.add_argument("--limit", type=int, default=50)
    parser.set_defaults(handler=rejects)

    parser = sub.add_parser("setup", parents=[broker], help="create streams and buckets (idempotent)")
    parser.add_argument("--update", action="store_true", help="apply configuration changes to existing streams")
    parser.add_argument("--replicas", type=int, default=Topology().replicas, help="default: $CHEQUERED_REPLICAS or 1")
    parser.set_defaults(handler=setup)

    parser = sub.add_parser(
        "edge", parents=[broker], help="trackside edge: source a circuit's stream into the central one"
    )
    edge_what = parser.add_subparsers(dest="what", required=True)
    source = edge_what.add_parser("source", parents=[broker], help="add the circuit of a JetStream domain (idempotent)")
    source.add_argument("domain", help="the circuit's JetStream domain, e.g. monza")
    source.set_defaults(handler=edge)

    parser = sub.add_parser(
        "rebuild", parents=[broker], help="rebuild read models from the stream into a new bucket, then switch"
    )
    parser.add_argument("projection", choices=sorted(PROJECTIONS))
    parser.add_argument("--session", help="only this session key")
    parser.add_argument(
        "--workers",
        type=positive_int,
        help="processes the rebuild uses (default: one per core). A log of many partitions is shared among them, "
        f"each folding its share (by default, as many as the log has {EVENTS_PER_WORKER:,} events for); one session, "
        "or a log in one partition, is read by the command and folded by a second process",
    )
    parser.set_defaults(handler=rebuild_projection)

    parser = sub.add_parser(
        "verify", parents=[broker], help="compare served read models with a fresh fold of the stream"
    )
    parser.add_argument("--session", help="only this session key")
    parser.set_defaults(handler=verify)

    parser = sub.add_parser(
        "at", parents=[broker], help="the classification as it stood at an instant, a stream sequence, or every hour"
    )
    parser.add_argument("session", help="championship.event.session")
    when = parser.add_mutually_exclusive_group(required=True)
    when.add_argument("--time", help="ISO 8601, epoch ms, or session time since the green: 6h, 6:00:00")
    when.add_argument("--seq", type=int, help="stream sequence")
    when.add_argument("--hourly", action="store_true", help="a race's classification at every full hour")
    format_option(parser, ("table", "csv", "json"), "table", "table: with the standings as they stood")
    parser.set_defaults(handler=at)

    parser = sub.add_parser(
        "export", parents=[broker], help="a session's classification history: what changed, event by event"
    )
    parser.add_argument("session", help="championship.event.session")
    parser.add_argument("--out", type=Path, help="output file (default: stdout); .csv, .jsonl or .txt sets the format")
    format_option(parser, ("table", "csv", "json", "jsonl"), None, "default: by --out, else table; jsonl: json")
    parser.add_argument("--full", action="store_true", help="every car at each change of the order (large)")
    parser.set_defaults(handler=export)

    parser = sub.add_parser(
        "record", parents=[broker], help="write a session's events from the stream to a race-log file"
    )
    parser.add_argument("session", help="championship.event.session")
    parser.add_argument("--out", type=Path, required=True, help="output .jsonl or .jsonl.gz")
    parser.add_argument("--follow", action="store_true", help="keep recording new events until Ctrl-C")
    parser.set_defaults(handler=record_session)

    parser = sub.add_parser("schemas", help="regenerate the JSON Schema files in schemas/json")
    parser.add_argument("--out", type=Path, help="write them to this directory instead")
    parser.set_defaults(handler=schemas)
