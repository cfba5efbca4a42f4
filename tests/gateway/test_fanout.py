"""Two hundred SSE clients at once: every one receives every update, in order."""

from __future__ import annotations

import asyncio

import httpx
from nats.aio.client import Client

from tests.gateway.clients import TOKEN, read_sse, send_paced
from tests.gateway.stack import CARS, LAPS, Stack, finished, opened
from tests.polling import until

CLIENTS = 200


async def test_two_hundred_sse_clients_all_receive_every_update(stack: Stack, nc: Client) -> None:
    hub = stack.gateway.state.hub
    w, _, laps = await opened(nc, stack.gateway)
    limits = httpx.Limits(max_connections=CLIENTS + 10, max_keepalive_connections=0)
    headers = {"authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=stack.gateway.url, headers=headers, limits=limits, timeout=30.0) as client:
        readers = [asyncio.create_task(read_sse(client, w.session.key, until=finished)) for _ in range(CLIENTS)]
        async with asyncio.timeout(60):
            await until(lambda: hub.client_count() == CLIENTS, f"{CLIENTS} clients")
            stored = await send_paced(nc, laps, 0.01)
            views = await asyncio.gather(*readers)

    reference = [r.seq for r in views[0]]
    assert reference[-1] == stored[-1][0] and reference == sorted(set(reference))
    assert len(reference) > 1 + CARS * LAPS // 2  # a snapshot and many updates
    assert all([r.seq for r in view] == reference for view in views), "every client saw the same values"
    assert all(view[0].kind == "snapshot" and {r.kind for r in view[1:]} == {"update"} for view in views)
    assert hub.dropped == 0
