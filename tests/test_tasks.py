"""Cancelling tasks for sure (services/tasks.py), even one that carried on after a cancellation it never saw."""

from __future__ import annotations

import asyncio

import pytest

from services.tasks import cancel

DEADLINE_S = 30.0
"""Only a guard against a hang: cancelling takes a fraction of a second."""


async def test_a_task_that_lost_its_cancellation_in_wait_for_is_cancelled_again() -> None:
    """As nats-py's requests do: the answer and the cancellation come in the same turn of the loop; on Python
    3.11 ``wait_for`` returns the answer and the task goes on to wait for something that never comes."""
    answer: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    went_on = asyncio.Event()

    async def watch() -> None:
        await asyncio.wait_for(answer, DEADLINE_S)
        went_on.set()
        await asyncio.Event().wait()  # a change of the watched key that never comes

    task = asyncio.create_task(watch())
    await asyncio.sleep(0)  # it waits for its answer
    answer.set_result(1)
    task.cancel()  # in the same turn
    await asyncio.wait_for(cancel(task), DEADLINE_S)
    assert task.cancelled()


async def test_a_task_that_swallows_cancellations_twice_is_still_ended() -> None:
    swallowed = 0

    async def stubborn() -> None:
        nonlocal swallowed
        while swallowed < 2:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                swallowed += 1
        await asyncio.Event().wait()

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    await asyncio.wait_for(cancel(task), DEADLINE_S)
    assert task.cancelled() and swallowed == 2


async def test_what_a_task_failed_with_is_raised_and_the_others_still_end() -> None:
    async def fails() -> None:
        raise ValueError("the broker said no")

    failing = asyncio.create_task(fails())
    waiting = asyncio.create_task(asyncio.Event().wait())
    await asyncio.sleep(0)
    with pytest.raises(ValueError, match="the broker said no"):
        await cancel(failing, waiting)
    assert waiting.cancelled()
