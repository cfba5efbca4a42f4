"""The composition root of the command line: what connects to what.

Commands never build brokers, connections or services themselves: they ask here, so the wiring (embedded
broker or ``--nats``, gateway tokens, the shipped sample files) is in one place.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

from nats.aio.client import Client
from rich.console import Console

from schemas.events import ChampionshipConfigured
from services.broker.connection import connect
from services.cli.options import TOKENS_ENV
from services.runtime import broker_url
from services.standings.config import ConfigError, decode_config

if TYPE_CHECKING:
    from services.gateway.server import GatewayService

PACKAGE = Path(__file__).resolve().parent.parent
SAMPLE_LOG = PACKAGE.parent / "data" / "sample-race.jsonl.gz"
DEMO_CHAMPIONSHIP = PACKAGE / "standings" / "configs" / "gt-endurance.toml"

CONNECT_WAIT_S = 5.0
"""How long a command waits for its broker to answer before it says so and stops."""

console = Console()
status = Console(stderr=True)
"""Where a command says which broker it uses and how far it has got: stderr, so that stdout carries only what the
command outputs (a table, CSV, JSON)."""


@contextlib.asynccontextmanager
async def nats_client(args: argparse.Namespace, name: str) -> AsyncIterator[Client]:
    """A NATS connection for one command: to ``--nats``/``NATS_URL``, or to an embedded broker for its duration."""
    with broker_url(args.nats, args.home, status, command=args.command) as url:
        nc = await connect(url, name, within=CONNECT_WAIT_S)
        try:
            yield nc
        finally:
            await nc.close()


def say_error(message: str) -> None:
    """``error: message`` on stdout. In a terminal, wrapped by words at its width (the terminal would cut words in
    two); elsewhere one line, so that a log or a pipe keeps each error on a line of its own."""
    console.print(f"[red]error:[/red] {message}", soft_wrap=not console.is_terminal)


def say(line: str) -> None:
    """A line of ``serve`` or ``demo``: whole, however narrow the terminal (a URL or a path broken in two is no
    use)."""
    console.print(line, soft_wrap=True)


def gateway_tokens(args: argparse.Namespace) -> list[str]:
    """The gateway's read tokens: ``--token``, ``$CHEQUERED_GATEWAY_TOKENS``, or one generated."""
    tokens = list(args.token or []) or [t for t in os.environ.get(TOKENS_ENV, "").split(",") if t]
    return tokens or [secrets.token_urlsafe(12)]


def gateway_service(
    url: str, args: argparse.Namespace, listener: socket.socket | None = None
) -> tuple[GatewayService, list[str]]:
    """The gateway of ``serve``/``demo`` with its read tokens, on ``listener`` or ``--host``/``--gateway-port``
    (imported only now: the web framework is for the processes that serve it)."""
    from services.gateway.server import GatewayService
    from services.gateway.standings import OPENAPI as STANDINGS_OPENAPI
    from services.gateway.standings import ROUTES as STANDINGS_ROUTES

    tokens = gateway_tokens(args)
    service = GatewayService(
        url,
        tokens,
        host=args.host,
        port=args.gateway_port,
        standings=STANDINGS_ROUTES,
        standings_openapi=STANDINGS_OPENAPI,
        listener=listener,
    )
    return service, tokens


def configured(path: Path) -> ChampionshipConfigured:
    """The file, read once, as a config event; a bad file is refused here, naming the file, the field and the
    reason."""
    try:
        toml = path.read_text()
    except OSError as error:
        raise ConfigError(str(path), [f"$: cannot read the file: {error.strerror}"]) from None
    decode_config(toml, str(path))
    return ChampionshipConfigured(toml=toml, source=path.name)
