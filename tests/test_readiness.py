"""Readiness tells the truth: a service whose connection is closed, or one of whose long-running tasks died,
is not ready; the ops port answers 503 then, and listens on loopback unless told otherwise."""

from __future__ import annotations

import httpx
import pytest
from nats.aio.client import Client

from services.broker.embedded import free_port
from services.classification.projector import ClassificationProjector
from services.ingest.service import IngestService
from services.observability import OpsServer, readiness
from services.standings.projector import StandingsProjector
from tests.factory import SessionWriter
from tests.live import send
from tests.polling import until


async def readyz(ops: OpsServer) -> int:
    host, port = ops.server.servers[0].sockets[0].getsockname()[:2]
    async with httpx.AsyncClient() as client:
        return (await client.get(f"http://{host}:{port}/readyz")).status_code


async def test_a_service_whose_connection_closed_is_not_ready(nats_url: str) -> None:
    """A connection nats-py had closed for good left ingest up, its readiness 200, and producers with "no
    responders"."""
    ingest = IngestService(nats_url)
    await ingest.start()
    ops = OpsServer(free_port(), readiness(ingest=lambda: ingest.ready))
    await ops.start()
    try:
        assert ingest.ready and await readyz(ops) == 200
        await ingest.nc.close()
        assert not ingest.ready and await readyz(ops) == 503
    finally:
        await ops.stop()
        await ingest.stop()


@pytest.mark.parametrize("projector_class", [ClassificationProjector, StandingsProjector])
async def test_a_projector_whose_task_died_is_not_ready(
    nats_url: str,
    nc: Client,
    projector_class: type[ClassificationProjector | StandingsProjector],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A projector whose folding task died (whatever killed it) kept answering 200 with nothing folded."""
    ingest, projector = IngestService(nats_url), projector_class(nats_url)
    await ingest.start()
    await projector.start()
    try:
        await until(lambda: projector.ready, "the projector to be ready")

        async def dies(batch: object) -> None:
            raise RuntimeError("the snapshot of an evicted session is gone")

        monkeypatch.setattr(projector, "fold_batch", dies)
        w = SessionWriter()
        await send(nc, [w.opened()])
        await until(lambda: not projector.ready, "the projector to be not ready")
        assert projector.caught_up.is_set() and not projector.healthy
    finally:
        await projector.stop()
        await ingest.stop()


async def test_a_projector_whose_write_failed_is_not_ready_and_ends_its_fold(
    nats_url: str, nc: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Values are written behind the fold: a write that fails (not the broker: the broker's failures are retried)
    stops the queue, the projector says not ready, and its fold ends rather than fold on with nothing written."""
    ingest, projector = IngestService(nats_url), ClassificationProjector(nats_url)
    await ingest.start()
    await projector.start()
    try:
        await until(lambda: projector.ready, "the projector to be ready")

        async def fails(*args: object) -> bool:
            raise RuntimeError("a bug in the write")

        monkeypatch.setattr(projector, "persist", fails)
        w = SessionWriter()
        await send(nc, [w.opened()])
        await until(lambda: not projector.ready, "the projector to be not ready")
        await until(lambda: not projector.healthy, "the fold to end")  # with no event after: the tail is idle
    finally:
        await projector.stop()
        await ingest.stop()


async def test_the_ops_port_listens_on_loopback_unless_told(monkeypatch: pytest.MonkeyPatch) -> None:
    """It bound 0.0.0.0: metrics and readiness for anyone on the network."""
    for environment, expected in ((None, "127.0.0.1"), ("0.0.0.0", "0.0.0.0")):
        if environment is None:
            monkeypatch.delenv("CHEQUERED_OPS_HOST", raising=False)
        else:
            monkeypatch.setenv("CHEQUERED_OPS_HOST", environment)
        ops = OpsServer(free_port(), readiness(up=lambda: True))
        await ops.start()
        try:
            assert ops.server.servers[0].sockets[0].getsockname()[0] == expected
        finally:
            await ops.stop()
