"""Cancelling asyncio tasks for sure.

Python 3.11's ``asyncio.wait_for`` swallows a cancellation that arrives in the same turn of the loop as the
result it waits for, and returns the result instead (CPython gh-86296, fixed in 3.12). nats-py waits for every
request that way, so a task cancelled while it subscribes or asks the server something can carry on as if
nothing happened, and whoever awaits its end waits forever: a gateway's stop hung so, its task watching the
read-model pointer still waiting for a change. :func:`cancel` cancels again until the tasks have ended.
"""

from __future__ import annotations

import asyncio
from typing import Any

CANCEL_AGAIN_S = 0.5
"""How long a cancelled task has to end before it is cancelled again."""


async def cancel(*tasks: asyncio.Future[Any]) -> None:
    """Cancel ``tasks`` and return once every one has ended, cancelling again any that carries on; then raise what
    the first that failed (other than by its cancellation) raised."""
    for task in tasks:
        task.cancel()
    pending = {task for task in tasks if not task.done()}
    while pending:
        _, pending = await asyncio.wait(pending, timeout=CANCEL_AGAIN_S)
        for task in pending:
            task.cancel()
    failed = [task.exception() for task in tasks if not task.cancelled()]  # each retrieved: none left unreported
    for error in failed:
        if error is not None:
            raise error
