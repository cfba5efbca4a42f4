"""A 3-node JetStream cluster on loopback (deploy/nats/cluster.conf, with its accounts): losing the stream leader
mid-race.

Streams and buckets have 3 replicas. The stream leader is killed with SIGKILL
while a race is being sent; the producer retries with the same ids. Every
acknowledged event must be in the stream exactly once and the classification
must converge to the fold of the whole race. The window during which writes
failed is measured and printed (the README quotes it).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from schemas.results import encode_classification
from schemas.subjects import EVENTS_STREAM
from services.broker.connection import connect
from services.broker.embedded import EmbeddedNats, free_port
from services.broker.reader import read_events
from services.broker.topology import Topology, ensure_topology
from services.classification.projector import ClassificationProjector
from services.ingest.client import Producer
from services.ingest.service import IngestService
from services.simulator.endurance import RaceSpec, simulate
from tests.factory import classify
from tests.live import wait_for_classification
from tests.reliability.roles import role_environment, role_url

pytestmark = pytest.mark.slow

CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "nats" / "cluster.conf"


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[dict[str, EmbeddedNats]]:
    names = ("n1", "n2", "n3")
    client = {n: free_port() for n in names}
    routes = {n: free_port() for n in names}
    nodes = {}
    for name in names:
        others = [f"nats-route://127.0.0.1:{routes[o]}" for o in names if o != name]
        env = {
            "CHEQUERED_NODE": name,
            "CHEQUERED_CLIENT_PORT": str(client[name]),
            "CHEQUERED_CLUSTER_PORT": str(routes[name]),
            "CHEQUERED_ROUTE_A": others[0],
            "CHEQUERED_ROUTE_B": others[1],
            "CHEQUERED_BIND": "127.0.0.1",
            **role_environment(),
        }
        nodes[name] = EmbeddedNats(tmp_path / name, client[name], config=CONFIG, env=env).start()
    try:
        yield nodes
    finally:
        for node in nodes.values():
            node.stop()


async def ready(url: str, topology: Topology) -> None:
    nc = await connect(url, "cluster-setup")
    try:
        for _ in range(100):  # the cluster elects its JetStream meta leader first
            try:
                await ensure_topology(nc.jetstream(timeout=2), topology)
                return
            except Exception:
                await asyncio.sleep(0.2)
        raise AssertionError("the cluster never became ready")
    finally:
        await nc.close()


async def test_stream_leader_killed_during_a_race(cluster: dict[str, EmbeddedNats], monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("CHEQUERED_REPLICAS", "3")
    url = ",".join(role_url(node, "services") for node in cluster.values())
    await ready(url, Topology(replicas=3))
    events = simulate(RaceSpec(seed=5, cars=20, duration_ms=40 * 60_000, retirements=1))
    ingest, projector = IngestService(url), ClassificationProjector(url)
    await ingest.start()
    await projector.start()
    nc = await connect(url, "cluster-producer")
    acked: list[float] = []
    try:
        js = nc.jetstream()
        info = await js.stream_info(EVENTS_STREAM)
        assert info.config.num_replicas == 3
        producer = Producer(nc, window=20, timeout=1.0, attempts=120, max_backoff=0.5)
        half = len(events) // 2
        await producer.send_all(events[:half], on_reply=lambda e, r: acked.append(time.monotonic()))
        state = (await js.stream_info(EVENTS_STREAM)).cluster
        assert state is not None and state.leader is not None
        leader = state.leader
        killed_at = time.monotonic()
        cluster[leader].kill()
        await producer.send_all(events[half:], on_reply=lambda e, r: acked.append(time.monotonic()))
        first_after = next(t for t in acked if t > killed_at)
        window = first_after - killed_at
        print(f"\nstream leader {leader} killed: writes resumed after {window:.2f}s")

        stored = await read_events(nc.jetstream(timeout=10), events[0].session.key)
        assert [e.id for _, e in stored] == [e.id for e in events]
        live = await wait_for_classification(nc, events[0].session.key, stored[-1][0], timeout=60)
        offline = classify(events)
        assert encode_classification(live) == encode_classification(offline)
    finally:
        await nc.close()
        await projector.stop()
        await ingest.stop()
