"""``python -m bench.kvwatch URL BUCKET``: a bucket's writes, watched from a process of its own.

Prints ``ready`` once watching, then, when sent SIGTERM, one JSON array of
``[key, last_seq, monotonic time]``: the moment each value became readable.
The scale benchmark's lag is measured with it: a watcher inside the
publishing process read every 40 KB value through the same event loop that
published, so its own backlog was counted as the projector's lag. The
monotonic clock is the machine's, the same in every process.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time

import msgspec

from bench.gateway import decode_last_seq
from services.broker.connection import connect


async def _watch(url: str, bucket: str) -> list[tuple[str, int, float]]:
    nc = await connect(url, "bench-kvwatch")
    seen: list[tuple[str, int, float]] = []
    try:
        watcher = await (await nc.jetstream().key_value(bucket)).watchall(include_history=False)
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)

        async def watch() -> None:  # cancelled, never finished: each write is kept as it comes
            async for entry in watcher:
                if entry is not None and entry.value:
                    seen.append((entry.key, decode_last_seq(entry.value).last_seq, time.monotonic()))  # noqa: PERF401

        watching = asyncio.create_task(watch())
        print("ready", flush=True)
        await stop.wait()
        watching.cancel()
    finally:
        await nc.close()
    return seen


def main() -> None:
    url, bucket = sys.argv[1:3]
    sys.stdout.buffer.write(msgspec.json.encode(asyncio.run(_watch(url, bucket))))


if __name__ == "__main__":
    main()
