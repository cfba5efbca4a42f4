"""The gateway's edges: half-sent requests and too many connections, security headers, a cross-origin page with
``Authorization: Bearer`` in real Chromium."""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from nats.aio.client import Client

from services.broker.embedded import EmbeddedNats, free_port
from services.gateway.access import CONTENT_SECURITY_POLICY
from services.gateway.server import GatewayService
from tests.browser import chromium_or_skip, launched
from tests.factory import SessionWriter, small_race
from tests.gateway.clients import TOKEN
from tests.gateway.stack import Stack, caught_up
from tests.live import send
from tests.reliability.processes import ROOT

HALF_A_REQUEST = b"GET /api/sessions HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer "


async def half_sent(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(HALF_A_REQUEST)
    await writer.drain()
    return reader, writer


async def closed_by_the_server(reader: asyncio.StreamReader, timeout: float = 30.0) -> bytes:
    """What the server sent before closing the connection (it must close it within ``timeout``); a connection
    closed while what the client sent was still unread is reset, and may lose the answer: b"" then."""
    try:
        return await asyncio.wait_for(reader.read(), timeout)
    except ConnectionResetError:
        return b""


@pytest.fixture
async def guarded(nats_url: str) -> AsyncIterator[GatewayService]:
    gateway = GatewayService(nats_url, {TOKEN}, port=0, header_timeout=0.5, max_connections=20)
    await gateway.start()
    try:
        yield gateway
    finally:
        await gateway.stop()


async def test_half_sent_requests_are_closed_and_connections_beyond_the_cap_refused(
    guarded: GatewayService,
) -> None:
    """uvicorn waited for request headers for ever and took connections until it ran out of descriptors."""
    clients = [await half_sent(guarded.port) for _ in range(30)]
    try:
        answers = await asyncio.gather(*(closed_by_the_server(reader) for reader, _ in clients))
        assert sum(a.startswith(b"HTTP/1.1 408 ") for a in answers) == 20  # the cap's worth, once too slow
        assert all(a.startswith(b"HTTP/1.1 503 ") or not a for a in answers if not a.startswith(b"HTTP/1.1 408 "))
        async with httpx.AsyncClient(base_url=guarded.url) as client:
            response = await client.get("/api/sessions", headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status_code == 200
    finally:
        for _, writer in clients:
            writer.close()


@pytest.mark.slow
async def test_a_gateway_process_out_of_descriptors_is_reachable_again(tmp_path: Path) -> None:
    """1,500 half-sent requests made a gateway unreachable for good (here: 400, with a limit of 256 descriptors,
    what ``ulimit -n`` may be): it accepted until it ran out of descriptors and held them for ever. Now those
    beyond the cap are refused at once, the others closed when their headers are late, and it answers again."""
    port = free_port()
    url, headers = f"http://127.0.0.1:{port}/api/sessions", {"Authorization": f"Bearer {TOKEN}"}

    def few_descriptors() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))

    async def answered(client: httpx.AsyncClient, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(url, headers=headers)).status_code == 200:
                    return True
            await asyncio.sleep(0.2)
        return False

    with EmbeddedNats(tmp_path / "nats") as server, (tmp_path / "gateway.log").open("wb") as log:
        gateway = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "services.cli", "serve", "gateway", "--nats", server.url,
            "--gateway-port", str(port), "--token", TOKEN,
            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=log, stderr=log, preexec_fn=few_descriptors,
        )  # fmt: skip
        clients: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        try:
            async with httpx.AsyncClient(timeout=2) as client:
                assert await answered(client, 30), "the gateway never started"
                clients = [await half_sent(port) for _ in range(400)]
                answers = await asyncio.gather(*(closed_by_the_server(reader, 60) for reader, _ in clients))
                assert {answer[:13] for answer in answers} <= {b"HTTP/1.1 503 ", b"HTTP/1.1 408 ", b""}
                assert sum(answer.startswith(b"HTTP/1.1 408 ") for answer in answers) >= 100  # the ones held
                assert await answered(client, 30), "the gateway stayed unreachable"
        finally:
            for _, writer in clients:
                writer.close()
            gateway.terminate()
            await gateway.wait()


async def test_every_response_carries_the_security_headers(stack: Stack) -> None:
    """The page's address holds its token: no Referer may carry it; the page runs only its own script."""
    async with httpx.AsyncClient(base_url=stack.gateway.url) as client:
        for path in ("/", "/static/app.js", "/api/sessions", "/api/openapi.json"):
            response = await client.get(path, headers={"Authorization": f"Bearer {TOKEN}"})
            assert response.status_code == 200, path
            assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
            assert response.headers["referrer-policy"] == "no-referrer"
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.headers["access-control-allow-origin"] == "*"


async def test_a_preflight_for_a_bearer_token_is_answered(stack: Stack) -> None:
    """It was answered 405: a graphics page on another origin could not send ``Authorization: Bearer``."""
    async with httpx.AsyncClient(base_url=stack.gateway.url) as client:
        response = await client.options(
            "/api/sessions",
            headers={
                "Origin": "http://graphics.example",
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "authorization",
            },
        )
        plain = await client.options("/api/sessions")
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "*"
    assert "Authorization" in response.headers["access-control-allow-headers"]
    assert "GET" in response.headers["access-control-allow-methods"]
    assert plain.status_code == 405  # not a preflight: still read-only


@pytest.mark.browser
async def test_a_page_of_another_origin_reads_with_a_bearer_token_and_the_live_page_keeps_its_policy(
    stack: Stack, nc: Client
) -> None:
    """In Chromium: a graphics page served from elsewhere fetches with ``Authorization: Bearer`` (the browser
    preflights it), and the live timing page works under its Content-Security-Policy (no violation)."""
    executable = chromium_or_skip()

    w = SessionWriter()
    stored = await send(nc, small_race(w, cars=4, laps=2))
    hub = stack.gateway.state.hub
    await caught_up(hub, w.session.key, stored[-1][0])

    async def graphics_page(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """A graphics template served from another origin (another port), as a CG server or a file server does."""
        await reader.readuntil(b"\r\n\r\n")
        body = b"<!doctype html><title>graphics</title>"
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))
        await writer.drain()
        writer.close()

    graphics = await asyncio.start_server(graphics_page, "127.0.0.1", 0)
    origin = f"http://127.0.0.1:{graphics.sockets[0].getsockname()[1]}"
    try:
        async with launched(executable) as browser:
            page = await browser.new_page()
            await page.goto(f"{origin}/tower.html")
            fetched = await page.evaluate(
                """async ([url, token]) => {
                    const response = await fetch(url, {headers: {Authorization: `Bearer ${token}`}});
                    return {status: response.status, body: await response.json()};
                }""",
                [f"{stack.gateway.url}/api/sessions", TOKEN],
            )
            assert fetched["status"] == 200 and w.session.key in str(fetched["body"])

            live = await browser.new_page()
            violations: list[str] = []
            live.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
            live.on("pageerror", lambda error: violations.append(str(error)))
            await live.goto(f"{stack.gateway.url}/?session={w.session.key}&token={TOKEN}")
            await live.wait_for_function(
                "() => document.querySelectorAll('#tower-body tr').length === 4", timeout=15_000
            )
            assert violations == []
    finally:
        graphics.close()
