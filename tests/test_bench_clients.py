"""The gateway benchmark's SSE reader finds every event's sequence however the bytes are cut."""

from __future__ import annotations

import pytest

from bench.gateway import Arrivals, _SseClient
from services.gateway.hub import Outgoing
from services.gateway.push import RETRY
from services.gateway.wire import http_chunk

HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"


def _stream() -> bytes:
    events = [Outgoing(seq, "update", b'{"kind":"update","seq":%d,"rows":[]}' % seq) for seq in (7, 8, 10, 11)]
    # a client behind gets several events in one chunk
    together = http_chunk(bytes(events[2].sse) + bytes(events[3].sse))
    return HEAD + http_chunk(RETRY) + events[0].chunk + events[1].chunk + together


@pytest.mark.parametrize("cut", range(0, len(_stream()), 7))
def test_every_id_is_found_wherever_the_stream_is_cut(cut: int) -> None:
    arrivals = Arrivals()
    reader = _SseClient(b"", arrivals)
    stream = _stream()
    reader.data_received(stream[:cut])
    reader.data_received(stream[cut:])
    assert arrivals.seqs == [7, 8, 10, 11]
