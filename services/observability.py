"""What operations see of a running service: health, readiness, Prometheus metrics, structured logs.

``chequered serve ... --ops-port 9100`` serves ``/healthz`` (the process is up),
``/readyz`` (every service started, connected to NATS, every long-running task
still running, every projector caught up with the log: Kubernetes sends traffic
only then; one line per part says which is not) and ``/metrics``, on loopback unless
``--ops-host`` or ``CHEQUERED_OPS_HOST`` names another address (``0.0.0.0`` in a
container, for the probes and Prometheus).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from services.embedded_http import EmbeddedServer
from services.ports import address, listen

EVENTS_APPLIED = Counter("chequered_events_applied_total", "Stream events folded by a projector", ["projection"])
LAG = Gauge(
    "chequered_projector_lag_events", "Events in the stream after the last one a projector folded", ["projection"]
)
BATCH_SECONDS = Histogram(
    "chequered_projector_batch_seconds",
    "Time to fold a batch and write its read models",
    ["projection"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)
INGESTED = Counter("chequered_ingest_events_total", "Events answered by ingest", ["outcome"])
DEAD_LETTERS = Counter(
    "chequered_dead_letters_total", "Events a projector could not fold, values it could not store", ["projection"]
)
UNWRITABLE = Gauge(
    "chequered_read_models_unwritable",
    "Read models a projector cannot store now (too large, refused): alert on > 0, reasons in chequered rejects",
    ["projection"],
)
FEEDS_MISSING = Gauge(
    "chequered_calendar_feeds_missing",
    "Scheduled sessions live now by their calendar with no timing data yet, or a race feed stalled",
)
RESTARTS = Counter("chequered_service_restarts_total", "Child processes restarted by serve all", ["service"])


class JsonFormatter(logging.Formatter):
    """One JSON object a line: what log collectors index without a parser of their own."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure_logging(fmt: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler], force=True)


@dataclass(frozen=True)
class Check:
    """One part of a process's readiness: a service, a child process, the broker."""

    name: str
    ready: bool
    detail: str = ""

    def line(self) -> str:
        state = "ready" if self.ready else "not ready"
        return f"{self.name}: {state} ({self.detail})" if self.detail else f"{self.name}: {state}"


Checks = Callable[[], Awaitable[Sequence[Check]]]


def readiness(**parts: Callable[[], bool]) -> Checks:
    """Checks of named parts, each ready when its predicate says so now."""

    async def checks() -> list[Check]:
        return [Check(name, ready()) for name, ready in parts.items()]

    return checks


async def local_metrics() -> bytes:
    """This process's metrics."""
    return generate_latest()


class _Families(Collector):
    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = list(families)

    def collect(self) -> Iterable[Metric]:
        return self._families


def merge_metrics(expositions: Mapping[str, str], label: str = "service") -> bytes:
    """Several processes' metrics (Prometheus text, by name) as one exposition, each sample labelled with the
    name of the process it came from, so one scrape of a supervisor sees every child."""
    families: dict[str, Metric] = {}
    for name, text in expositions.items():
        for family in text_string_to_metric_families(text):
            merged = families.setdefault(
                family.name, Metric(family.name, family.documentation, family.type, family.unit)
            )
            merged.samples += [sample._replace(labels={**sample.labels, label: name}) for sample in family.samples]
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(families.values()))
    return generate_latest(registry)


OPS_HOST_ENV = "CHEQUERED_OPS_HOST"


def ops_host(given: str | None = None) -> str:
    """The address of the ops port: the one given, else ``CHEQUERED_OPS_HOST``, else loopback."""
    return given or os.environ.get(OPS_HOST_ENV) or "127.0.0.1"


class OpsServer:
    """``/healthz``, ``/readyz`` and ``/metrics`` on their own port (loopback unless told), beside a service.

    ``checks`` says what is ready, part by part; ``metrics`` what ``/metrics`` shows (this process's own by
    default); ``listener`` is a socket to serve on instead of binding ``host:port`` (handed down by a supervisor).
    """

    def __init__(
        self,
        port: int,
        checks: Checks,
        host: str | None = None,
        *,
        metrics: Callable[[], Awaitable[bytes]] = local_metrics,
        listener: socket.socket | None = None,
    ) -> None:
        async def healthz(_: Request) -> Response:
            return PlainTextResponse("ok\n")

        async def readyz(_: Request) -> Response:
            parts = await checks()
            ready = all(part.ready for part in parts)
            body = "".join(f"{line}\n" for line in ["ready" if ready else "not ready", *(p.line() for p in parts)])
            return PlainTextResponse(body, status_code=200 if ready else 503)

        async def metrics_(_: Request) -> Response:
            return Response(await metrics(), media_type=CONTENT_TYPE_LATEST)

        app = Starlette(routes=[Route("/healthz", healthz), Route("/readyz", readyz), Route("/metrics", metrics_)])
        self.host, self.port = ops_host(host), port
        self._listener = listener
        self.server = EmbeddedServer(
            uvicorn.Config(app, host=self.host, port=port, log_level="warning", lifespan="off")
        )
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        """Serve; a port in use is a :class:`~services.ports.ListenError` before anything starts."""
        listener = self._listener or listen(self.host, self.port, "ops", "--ops-port")
        self.host, self.port = address(listener)
        self._task = asyncio.create_task(self.server.serve(sockets=[listener]))
        while not self.server.started:
            if self._task.done():
                await self._task  # raises what stopped it
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        self.server.should_exit = True
        if self._task is not None:
            await self._task
