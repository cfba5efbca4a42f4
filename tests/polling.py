"""Waiting in tests: poll a condition until it holds, and fail after a deadline saying what was awaited.

The one way a test waits for something asynchronous (a projector's write, a process's readiness, a line
printed): never sleep then assert, since on a loaded machine anything may take longer.  :func:`until` is
for coroutines (the condition may itself be a coroutine function), :func:`wait_until` blocks a thread.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable

What = str | Callable[[], str]
"""What was awaited, for the failure's message: a phrase, or a function saying it at the deadline (what was
seen so far)."""

POLL_S = 0.02


def _timed_out(what: What, timeout: float) -> AssertionError:
    said = what if isinstance(what, str) else what()
    return AssertionError(f"timed out after {timeout:.0f} s waiting for {said}")


async def until(condition: Callable[[], bool | Awaitable[bool]], what: What, timeout: float = 30.0) -> None:
    """Await ``condition()`` (called, and awaited when it returns an awaitable) until it is true; fail naming
    ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        held = condition()
        if inspect.isawaitable(held):
            held = await held
        if held:
            return
        if time.monotonic() > deadline:
            raise _timed_out(what, timeout)
        await asyncio.sleep(POLL_S)


def wait_until(condition: Callable[[], bool], what: What, timeout: float = 60.0) -> None:
    """:func:`until` for a thread that may block (a subprocess's output, a file on disk)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise _timed_out(what, timeout)
        time.sleep(POLL_S)
