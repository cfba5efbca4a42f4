"""Options shared by many commands, accepted anywhere on the line.

``chequered publish KEY flag green --nats URL`` and ``chequered --nats URL publish KEY flag green`` mean the
same. argparse hands what follows a sub-command's name to that sub-command's parser, which starts from a
fresh namespace and copies back what it set; so a shared option is defined twice (:func:`shared`): with its
default on the outermost parser that takes it, and with ``argparse.SUPPRESS`` as default on every parser
under it, which then sets it only when it is given there and never overwrites a value given earlier.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from schemas.events import ClassificationRules
from services.classification.presets import PRESETS, load_rules
from services.runtime import DEFAULT_HOME

TOKENS_ENV = "CHEQUERED_GATEWAY_TOKENS"

Define = Callable[[argparse.ArgumentParser, Callable[[Any], Any]], None]
"""Adds the options to a parser, each default passed through the second argument."""


class Shared(NamedTuple):
    outer: argparse.ArgumentParser
    """The parent of the outermost parser that takes the options: their defaults."""
    inner: argparse.ArgumentParser
    """The parent of every parser under it (sub-commands): no defaults."""


def shared(define: Define) -> Shared:
    parents = Shared(argparse.ArgumentParser(add_help=False), argparse.ArgumentParser(add_help=False))
    define(parents.outer, lambda default: default)
    define(parents.inner, lambda _: argparse.SUPPRESS)
    return parents


def _broker(parser: argparse.ArgumentParser, default: Callable[[Any], Any]) -> None:
    parser.add_argument(
        "--nats",
        metavar="URL",
        default=default(None),
        help="use this NATS server or cluster (default: $NATS_URL, else the broker of chequered serve on --home, "
        "else embedded)",
    )
    parser.add_argument(
        "--home",
        type=Path,
        default=default(DEFAULT_HOME),
        help=f"data directory of the embedded broker ({DEFAULT_HOME})",
    )


def broker_options() -> Shared:
    """``--nats`` and ``--home``, for every command that talks to NATS (the top-level parser is the outermost)."""
    return shared(_broker)


def pace_options(parser: argparse.ArgumentParser, default_speed: float, what: str = "") -> None:
    parser.add_argument(
        "--speed", type=float, default=default_speed, help=f"{what}times the recorded pace (default {default_speed:g})"
    )
    parser.add_argument("--max", action="store_true", help=f"{what}as fast as possible")


def speed(args: argparse.Namespace) -> float | None:
    """The pace a replay runs at: None for as fast as possible."""
    return None if args.max else float(args.speed)


def gateway_options(parser: argparse.ArgumentParser, port: int) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="gateway address (0.0.0.0 to serve the network)")
    parser.add_argument("--gateway-port", type=int, default=port, help="gateway port (0: any free port)")
    parser.add_argument("--token", action="append", help=f"a read token for graphics clients (default ${TOKENS_ENV})")


def format_option(parser: argparse.ArgumentParser, choices: tuple[str, ...], default: str | None, note: str) -> None:
    """``--format``: how a command writes its output (a table for people, CSV or JSON for programs)."""
    parser.add_argument("--format", choices=choices, default=default, help=f"{' | '.join(choices)} ({note})")


def rules_option(parser: argparse.ArgumentParser, default: str | None, otherwise: str) -> None:
    """``--rules``: a named preset or a TOML preset file; ``otherwise`` says what applies without it."""
    parser.add_argument(
        "--rules",
        default=default,
        metavar="PRESET|FILE",
        help=f"classification rules: {', '.join(PRESETS)}, or a preset .toml file (default: {otherwise})",
    )


def rules(args: argparse.Namespace) -> ClassificationRules | None:
    """The rules ``--rules`` names (None when not given and there is no default)."""
    return load_rules(args.rules) if args.rules else None


def positive_int(text: str) -> int:
    """An argument that counts something there must be at least one of."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return value
