"""The write-behind queue of the projectors: order, one writer per key, pauses, failures."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from services.broker.writebehind import WriteQueue


class Recorder:
    """A ``write`` that records its calls and, for the keys ``held``, waits until their event is set."""

    def __init__(self, *held: str) -> None:
        self.started: list[str] = []
        self.done: list[str] = []
        self.held = {key: asyncio.Event() for key in held}
        self.in_flight: set[str] = set()
        self.overlaps: list[str] = []

    async def __call__(self, key: str) -> None:
        if key in self.in_flight:
            self.overlaps.append(key)
        self.in_flight.add(key)
        self.started.append(key)
        if key in self.held:
            await self.held[key].wait()
        await asyncio.sleep(0)
        self.in_flight.discard(key)
        self.done.append(key)


@contextlib.asynccontextmanager
async def running(write: Callable[[str], Awaitable[None]], writers: int) -> AsyncIterator[WriteQueue]:
    queue = WriteQueue(write, "test", writers=writers)
    queue.start()
    try:
        yield queue
    finally:
        await queue.stop()


async def test_keys_are_written_oldest_first_and_a_key_queued_twice_once() -> None:
    write = Recorder()
    async with running(write, 1) as queue:
        queue.add(["b", "a", "c"])
        queue.add(["a", "d"])  # "a" keeps its place
        await asyncio.wait_for(queue.drained(), 5)
        assert write.done == ["b", "a", "c", "d"]


async def test_a_key_changed_while_it_is_written_is_written_again_after_never_alongside() -> None:
    write = Recorder("a")
    async with running(write, 4) as queue:
        queue.add(["a"])
        await asyncio.sleep(0.01)
        queue.add(["a", "b"])  # "a" is being written: "b" goes ahead, "a" waits for its first write to land
        await asyncio.sleep(0.01)
        assert write.started == ["a", "b"] and queue.waiting == {"a"}
        write.held["a"].set()
        await asyncio.wait_for(queue.drained(), 5)
        assert write.done == ["b", "a", "a"] and not write.overlaps


async def test_inside_a_pause_no_write_is_in_flight_and_none_starts() -> None:
    write = Recorder("a")
    async with running(write, 2) as queue:
        queue.add(["a"])
        await asyncio.sleep(0.01)
        entered = asyncio.Event()

        async def pause() -> None:
            async with queue.paused():
                entered.set()
                queue.add(["b"])
                await asyncio.sleep(0.02)
                assert write.in_flight == set() and "b" not in write.started

        pausing = asyncio.create_task(pause())
        await asyncio.sleep(0.01)
        assert not entered.is_set()  # "a" is still in flight
        write.held["a"].set()
        await asyncio.wait_for(pausing, 5)
        await asyncio.wait_for(queue.drained(), 5)
        assert write.done == ["a", "b"]


async def test_a_write_that_raises_fails_the_queue_and_ends_the_wait() -> None:
    async def write(key: str) -> None:
        if key == "bad":
            raise ValueError("the rules failed")

    async with running(write, 2) as queue:
        queue.add(["good", "bad", "later"])
        await asyncio.wait_for(queue.drained(), 5)
        assert isinstance(queue.failed, ValueError)
        queue.add(["after"])  # nothing more is written: nobody waits for it
        await asyncio.wait_for(queue.drained(), 5)


async def test_what_is_abandoned_is_not_written_and_nobody_waits_for_it() -> None:
    write = Recorder("a")
    async with running(write, 1) as queue:
        queue.add(["a", "b", "c"])
        await asyncio.sleep(0.01)
        queue.abandon()
        write.held["a"].set()  # the write in flight ends as it will
        await asyncio.wait_for(queue.drained(), 5)
        assert write.done == ["a"]


@pytest.mark.parametrize("writers", [1, 3])
async def test_drained_waits_for_every_key_queued(writers: int) -> None:
    write = Recorder()
    async with running(write, writers) as queue:
        for i in range(20):
            queue.add([f"k{i % 7}"])
            if i % 5 == 0:
                await asyncio.sleep(0)
        await asyncio.wait_for(queue.drained(), 5)
        assert set(write.done) == {f"k{i}" for i in range(7)} and not queue.waiting and not write.overlaps
