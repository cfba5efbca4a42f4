"""The season calendar: ``chequered calendar`` shows it, ``chequered publish CHAMP._championship.calendar calendar
FILE`` publishes a file (only what changed since the calendar in the log)."""

from __future__ import annotations

import argparse
import time

from nats.js.errors import NotFoundError

from schemas.events import SessionRef
from schemas.ingest import Rejected
from services.broker.reader import read_events
from services.calendar.render import render_calendar
from services.calendar.schedule import changes_to, schedule_from
from services.calendar.store import read_calendar
from services.calendar.views import alerts, calendar_view, describe, next_event
from services.cli.bootstrap import console, nats_client
from services.ingest import racecontrol
from services.ingest.client import IngestUnavailable, Producer
from services.ops.instants import parse_instant


def _now(args: argparse.Namespace) -> int:
    return parse_instant(args.at, None) if args.at else int(time.time() * 1000)


async def publish_calendar(args: argparse.Namespace) -> int:
    """Publish a calendar file: the whole season the first time, then one event per session moved, cancelled,
    added or reinstated (or the season again when rounds or names changed); nothing when the log agrees."""
    from services.calendar.files import decode_calendar as decode_file  # the file formats, for this command only

    session = SessionRef.parse(args.session)
    where = SessionRef.calendar_of(session.championship)
    if session != where:
        raise ValueError(f"a calendar is published to {where.key}, not to {session.key}")
    try:
        data = args.file.read_bytes()
    except OSError as error:
        raise ValueError(f"{args.file}: cannot read the file: {error.strerror}") from None
    decoded = decode_file(data, str(args.file), session.championship)
    for note in decoded.skipped:
        console.print(f"[yellow]skipped[/yellow] {note}")
    at = _now(args)
    async with nats_client(args, "chequered-publish") as nc:
        try:
            stored = await read_events(nc.jetstream(), where.key)
        except NotFoundError:  # no stream yet: nothing stored (ingest, when it starts, creates it)
            stored = []
        bodies = changes_to(schedule_from(e for _, e in stored), decoded.season, args.reason)
        events = [
            racecontrol.race_control_event(where, body, at, f"{args.id}-{n}" if args.id else None)
            for n, body in enumerate(bodies, start=1)
        ]
        try:
            replies = await Producer(nc).send_all(events) if events else []
        except IngestUnavailable as error:
            raise LookupError(f"ingest did not answer ({error}): is chequered serve running?") from None
    if not events:
        console.print(f"the calendar in the log already says what {args.file.name} says: nothing to publish")
    failed = 0
    for body, event, reply in zip(bodies, events, replies, strict=True):
        what = describe(body, decoded.season)
        if isinstance(reply, Rejected):
            failed += 1
            console.print(f"[red]rejected[/red] {what} ({reply.code.value}): {reply.reason}")
        else:
            outcome = "already stored" if reply.duplicate else "stored"
            console.print(f"[green]{outcome}[/green] {what}: {event.id} at seq {reply.seq}")
    return 1 if failed else 0


async def show_calendar(args: argparse.Namespace) -> int:
    where = SessionRef.calendar_of(args.championship)
    SessionRef.parse(where.key)  # a championship name that is no slug is refused with msgspec's reason
    now = _now(args)
    async with nats_client(args, "chequered-calendar") as nc:
        calendar = await read_calendar(nc.jetstream(), args.championship)
    if calendar is None:
        raise LookupError(
            f"no calendar for championship {args.championship}: publish one (chequered publish {where.key} calendar "
            "FILE) with the standings projector running (chequered serve)"
        )
    view = calendar_view(calendar, now, args.tz, args.lang)
    upcoming = next_event(calendar, now, args.tz, args.lang)
    console.print(render_calendar(view, upcoming, alerts(calendar, now, args.lang)))
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], broker: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "calendar", parents=[broker], help="a championship's calendar: the next event, what is live, every round"
    )
    parser.add_argument("championship", help="the championship, e.g. gtes-2026")
    parser.add_argument("--tz", help="show times in this IANA zone (default: each circuit's own)")
    parser.add_argument("--lang", default="en", help="dates and weekdays in this language: en, de, en_GB ...")
    parser.add_argument("--at", help="as at this instant (ISO 8601 or epoch ms; default now)")
    parser.set_defaults(handler=show_calendar)
