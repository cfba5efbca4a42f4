"""nats-py's own ordered consumer reading a stream to its head: the baseline the read and rebuild figures are
ratios to (the services read to the head with :mod:`services.broker.bulkread`)."""

from __future__ import annotations

import asyncio

from nats.aio.msg import Msg
from nats.js import JetStreamContext

from schemas.events import decode_event


async def nats_py_read(js: JetStreamContext, subject: str, *, decode: bool = False) -> int:
    """Messages read from ``subject``'s first to its last (each event decoded with ``decode``)."""
    count = 0
    done = asyncio.Event()

    async def take(msg: Msg) -> None:
        nonlocal count
        if decode:
            decode_event(msg.data)
        count += 1
        if msg.metadata.num_pending == 0:
            done.set()

    sub = await js.subscribe(subject, cb=take, ordered_consumer=True, pending_msgs_limit=-1, pending_bytes_limit=-1)
    try:
        await asyncio.wait_for(done.wait(), 120)
    finally:
        await sub.unsubscribe()
    return count
