"""Frames written by the hub to real connections: framing, and a client that stops reading is dropped."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from operator import attrgetter

import pytest
from websockets.frames import Frame
from websockets.protocol import Protocol, Side, State

from services.gateway.hub import ClassificationHub
from services.gateway.wire import Wire, http_chunk, text_frame
from tests.gateway.test_hub import KEY, value


@pytest.mark.parametrize("size", [0, 125, 126, 65_535, 65_536, 300_000])
def test_a_text_frame_is_what_a_websocket_client_reads_as_one_message(size: int) -> None:
    data = b"x" * size
    client = Protocol(Side.CLIENT, state=State.OPEN, max_size=None)
    client.receive_data(text_frame(data))
    [frame] = client.events_received()
    assert isinstance(frame, Frame) and frame.fin and frame.data == data and client.parser_exc is None


def test_an_http_chunk_carries_its_size_in_hex() -> None:
    assert http_chunk(b"data: 1\n\n") == b"9\r\ndata: 1\n\n\r\n"


class _Accepted(asyncio.Protocol):
    def __init__(self, transports: asyncio.Queue[asyncio.Transport]) -> None:
        self._transports = transports

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        sock = transport.get_extra_info("socket")
        # the kernel holds little, so the gateway's own buffer fills
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        self._transports.put_nowait(transport)


@contextlib.asynccontextmanager
async def _connections() -> AsyncIterator[Callable[[], Awaitable[tuple[asyncio.Transport, socket.socket]]]]:
    """Makes loopback connections whose client side never reads: (the server's transport, the client's socket)."""
    loop = asyncio.get_running_loop()
    transports: asyncio.Queue[asyncio.Transport] = asyncio.Queue()
    server = await loop.create_server(lambda: _Accepted(transports), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    made: list[tuple[asyncio.Transport, socket.socket]] = []

    async def connect() -> tuple[asyncio.Transport, socket.socket]:
        client = socket.socket()
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        client.connect(("127.0.0.1", port))
        made.append((await transports.get(), client))
        return made[-1]

    try:
        yield connect
    finally:
        for transport, client in made:
            transport.abort()
            client.close()
        server.close()
        await server.wait_closed()


async def test_a_client_that_stops_reading_is_dropped_and_the_other_gets_every_message() -> None:
    hub = ClassificationHub(max_buffered=16 * 1024)
    async with _connections() as connect:
        stalled_side, _ = await connect()
        reading_side, reading = await connect()
        reader, writer = await asyncio.open_connection(sock=reading)
        try:
            hub.apply(KEY, value(1))
            sse = attrgetter("sse")
            stalled_feed = hub.direct(KEY, None, Wire(stalled_side, hub.max_buffered), sse)
            reading_feed = hub.direct(KEY, None, Wire(reading_side, hub.max_buffered), sse)
            seq = 1
            while hub.dropped == 0 and seq < 20_000:
                seq += 1
                hub.apply(KEY, value(seq))
                await asyncio.sleep(0)  # the loop writes out what the reading client takes
            assert hub.dropped == 1 and stalled_feed.ended.done() and stalled_feed.overflowed
            assert stalled_side.is_closing(), "a dropped client's connection is closed, its backlog discarded"
            assert hub.client_count() == 1 and not reading_feed.ended.done()
            assert seq > 2, "dropped for what it was behind, not at once"

            ids: list[int] = []
            async with asyncio.timeout(10):
                while len(ids) < seq:
                    line = await reader.readline()
                    if line.startswith(b"id: "):
                        ids.append(int(line[4:]))
            assert ids == list(range(1, seq + 1))
        finally:
            await hub.stop()
            writer.close()


async def test_a_long_resume_is_not_taken_for_a_client_too_far_behind() -> None:
    hub = ClassificationHub(max_buffered=1024)
    for seq in range(1, 300):
        hub.apply(KEY, value(seq))
    async with _connections() as connect:
        side, _ = await connect()
        feed = hub.direct(KEY, 1, Wire(side, hub.max_buffered), attrgetter("chunk"))  # a backlog of 298 updates
        assert side.get_write_buffer_size() > hub.max_buffered
        hub.apply(KEY, value(300))
        assert hub.dropped == 0 and not feed.ended.done()
        await hub.stop()


async def test_a_client_that_left_ends_its_feed_at_the_next_message() -> None:
    hub = ClassificationHub()
    hub.apply(KEY, value(1))
    async with _connections() as connect:
        side, _ = await connect()
        feed = hub.direct(KEY, None, Wire(side, hub.max_buffered), attrgetter("chunk"))
        side.close()
        hub.apply(KEY, value(2))
        assert feed.ended.done() and not feed.overflowed and hub.dropped == 0
        await hub.stop()
