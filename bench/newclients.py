"""The new official clients on a given server, for ``bench ingest``: run under Python 3.13 (they need it).

``python3.13 bench/newclients.py nats://127.0.0.1:PORT`` prints a JSON object of rates (messages per second) of
``nats-jetstream``'s publish awaited one by one, ``nats-jetstream-extra``'s fast-ingest batches (``allow_batched``)
and atomic batches, and of reading the same messages back with ``nats-jetstream``'s ordered consumer and with
batch direct gets. It uses a stream of its own with those features allowed, and payloads of an event's size.
Standalone on purpose: the project's packages need not be installed beside the new clients.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

COUNT = 12_000
BATCH = 1_000
PAYLOAD = b'{"v":1,"body":{"type":"lap_completed","number":"7","lap":12,"lap_time_ms":107234}}'.ljust(300, b" ")


async def measure(url: str) -> dict[str, float]:
    import nats.jetstream_extra as extra
    from nats.client import connect
    from nats.jetstream import new

    nc: Any = await connect(url)
    js: Any = new(nc)
    await js.create_stream(
        name="BENCH_NEW_CLIENTS", subjects=["bench.new.>"], allow_atomic=True, allow_batched=True, allow_direct=True
    )
    rates: dict[str, float] = {}

    def rate(name: str, started: float, count: int = COUNT) -> None:
        rates[name] = count / (time.perf_counter() - started)

    started = time.perf_counter()
    for i in range(COUNT // 10):
        await js.publish(f"bench.new.one.{i % 40}", PAYLOAD, headers={"Nats-Msg-Id": f"one-{i}"})
    rate("publish, ack awaited each", started, COUNT // 10)

    started = time.perf_counter()
    for start in range(0, COUNT, BATCH):
        fast = extra.fast_publish(js, flow=500)
        for i in range(start, start + BATCH):
            await fast.add(f"bench.new.fast.{i % 40}", PAYLOAD, headers={"Nats-Msg-Id": f"fast-{i}"})
        await fast.close()
    rate("fast-ingest batches of 1,000", started)

    started = time.perf_counter()
    for start in range(0, COUNT, BATCH):
        batch = [
            extra.BatchMessage(f"bench.new.atomic.{i % 40}", PAYLOAD, {"Nats-Msg-Id": f"atomic-{i}"})
            for i in range(start, start + BATCH)
        ]
        await extra.publish_batch(js, batch, ack_first=False)
    rate("atomic batches of 1,000", started)

    stored = COUNT // 10 + 2 * COUNT
    started, read = time.perf_counter(), 0
    consumer = await js.ordered_consumer("BENCH_NEW_CLIENTS")
    messages = await consumer.messages(max_messages=BATCH)
    async for _ in messages:
        read += 1
        if read == stored:
            break
    await messages.stop()
    rate("ordered consumer read", started, stored)

    started, read, seq = time.perf_counter(), 0, 1
    while read < stored:
        async for message in extra.get_batch(js, "BENCH_NEW_CLIENTS", 10_000, seq=seq):
            read, seq = read + 1, message.sequence + 1
    rate("batch direct get read", started, stored)
    await js.delete_stream("BENCH_NEW_CLIENTS")
    await nc.close()
    return rates


if __name__ == "__main__":
    print(json.dumps(asyncio.run(measure(sys.argv[1]))))
