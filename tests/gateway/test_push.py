"""SSE and WebSocket feeds against a running stack: snapshot then every update, and resuming by sequence."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Coroutine
from typing import Any

import httpx
import msgspec
import pytest
from nats.aio.client import Client

from schemas.results import encode_classification
from services.classification.fold import fold_log
from services.gateway import push
from services.gateway.hub import ClassificationHub
from services.gateway.messages import Health, Snapshot, SnapshotReason
from services.gateway.server import GatewayService
from services.ops.rebuild import rebuild
from tests.factory import SessionWriter, small_race
from tests.gateway.clients import TOKEN, Received, read_sse, read_ws, send_paced, ws_url
from tests.gateway.stack import PACE_S, Stack, caught_up, finished, opened
from tests.live import send
from tests.polling import until

Reader = Callable[..., Coroutine[Any, Any, list[Received]]]


def readers(transport: str, gateway: GatewayService, api: httpx.AsyncClient) -> Reader:
    async def sse(key: str, *, since: int | None = None, **kwargs: object) -> list[Received]:
        if transport == "sse-last-event-id":
            return await read_sse(api, key, last_event_id=since, **kwargs)  # type: ignore[arg-type]
        return await read_sse(api, key, since=since, **kwargs)  # type: ignore[arg-type]

    async def ws(key: str, *, since: int | None = None, **kwargs: object) -> list[Received]:
        return await read_ws(ws_url(gateway.url, key, since=since), **kwargs)  # type: ignore[arg-type]

    return ws if transport == "ws" else sse


PATHS = pytest.mark.parametrize("stack", ["direct", "asgi"], indirect=True)
"""Frames written by the hub to the connection (uvicorn's httptools and websockets protocols), or sent
through ASGI by a task per client (any other server)."""


@PATHS
@pytest.mark.parametrize("transport", ["sse", "ws"])
async def test_a_snapshot_then_every_update_in_order(
    transport: str, stack: Stack, nc: Client, api: httpx.AsyncClient, request: pytest.FixtureRequest
) -> None:
    read = readers(transport, stack.gateway, api)
    w, head, laps = await opened(nc, stack.gateway)
    reader = asyncio.create_task(read(w.session.key, until=finished))
    await until(lambda: stack.gateway.state.hub.client_count() == 1, "one client")
    health = msgspec.json.decode((await api.get("/healthz")).content, type=Health)
    assert health.written_directly == (1 if request.node.callspec.params["stack"] == "direct" else 0)
    stored = head + await send_paced(nc, laps, PACE_S)
    async with asyncio.timeout(30):
        received = await reader

    first = received[0].message
    assert isinstance(first, Snapshot) and first.reason is SnapshotReason.CONNECTED and first.seq == head[-1][0]
    assert [r.kind for r in received[1:]] == ["update"] * (len(received) - 1)
    seqs = [r.seq for r in received]
    assert seqs == sorted(set(seqs)) and seqs[-1] == stored[-1][0]
    assert all(r.seq == r.classification.last_seq for r in received)  # each message leaves one whole value
    assert all(r.message.base_seq == p.seq for p, r in itertools.pairwise(received))  # type: ignore[union-attr]
    assert len(received) > len(laps) // 2  # paced: most laps are values of their own
    offline = fold_log(stored).sessions[w.session.key].classification()
    assert encode_classification(received[-1].classification) == encode_classification(offline)
    kv = await nc.jetstream().key_value(stack.gateway.state.hub.bucket)
    assert encode_classification(received[-1].classification) == (await kv.get(w.session.key)).value


@PATHS
@pytest.mark.parametrize("transport", ["sse-last-event-id", "sse", "ws"])
async def test_resuming_after_a_dropped_connection_misses_nothing_and_repeats_nothing(
    transport: str, stack: Stack, nc: Client, api: httpx.AsyncClient
) -> None:
    read = readers(transport, stack.gateway, api)
    hub = stack.gateway.state.hub
    w, _, laps = await opened(nc, stack.gateway)
    key = w.session.key
    uninterrupted = asyncio.create_task(read(key, until=finished))
    dropped = asyncio.create_task(read(key, count=5))
    await until(lambda: hub.client_count() == 2, "two clients")
    sending = asyncio.create_task(send_paced(nc, laps, PACE_S))
    async with asyncio.timeout(30):
        before = await dropped
        await until(lambda: hub.client_count() == 1, "one client")  # the client that left is no longer fed
        await caught_up(hub, key, before[-1].seq + 3)
        after = await read(key, since=before[-1].seq, held=before[-1].classification, until=finished)
        await sending
        reference = await uninterrupted

    assert after[0].kind == "update", "a resumable client gets updates, not a snapshot"
    assert [r.seq for r in before + after] == [r.seq for r in reference]
    assert [encode_classification(r.classification) for r in before + after] == [
        encode_classification(r.classification) for r in reference
    ]


async def test_resuming_beyond_the_buffer_gets_a_snapshot_marked_gap(nats_url: str, stack: Stack, nc: Client) -> None:
    gateway = GatewayService(nats_url, {TOKEN}, port=0, hub=ClassificationHub(capacity=3))
    await gateway.start()
    try:
        w, _, laps = await opened(nc, gateway)
        first = await read_ws(ws_url(gateway.url, w.session.key), count=1)
        sent = await send_paced(nc, laps[:8], 0.05)  # more values than the buffer holds
        await caught_up(gateway.state.hub, w.session.key, sent[-1][0])
        resumed = await read_ws(ws_url(gateway.url, w.session.key, since=first[0].seq), count=1)
    finally:
        await gateway.stop()
    message = resumed[0].message
    assert isinstance(message, Snapshot) and message.reason is SnapshotReason.GAP
    assert message.seq > first[0].seq


async def test_a_rebuild_moves_the_feed_to_the_new_bucket_without_a_seam(
    stack: Stack, nc: Client, api: httpx.AsyncClient
) -> None:
    hub = stack.gateway.state.hub
    w, head, laps = await opened(nc, stack.gateway)
    key = w.session.key
    reader = asyncio.create_task(read_sse(api, key, until=finished))
    await until(lambda: hub.client_count() == 1, "one client")
    sending = asyncio.create_task(send_paced(nc, laps, PACE_S))
    await caught_up(hub, key, head[-1][0] + 6)
    rebuilt = await rebuild(nc.jetstream())
    stored = head + await sending
    async with asyncio.timeout(30):
        received = await reader

    assert hub.bucket == rebuilt.bucket == "chequered_classification_v2"
    assert [r.kind for r in received] == ["snapshot"] + ["update"] * (len(received) - 1)
    seqs = [r.seq for r in received]
    assert seqs == sorted(set(seqs)) and seqs[-1] == stored[-1][0]


@pytest.mark.parametrize(
    ("stack", "path"),
    [("direct", "/api/sessions/{key}/stream"), ("asgi", "/api/sessions/{key}/stream"),
     ("asgi", "/api/sessions/{key}/analysis/stream")],
    indirect=["stack"],
)  # fmt: skip
async def test_a_quiet_stream_writes_keep_alive_comments_and_still_every_message(
    stack: Stack, nc: Client, api: httpx.AsyncClient, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every ``HEARTBEAT_S`` without a message an SSE stream writes a comment (a proxy closes a silent connection),
    on the hub's direct path, on the ASGI path and on the analysis stream; the next message still comes."""
    monkeypatch.setattr(push, "HEARTBEAT_S", 0.05)
    w = SessionWriter()
    race = small_race(w, cars=2, laps=2)
    await send(nc, race[:-1])
    key = w.session.key
    await caught_up(stack.gateway.state.hub, key, 0)
    async with api.stream("GET", path.format(key=key)) as response:
        assert response.status_code == 200
        lines = response.aiter_lines()
        while not (await anext(lines)).startswith("data:"):
            pass  # the first message
        while await anext(lines) != push.KEEP_ALIVE.decode().strip():
            pass
        await send(nc, race[-1:])
        while not (await anext(lines)).startswith("data:"):
            pass  # the message after the silence
