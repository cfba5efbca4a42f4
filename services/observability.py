"""What operations see of a running service: health, readiness, Prometheus metrics, structured logs.

``chequered serve ... --ops-port 9100`` serves ``/healthz`` (the process is up),
``/readyz`` (every service started, connected to NATS, every long-running task
still running, every projector caught up with the log: Kubernetes sends traffic
only then) and ``/metrics``, on loopback unless ``CHEQUERED_OPS_HOST`` names
another address (``0.0.0.0`` in a container, for the probes and Prometheus).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Callable

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

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


OPS_HOST_ENV = "CHEQUERED_OPS_HOST"


class OpsServer:
    """``/healthz``, ``/readyz`` and ``/metrics`` on their own port, beside a service."""

    def __init__(self, port: int, ready: Callable[[], bool], host: str | None = None) -> None:
        """``host``: the address to bind; default ``CHEQUERED_OPS_HOST``, else loopback."""
        host = host or os.environ.get(OPS_HOST_ENV) or "127.0.0.1"

        async def healthz(_: Request) -> Response:
            return PlainTextResponse("ok\n")

        async def readyz(_: Request) -> Response:
            return PlainTextResponse("ready\n") if ready() else PlainTextResponse("not ready\n", status_code=503)

        async def metrics(_: Request) -> Response:
            return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

        app = Starlette(routes=[Route("/healthz", healthz), Route("/readyz", readyz), Route("/metrics", metrics)])
        self.server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off"))
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self.server.serve())
        while not self.server.started:
            if self._task.done():
                await self._task  # raises what stopped it (a port in use)
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        self.server.should_exit = True
        if self._task is not None:
            await self._task
