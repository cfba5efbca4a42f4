"""``chequered demo`` and ``chequered serve``: running the services.

A process imports what it runs: ``serve ROLE`` imports that role's service when it starts it, and the demo
(:mod:`services.cli.demo`) when it is asked for, so a child of ``serve all`` or a command starts in a fraction of
the time that importing every service took (``python -m bench startup``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from services.cli.bootstrap import SAMPLE_LOG, console, gateway_service, gateway_tokens, say
from services.cli.options import TOKENS_ENV, gateway_options, pace_options
from services.home import Serving
from services.observability import Checks, OpsServer, configure_logging, ops_host, readiness
from services.ports import address, inherited, listen
from services.runtime import Broker, Service, home_broker, run_until_signal, unless_signalled
from services.simulator import titlefight
from services.supervisor import Relay, Supervisor, service_spec

ROLES = ("all", "ingest", "classification", "standings", "gateway", "documents")
SCENARIOS = {"title-fight": titlefight}
"""Seasons the demo can play to their finale: the module gives its rules, its season before the finale, and
the finale."""


async def demo(args: argparse.Namespace) -> int:
    from services.cli.demo import run_demo  # the demo runs every service in this process

    return await run_demo(args, SCENARIOS[args.scenario] if args.scenario else None)


async def serve(args: argparse.Namespace) -> int:
    configure_logging(args.log_format)
    if args.role == "all":
        return await serve_all(args)
    return await serve_one(args)


async def serve_one(args: argparse.Namespace) -> int:
    """One service (or, for a child of ``serve all``, the one it was given) in this process."""
    supervised = args.ops_fd is not None
    ops_listener = inherited(args.ops_fd) if supervised else _ops_listener(args)
    gateway_listener = None
    if args.role == "gateway":
        gateway_listener = inherited(args.gateway_fd) if args.gateway_fd is not None else _gateway_listener(args)
    command = f"serve {args.role}"
    with home_broker(args.nats, args.home, console, command=command, port=args.port, exclusive=True) as broker:
        announce = None
        if args.role == "gateway":
            gateway, tokens = gateway_service(broker.url, args, gateway_listener)
            service: Service = gateway

            def announce() -> None:
                if not supervised:
                    say(f"live timing page: {gateway.url}/?token={tokens[0]}")

        else:
            service = _service(args.role, broker.url, args)
        services = [service]

        say(f"serving {args.role} on {broker.url}; Ctrl-C to stop")
        _announce(broker, command, gateway_listener, ops_listener)
        ops = None
        if ops_listener is not None:
            ops = OpsServer(0, service_checks(services), listener=ops_listener)
            await ops.start()
            if not supervised:
                say(f"health, readiness and metrics on {ops.url} (/healthz /readyz /metrics)")
        try:
            await run_until_signal(services, started=announce)
        finally:
            if ops is not None:
                await ops.stop()
    say(f"stopped: {flushed(services)}")
    return 0


async def serve_all(args: argparse.Namespace) -> int:
    """The embedded broker (unless ``--nats``) and one child process per service, supervised."""
    stopping, urgent = asyncio.Event(), asyncio.Event()
    ops_listener = _ops_listener(args)
    gateway_listener = _gateway_listener(args)
    tokens = gateway_tokens(args)
    with home_broker(args.nats, args.home, console, command="serve all", port=args.port, exclusive=True) as broker:
        fmt = args.log_format
        instance = ["--instance", args.instance] if args.instance else []
        replica = ["--replica", args.replica] if args.replica else []
        specs = [
            service_spec("ingest", broker.url, fmt, instance),
            service_spec("classification", broker.url, fmt, replica),
            service_spec("standings", broker.url, fmt),
            service_spec("documents", broker.url, fmt),
        ]
        gateway = service_spec("gateway", broker.url, fmt, ["--gateway-fd", str(gateway_listener.fileno())])
        gateway.sockets.append(gateway_listener)
        gateway.env[TOKENS_ENV] = ",".join(tokens)
        specs.append(gateway)
        host, port = address(gateway_listener)
        page = f"http://{host}:{port}"
        supervisor = Supervisor(specs, _relay(fmt), broker.server)
        ops = None
        if ops_listener is not None:
            ops = OpsServer(0, supervisor.checks, metrics=supervisor.metrics, listener=ops_listener)
        _announce(broker, "serve all", gateway_listener, ops_listener)

        def signalled() -> None:
            (urgent if stopping.is_set() else stopping).set()

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, signalled)
        say(f"serving all on {broker.url}: {', '.join(spec.name for spec in specs)}, a process each")
        try:
            if ops is not None:
                await ops.start()
                say(f"health, readiness and metrics on {ops.url} (/healthz /readyz /metrics)")
            await supervisor.start()
            ready = asyncio.ensure_future(supervisor.wait_ready())
            if await unless_signalled(ready, stopping) and ready.result():
                say("every service is ready; Ctrl-C to stop")
                say(f"live timing page: {page}/?token={tokens[0]}")
            await unless_signalled(supervisor.failed.wait(), stopping)  # until Ctrl-C, or a child that cannot start
        finally:
            began = time.monotonic()
            killed = await supervisor.stop(urgent)
            if ops is not None:
                await ops.stop()
    took = time.monotonic() - began
    if killed:
        say(f"{', '.join(killed)} did not stop in time and were killed: they resume from the log")
    broker_last = "" if broker.server is None else f", the broker last (its store {broker.server.store_dir} closed)"
    say(f"stopped in {took:.1f} s{broker_last}: each service said above what it flushed")
    return 2 if supervisor.failed.is_set() else 0


def _announce(broker: Broker, command: str, gateway: socket.socket | None, ops: socket.socket | None) -> None:
    """Say in the home where this ``serve`` listens, when it runs the home's broker (other commands look there)."""
    if broker.lock is None:
        return

    def url(listener: socket.socket | None) -> str:
        return "" if listener is None else "http://{}:{}".format(*address(listener))

    serving = Serving(pid=os.getpid(), command=command, nats=broker.url, gateway=url(gateway), ops=url(ops))
    broker.lock.announce(serving)


