"""A served process answers health, readiness and metrics, and logs JSON lines.

``serve all`` runs a child process per service: its ``/metrics`` carries every child's, each sample labelled
with the service it came from, and its JSON lines name the service that wrote them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.broker.connection import connect
from services.broker.embedded import EmbeddedNats, free_port
from services.ingest.client import Producer
from tests.commands import answered
from tests.factory import SessionWriter, small_race
from tests.reliability.processes import ServiceProcess

pytestmark = pytest.mark.slow


async def test_health_readiness_metrics_and_json_logs(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with EmbeddedNats(tmp_path / "nats") as server:
        process = ServiceProcess("all", server.url, tmp_path, "--ops-port", str(port), "--log-format", "json")
        with process:
            await answered(f"{base}/healthz", lambda s, b: s == 200 and b == "ok\n")
            await answered(f"{base}/readyz", lambda s, b: s == 200)
            nc = await connect(server.url, "t")
            try:
                w = SessionWriter()
                await Producer(nc).send_all(small_race(w, cars=2, laps=3))
                await nc.publish(f"chequered.events.{w.session.key}", b"poison")
                await nc.flush()
            finally:
                await nc.close()
            metrics = await answered(
                f"{base}/metrics",
                lambda s, b: (
                    'chequered_events_applied_total{projection="classification",service="classification"} 11.0' in b
                    and 'chequered_dead_letters_total{projection="classification",service="classification"} 1.0' in b
                    and 'chequered_projector_lag_events{projection="standings",service="standings"} 0.0' in b
                ),
            )
            assert 'chequered_ingest_events_total{outcome="accepted",service="ingest"} 10.0' in metrics
    lines = [line for line in process.log_path.read_text().splitlines() if line.startswith("{")]
    records = [json.loads(line) for line in lines]
    assert any(
        r.get("service") == "classification" and r.get("level") == "error" and "refused" in r["message"]
        for r in records
    )


async def test_readiness_fails_while_the_broker_is_gone_and_returns_with_it(tmp_path: Path) -> None:
    """/readyz said 200 whatever happened to a service's connection. A process whose services cannot reach NATS
    now answers 503 (an orchestrator stops sending it work, and restarts it if it stays so), and 200 again once
    they are connected and caught up."""
    port = free_port()
    ready = f"http://127.0.0.1:{port}/readyz"
    server = EmbeddedNats(tmp_path / "nats").start()
    try:
        with ServiceProcess("all", server.url, tmp_path, "--ops-port", str(port)):
            await answered(ready, lambda s, b: s == 200)
            server.stop()
            await answered(ready, lambda s, b: s == 503 and b.startswith("not ready\n"))
            server.start()
            await answered(ready, lambda s, b: s == 200)
    finally:
        server.stop()
