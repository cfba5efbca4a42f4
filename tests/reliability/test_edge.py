"""A trackside edge that survives uplink loss (deploy/nats/leaf-*.conf).

The circuit's server is a leaf node with its own JetStream domain and its own
ingest; the central stream sources the circuit's stream. The uplink is cut in
the middle of the race: the circuit keeps acknowledging events, and once the
link is restored the central classification catches up completely and in order.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from services.broker.connection import connect
from services.broker.edge import source_from
from services.broker.embedded import EmbeddedNats, free_port
from services.broker.reader import read_events
from services.broker.topology import ensure_topology
from services.classification.fold import fold_log
from services.classification.projector import ClassificationProjector
from services.ingest.client import Producer
from services.ingest.service import IngestService
from services.simulator.endurance import RaceSpec, simulate
from tests.live import wait_for_classification
from tests.reliability.link import Link

pytestmark = pytest.mark.slow

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "nats"


async def test_the_centre_catches_up_after_the_uplink_returns(tmp_path: Path) -> None:
    leaf_port = free_port()
    central = EmbeddedNats(
        tmp_path / "central",
        config=DEPLOY / "leaf-central.conf",
        env={
            "CHEQUERED_NODE": "central",
            "CHEQUERED_CLIENT_PORT": str(free_port()),
            "CHEQUERED_LEAF_PORT": str(leaf_port),
            "CHEQUERED_BIND": "127.0.0.1",
        },
    )
    central.port = int(central.env["CHEQUERED_CLIENT_PORT"])  # type: ignore[index]
    link = Link(leaf_port)
    await link.up()
    track_port = free_port()
    track = EmbeddedNats(
        tmp_path / "track",
        track_port,
        config=DEPLOY / "leaf-track.conf",
        env={
            "CHEQUERED_NODE": "monza",
            "CHEQUERED_CLIENT_PORT": str(track_port),
            "CHEQUERED_DOMAIN": "monza",
            "CHEQUERED_CENTRAL_LEAF_URL": f"nats-leaf://127.0.0.1:{link.port}",
        },
    )
    events = simulate(RaceSpec(seed=12, cars=15, duration_ms=30 * 60_000, retirements=1))
    key = events[0].session.key
    with central, track:
        central_nc = await connect(central.url, "centre")
        track_nc = await connect(track.url, "circuit")
        ingest = IngestService(track.url)  # the circuit's own ingest
        projector = ClassificationProjector(central.url)  # the centre's projector
        try:
            await ensure_topology(central_nc.jetstream())
            await ingest.start()
            assert await _retry(lambda: source_from(central_nc.jetstream(), "monza")) == ["monza"]
            await projector.start()
            producer = Producer(track_nc)
            third = len(events) // 3
            await producer.send_all(events[:third])
            stored = await read_events(track_nc.jetstream(), key)
            await wait_for_classification(central_nc, key, 1, timeout=30)

            await link.cut()  # the circuit is on its own
            await producer.send_all(events[third : 2 * third])  # ...and keeps timing
            await asyncio.sleep(1.0)
            behind = await read_events(central_nc.jetstream(), key)
            assert len(behind) < 2 * third  # the centre has not seen it

            await link.up()  # the uplink returns
            await producer.send_all(events[2 * third :])
            stored = await read_events(track_nc.jetstream(), key)
            assert [e.id for _, e in stored] == [e.id for e in events]  # every event acknowledged at the circuit
            for _ in range(300):
                central_log = await read_events(central_nc.jetstream(), key)
                if len(central_log) == len(events):
                    break
                await asyncio.sleep(0.1)
            assert [e.id for _, e in central_log] == [e.id for e in events]  # complete, and in order
            live = await wait_for_classification(central_nc, key, central_log[-1][0], timeout=60)
            offline = fold_log(enumerate(events, start=1)).sessions[key].classification()
            assert live.cars == offline.cars
        finally:
            await projector.stop()
            await ingest.stop()
            await central_nc.close()
            await track_nc.close()
            await link.cut()


async def _retry(action, attempts: int = 100):  # type: ignore[no-untyped-def]
    """The leaf connection and the domain's API take a moment to appear."""
    for _ in range(attempts):
        try:
            return await action()
        except Exception:
            await asyncio.sleep(0.1)
    return await action()
