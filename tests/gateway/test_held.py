"""Values held for a moment: a crowd asking at once costs one read, a value is never older than the hold, a key
with no value and a read that failed are not held, and a request that goes away leaves the others their read."""

from __future__ import annotations

import asyncio

import pytest

from services.gateway.held import HeldValues

pytestmark = pytest.mark.asyncio


class Store:
    """What a lookup reads: a value per key, counted reads, and a gate that holds every read until it opens."""

    def __init__(self) -> None:
        self.values: dict[str, bytes] = {}
        self.reads = 0
        self.gate = asyncio.Event()
        self.gate.set()
        self.failing = False

    async def lookup(self, key: str) -> bytes | None:
        self.reads += 1
        await self.gate.wait()
        if self.failing:
            raise ConnectionError("broker gone")
        return self.values.get(key)

    async def crowd(self, held: HeldValues, count: int) -> list[bytes | BaseException | None]:
        """What ``count`` requests for ``gt.live`` get, all made while the first read waits at the gate."""
        self.gate.clear()
        asking = [asyncio.create_task(held.get("gt.live")) for _ in range(count)]
        await asyncio.sleep(0)
        self.gate.set()
        return await asyncio.gather(*asking, return_exceptions=True)


def stocked(hold_s: float = 60) -> tuple[Store, HeldValues]:
    """A store holding ``gt.live``, and its values held for ``hold_s``."""
    store = Store()
    store.values["gt.live"] = b"v3"
    return store, HeldValues(store.lookup, hold_s=hold_s)


async def test_a_crowd_asking_at_once_costs_one_read() -> None:
    store, held = stocked()
    assert await store.crowd(held, 100) == [b"v3"] * 100
    assert await held.get("gt.live") == b"v3"
    assert store.reads == 1


async def test_a_value_is_read_again_once_the_hold_is_over() -> None:
    store, held = stocked(hold_s=0.05)
    assert await held.get("gt.live") == b"v3"
    store.values["gt.live"] = b"v4"
    assert await held.get("gt.live") == b"v3", "still held"
    await asyncio.sleep(0.06)
    assert await held.get("gt.live") == b"v4"
    assert store.reads == 2


async def test_a_key_with_no_value_is_not_held() -> None:
    store = Store()
    held = HeldValues(store.lookup, hold_s=60)
    assert await held.get("nobody.live") is None
    assert await held.get("nobody.live") is None
    assert store.reads == 2
    store.values["nobody.live"] = b"v1"
    assert await held.get("nobody.live") == b"v1", "a value written since is seen at once"


async def test_a_failed_read_reaches_every_request_waiting_for_it_and_is_not_held() -> None:
    store, held = stocked()
    store.failing = True
    assert all(isinstance(outcome, ConnectionError) for outcome in await store.crowd(held, 3))
    store.failing = False
    assert await held.get("gt.live") == b"v3"
    assert store.reads == 2


async def test_a_request_that_goes_away_leaves_the_others_their_read() -> None:
    store, held = stocked()
    store.gate.clear()
    leaving, staying = asyncio.create_task(held.get("gt.live")), asyncio.create_task(held.get("gt.live"))
    await asyncio.sleep(0)
    leaving.cancel()
    store.gate.set()
    assert await staying == b"v3"
    assert leaving.cancelled()
    assert store.reads == 1
