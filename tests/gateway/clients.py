"""Test clients of the gateway: SSE (httpx + httpx-sse), WebSocket (websockets), and paced sending."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import msgspec
import websockets
from httpx_sse import aconnect_sse
from nats.aio.client import Client

from schemas.events import Event
from schemas.results import Classification
from services.gateway import delta
from services.gateway.messages import Snapshot, StreamMessage
from tests.live import send

TOKEN = "test-read-token"
_messages = msgspec.json.Decoder(StreamMessage)


@dataclass(frozen=True)
class Received:
    kind: str
    seq: int
    message: StreamMessage
    classification: Classification
    """What the client holds once the message is applied: the whole value of ``seq``."""


class Holder:
    """A client's view: a snapshot replaces it, an update must apply to exactly what it holds."""

    def __init__(self, held: Classification | None = None) -> None:
        self.held = held

    def take(self, kind: str, message: StreamMessage) -> Received:
        if isinstance(message, Snapshot):
            self.held = message.classification
        else:
            assert self.held is not None, "an update before any snapshot"
            assert message.base_seq == self.held.last_seq, "an update that does not apply to the value held"
            self.held = delta.apply(self.held, message)
        assert self.held.last_seq == message.seq
        return Received(kind, message.seq, message, self.held)


def kind_of(message: StreamMessage) -> str:
    return "snapshot" if isinstance(message, Snapshot) else "update"


async def send_paced(nc: Client, events: list[Event], interval: float) -> list[tuple[int, Event]]:
    """One event at a time, ``interval`` seconds apart, so most become a KV value of their own."""
    stored: list[tuple[int, Event]] = []
    for event in events:
        stored += await send(nc, [event])
        await asyncio.sleep(interval)
    return stored


def _enough(received: list[Received], until: Callable[[Received], bool] | None, count: int | None) -> bool:
    return (until is not None and until(received[-1])) or (count is not None and len(received) >= count)


def stream_path(key: str) -> str:
    return f"/api/sessions/{key}/stream"


async def read_sse(
    client: httpx.AsyncClient,
    key: str,
    *,
    until: Callable[[Received], bool] | None = None,
    count: int | None = None,
    since: int | None = None,
    last_event_id: int | None = None,
    held: Classification | None = None,
) -> list[Received]:
    """Messages of the session's SSE feed until one satisfies ``until`` or ``count`` arrived; a resuming
    client passes the value it ``held``, which the first updates apply to."""
    headers = {"last-event-id": str(last_event_id)} if last_event_id is not None else {}
    params = {"since": since} if since is not None else {}
    received: list[Received] = []
    holder = Holder(held)
    async with aconnect_sse(client, "GET", stream_path(key), params=params, headers=headers) as source:
        assert source.response.status_code == 200
        async for sse in source.aiter_sse():
            message = _messages.decode(sse.data)
            assert sse.id == str(message.seq) and sse.event == kind_of(message)
            received.append(holder.take(sse.event, message))
            if _enough(received, until, count):
                break
    return received


def ws_url(base: str, key: str, **query: object) -> str:
    params = "&".join(f"{name}={value}" for name, value in {"token": TOKEN, **query}.items() if value is not None)
    return f"{base.replace('http://', 'ws://')}/ws/sessions/{key}?{params}"


async def read_ws(
    url: str,
    *,
    until: Callable[[Received], bool] | None = None,
    count: int | None = None,
    held: Classification | None = None,
) -> list[Received]:
    """Messages of a WebSocket feed until one satisfies ``until`` or ``count`` arrived (see :func:`read_sse`)."""
    received: list[Received] = []
    holder = Holder(held)
    async with websockets.connect(url, max_size=None) as socket:
        async for frame in socket:
            message = _messages.decode(frame)
            received.append(holder.take(kind_of(message), message))
            if _enough(received, until, count):
                break
    return received
