"""``chequered standings``: championship standings from race logs, offline."""

from __future__ import annotations

import argparse
from pathlib import Path

from services.cli.options import format_option
from services.standings.offline import run_offline


def standings(args: argparse.Namespace) -> int:
    return run_offline(args.config, args.logs, args.format, contenders=args.contenders)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], broker: argparse.ArgumentParser) -> None:
    del broker  # offline: no broker needed
    parser = sub.add_parser("standings", help="championship standings from race logs (no broker needed)")
    parser.add_argument(
        "--config", required=True, type=Path, help="championship TOML (services/standings/configs/*.toml)"
    )
    parser.add_argument("logs", nargs="+", type=Path, help="race logs: JSON lines of events, .gz allowed")
    format_option(parser, ("table", "csv", "json"), "table", "a table per class and kind of standings")
    parser.add_argument(
        "--contenders",
        action="store_true",
        help="who can still win each table, the most they can reach, what they need",
    )
    parser.set_defaults(handler=standings)
