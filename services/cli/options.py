"""Options shared by many commands, accepted anywhere on the line.

``chequered publish KEY flag green --nats URL`` and ``chequered publish --nats URL KEY flag green`` mean the
same: every parser of a command (and of its sub-commands) takes the shared options. They are defined with
``argparse.SUPPRESS`` as default, so a sub-command's parser never overwrites a value given before it, and
:func:`fill_defaults` sets the defaults of whatever was not given once the whole line is parsed.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from schemas.events import ClassificationRules
from services.classification.presets import PRESETS, load_rules
from services.runtime import DEFAULT_HOME

TOKENS_ENV = "CHEQUERED_GATEWAY_TOKENS"

_DEFAULTS: dict[str, Any] = {"nats": None, "home": DEFAULT_HOME}


def broker_options() -> argparse.ArgumentParser:
    """A parent parser with ``--nats`` and ``--home``, for every command that talks to NATS."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--nats",
        metavar="URL",
        default=argparse.SUPPRESS,
        help="use this NATS server or cluster (default: $NATS_URL, else embedded)",
    )
    parent.add_argument(
        "--home", type=Path, default=argparse.SUPPRESS, help=f"data directory of the embedded broker ({DEFAULT_HOME})"
    )
    return parent


def fill_defaults(args: argparse.Namespace) -> argparse.Namespace:
    """The defaults of the shared options that were not given anywhere on the line."""
    for name, value in _DEFAULTS.items():
        if not hasattr(args, name):
            setattr(args, name, value)
    return args


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
