"""The ``chequered`` parser and entry point: each command group registers its parsers; ``main`` dispatches and
turns every expected failure into one line and an exit code."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from collections.abc import Sequence

import msgspec

from services.broker.connection import BrokerUnreachable
from services.broker.embedded import BrokerNotFound, BrokerStartFailed
from services.broker.topology import TopologyConflict
from services.cli import calendar, documents, operating, producing, scoring, serving
from services.cli.bootstrap import console
from services.cli.options import broker_options
from services.gateway.server import GatewayStartFailed
from services.heap import tune_collector
from services.home import HomeInUse
from services.ingest.client import IngestUnavailable
from services.ports import ListenError
from services.standings.config import ConfigError

GROUPS = (serving, producing, operating, scoring, documents, calendar)


def build_parser() -> argparse.ArgumentParser:
    broker = broker_options()
    parser = argparse.ArgumentParser(
        prog="chequered", description="Event-sourced live timing and scoring on NATS JetStream", parents=[broker.outer]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        group.register(sub, broker.inner)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    tune_collector()
    args = build_parser().parse_args(argv)
    try:
        result = args.handler(args)
        if asyncio.iscoroutine(result):
            with contextlib.suppress(KeyboardInterrupt):
                return int(asyncio.run(result))
            return 130
        return int(result)
    except (
        TopologyConflict,
        ListenError,
        HomeInUse,
        BrokerNotFound,
        BrokerStartFailed,
        BrokerUnreachable,
        GatewayStartFailed,
    ) as error:
        console.print(f"[red]error:[/red] {error}", soft_wrap=True)
        return 2
    except (msgspec.ValidationError, ConfigError, FileNotFoundError, LookupError, ValueError) as error:
        console.print(f"[red]error:[/red] {error}", soft_wrap=True)
        return 2
    except BrokenPipeError:  # the reader of stdout went away (``| head``): nothing more to say to anyone
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except IngestUnavailable as error:
        console.print(f"[red]error:[/red] ingest did not answer ({error}): is chequered serve running?")
        return 2
