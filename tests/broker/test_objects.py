"""Reading an object store while the object is replaced (services/broker/objects.py): every read ends, whole.

nats-py's ``ObjectStore.get`` waits forever for the chunks of a version purged while it reads: the gateway's
document endpoint and the documents test hung that way when the final documents replaced the provisional ones.
"""

from __future__ import annotations

import asyncio

from nats.aio.client import Client

from services.broker.objects import read_object

BUCKET = "test_objects"
CHUNK = 128 * 1024
"""nats-py's chunk size: the versions below span several chunks, so a purge can fall between two."""


def _version(i: int) -> bytes:
    return f"{i:08d}".encode() * (3 * CHUNK // 8 + 1)


async def test_an_object_replaced_while_it_is_read_is_read_whole(nc: Client) -> None:
    js = nc.jetstream()
    store = await js.create_object_store(BUCKET)
    await store.put("doc", _version(0))
    written = 0
    replacing = True

    async def replace() -> None:
        """A new version as often as the broker takes one, a breath apart: back to back, on a loaded machine, the
        replacer can outrun the reader five times running (then the read says so, as it should)."""
        nonlocal written
        while replacing:
            await store.put("doc", _version(written + 1))
            written += 1
            await asyncio.sleep(0.005)

    replacer = asyncio.create_task(replace())
    try:
        reads = [await asyncio.wait_for(read_object(js, store, "doc"), 60) for _ in range(60)]
    finally:
        replacing = False
        await replacer
    assert written >= 10, "the object was replaced while it was read"
    for data in reads:
        assert data is not None
        assert data == _version(int(data[:8])), "one version, whole"
    assert [int(data[:8]) for data in reads if data] == sorted(int(data[:8]) for data in reads if data)


async def test_a_missing_object_reads_as_none_and_an_empty_one_as_no_bytes(nc: Client) -> None:
    js = nc.jetstream()
    store = await js.create_object_store(BUCKET)
    assert await read_object(js, store, "nothing") is None
    await store.put("empty", b"")
    assert await read_object(js, store, "empty") == b""
