"""Helpers for tests against a running stack."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.js.errors import KeyNotFoundError

from schemas.events import Event
from schemas.ingest import Accepted, DeadLetter
from schemas.results import Classification, decode_classification
from schemas.subjects import CLASSIFICATION_BUCKET
from services.broker.embedded import EmbeddedNats
from services.ingest.client import Producer
from services.ops.rejects import read_rejects
from services.runtime import Service
from tests.polling import until


def broker_with(tmp_path: Path, config: str) -> EmbeddedNats:
    """An embedded nats-server (not started) with this configuration text, for limits a test needs."""
    path = tmp_path / "server.conf"
    path.write_text(config)
    return EmbeddedNats(tmp_path / "nats", config=path)


@asynccontextmanager
async def running(*services: Service) -> AsyncIterator[None]:
    """The services started in order and stopped in reverse when the block ends (those started, if one fails
    to start)."""
    started: list[Service] = []
    try:
        for service in services:
            await service.start()
            started.append(service)
        yield
    finally:
        for service in reversed(started):
            await service.stop()


async def wait_for_classification(nc: Client, key: str, last_seq: int, timeout: float = 30.0) -> Classification:
    """The KV value of ``key`` once it reflects ``last_seq``; fails after ``timeout``."""
    seen: list[Classification] = []

    async def reached() -> bool:
        try:  # a cluster electing a new bucket leader answers nothing for a few seconds: ask again
            entry = await (await nc.jetstream(timeout=2).key_value(CLASSIFICATION_BUCKET)).get(key)
        except (KeyNotFoundError, NatsError):
            entry = None
        if entry is not None and entry.value:
            seen[:] = [decode_classification(entry.value)]
        return bool(seen) and seen[0].last_seq >= last_seq

    await until(
        reached, lambda: f"classification {key} at seq {last_seq}; last seen {seen and seen[0].last_seq}", timeout
    )
    return seen[0]


async def send(nc: Client, events: list[Event]) -> list[tuple[int, Event]]:
    """Send through ingest; every event must be accepted. ``(seq, event)`` pairs as stored."""
    replies = await Producer(nc).send_all(events)
    assert all(isinstance(r, Accepted) for r in replies), replies
    return [(r.seq, e) for r, e in zip(replies, events, strict=True)]  # type: ignore[union-attr]


async def wait_for_dead_letters(nc: Client, projection: str, count: int, timeout: float = 30.0) -> list[DeadLetter]:
    """The first ``count`` dead letters of ``projection``, once they are stored; fails after ``timeout``."""
    letters: list[DeadLetter] = []

    async def stored() -> bool:
        found = await read_rejects(nc.jetstream())
        letters[:] = [item for _, item in found if isinstance(item, DeadLetter) and item.projection == projection]
        return len(letters) >= count

    await until(stored, lambda: f"{count} dead letters of {projection}; found {letters}", timeout)
    return letters