def _ops_listener(args: argparse.Namespace) -> socket.socket | None:
    return None if args.ops_port is None else listen(ops_host(args.ops_host), args.ops_port, "ops", "--ops-port")


def _gateway_listener(args: argparse.Namespace) -> socket.socket:
    return listen(args.host, args.gateway_port, "gateway", "--gateway-port")


def _relay(log_format: str) -> Relay:
    """Each child's lines, its name in front (JSON lines: a ``service`` field added)."""
    if log_format == "json":

        def relay_json(name: str, line: str) -> None:
            try:
                entry = json.loads(line)
            except ValueError:
                entry = None
            record = {**entry, "service": name} if isinstance(entry, dict) else {"service": name, "message": line}
            console.out(json.dumps(record), highlight=False)

        return relay_json

    def relay_text(name: str, line: str) -> None:
        console.out(f"{name:<14}| {line}", highlight=False)

    return relay_text


def _service(role: str, url: str, args: argparse.Namespace) -> Service:
    """The service of ``role`` (the gateway's is :func:`~services.cli.bootstrap.gateway_service`), its module
    imported only now."""
    if role == "ingest":
        from services.ingest.service import IngestService

        return IngestService(url, instance=args.instance)
    if role == "classification":
        from services.classification.projector import ClassificationProjector

        return ClassificationProjector(url, replica=args.replica)
    if role == "standings":
        from services.standings.projector import StandingsProjector

        return StandingsProjector(url)
    from services.documents.service import DocumentsService

    return DocumentsService(url)


def service_checks(services: Sequence[Service]) -> Checks:
    return readiness(**{service.role: lambda s=service: s.ready for service in services})


def flushed(services: Sequence[Service]) -> str:
    """What the stopped services had made durable, for the last line of a process."""
    return "; ".join(service.flushed() for service in services) or "nothing to flush"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], broker: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "demo", parents=[broker], help="embedded NATS, ingest, projector, and a sample race classified live"
    )
    parser.add_argument("--log", type=Path, default=SAMPLE_LOG, help="race log to replay (default: the shipped sample)")
    parser.add_argument(
        "--scenario",
        choices=sorted(SCENARIOS),
        help="a season to its finale instead: title-fight, four crews within three points (replaces --log)",
    )
    parser.add_argument(
        "--linger",
        action=argparse.BooleanOptionalAction,
        default=sys.stdout.isatty(),
        help="keep the page up after the flag until Ctrl-C (default: when the output is a terminal)",
    )
    pace_options(parser, 60.0)
    gateway_options(parser, 8080)
    parser.set_defaults(handler=demo)

    parser = sub.add_parser("serve", parents=[broker], help="run services until Ctrl-C")
    parser.add_argument("role", choices=ROLES, nargs="?", default="all")
    gateway_options(parser, 8080)
    parser.add_argument("--port", type=int, default=4222, help="port of the embedded broker (0: any free port)")
    parser.add_argument(
        "--replica", help="run the classification projector as this replica of several (sessions are shared)"
    )
    parser.add_argument(
        "--instance",
        help="run ingest as this instance of several: one answers, the others stand by and take over (about 2 s)",
    )
    parser.add_argument(
        "--ops-port", type=int, help="serve /healthz, /readyz, /metrics on this port (0: any free port)"
    )
    parser.add_argument(
        "--ops-host", help="address of the ops port (default $CHEQUERED_OPS_HOST, else 127.0.0.1; 0.0.0.0: network)"
    )
    parser.add_argument("--ops-fd", type=int, help="serve the ops endpoints on this inherited socket (serve all)")
    parser.add_argument("--gateway-fd", type=int, help="serve the gateway on this inherited socket (serve all)")
    parser.add_argument("--log-format", choices=("text", "json"), default="text", help="json: one object a line")
    parser.set_defaults(handler=serve)
