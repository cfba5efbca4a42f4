"""The ``chequered`` parser and entry point: each command group registers its parsers; ``main`` dispatches and
turns every expected failure into one line and an exit code."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import os
import sys
from collections.abc import Sequence

import msgspec

from services.broker.connection import BrokerUnreachable
from services.broker.embedded import BrokerNotFound, BrokerStartFailed
from services.broker.topology import TopologyConflict
from services.cli.bootstrap import say_error
from services.cli.options import broker_options
from services.heap import tune_collector
from services.home import HomeInUse
from services.ingest.client import IngestUnavailable
from services.ports import GatewayStartFailed, ListenError
from services.standings.config import ConfigError

GROUPS: dict[str, tuple[str, ...]] = {
    "services.cli.serving": ("demo", "serve"),
    "services.cli.producing": ("replay", "publish", "feed", "import", "simulate"),
    "services.cli.operating": (
        "tower", "rejects", "setup", "edge", "rebuild", "verify", "at", "export", "record", "schemas",
    ),
    "services.cli.scoring": ("standings",),
    "services.cli.documents": ("report",),
    "services.cli.calendar": ("calendar",),
}  # fmt: skip
"""Each command group's module and the commands it registers, in the order ``--help`` lists them. A command
imports its own group only (a child of ``serve all`` has no use for the feeds or the calendar files)."""


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser of every command; given ``argv``, of its command only (every command when it names none)."""
    broker = broker_options()
    parser = argparse.ArgumentParser(
        prog="chequered", description="Event-sourced live timing and scoring on NATS JetStream", parents=[broker.outer]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    command = None if argv is None else _command(broker.outer, argv)
    for module in [m for m, commands in GROUPS.items() if command in commands] or GROUPS:
        importlib.import_module(module).register(sub, broker.inner)
    return parser


def _command(outer: argparse.ArgumentParser, argv: Sequence[str]) -> str | None:
    """The command ``argv`` names (after any ``--nats``/``--home``), if any (``--help``: none)."""
    first = argparse.ArgumentParser(add_help=False, parents=[outer], exit_on_error=False)
    first.add_argument("command", nargs="?")
    try:
        command: str | None = first.parse_known_args(argv)[0].command
    except argparse.ArgumentError:
        return None
    if command is not None and "--" in argv[: argv.index(command)]:
        return None  # argparse refuses a command after "--": its error then lists every command
    return command


def main(argv: Sequence[str] | None = None) -> int:
    tune_collector()
    args = build_parser(sys.argv[1:] if argv is None else argv).parse_args(argv)
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
        say_error(str(error))
        return 2
    except (
        msgspec.ValidationError,
        ConfigError,
        FileNotFoundError,
        IsADirectoryError,
        NotADirectoryError,
        PermissionError,
        LookupError,
        ValueError,
    ) as error:
        say_error(str(error))
        return 2
    except BrokenPipeError:  # the reader of stdout went away (``| head``): nothing more to say to anyone
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except IngestUnavailable as error:
        say_error(f"ingest did not answer ({error}): is chequered serve running?")
        return 2
