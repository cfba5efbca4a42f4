"""Ingest judges a request while the stream stores the one before it.

A request is handled in two steps. It is judged at once, in arrival order (decoded, checked against the rules and
the ledger, its events admitted provisionally). Storing it and answering it (its atomic batch, the stream's
acknowledgement, the reply) is its *stage*, and stages run one after another, in the same order. So while the
broker stores one request, ingest judges the next: the two work at once, on two cores, where one request at a time
kept each waiting for the other.

A request judged while the stage before it was still storing was judged with that request's events as admitted, not
as stored. Its stage stores it only if the stage before it *held* (every event stored, or refused for good: none to
be sent again); otherwise nothing of it is stored, every event is answered ``unavailable``, and its sessions'
ledgers are read again from the log. A request that says which request of its producer it follows
(:class:`~schemas.ingest.RequestTag`) is stored only once that one held, and refused at once when ingest never saw
it (lost on the way, or sent to the instance before a fail-over): so a producer that sends its next request before
the answer never has it stored before the one it follows.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque

from schemas.ingest import RequestTag

WAITING = 1
"""Stages still storing while the next request is judged: one is all the overlap there is to have."""
STREAMS_KEPT = 4096
"""Producers' streams whose last request is remembered (the oldest forgotten first: a forgotten stream's next
request that follows one is refused once, and judged when it is sent again)."""


def held(stage: asyncio.Task[bool]) -> bool:
    """The stage ended, and every event of its request was stored or refused for good."""
    return stage.done() and not stage.cancelled() and stage.exception() is None and stage.result()


class Stages:
    """The stages of the requests judged, in order, and each producer stream's last request."""

    def __init__(self) -> None:
        self._pending: deque[asyncio.Task[bool]] = deque()
        self._streams: OrderedDict[str, tuple[int, asyncio.Task[bool]]] = OrderedDict()

    @property
    def last(self) -> asyncio.Task[bool] | None:
        """The stage of the request judged last, while it is still storing."""
        self._prune()
        return self._pending[-1] if self._pending else None

    def followed(self, tag: RequestTag) -> asyncio.Task[bool] | None:
        """The stage of the request ``tag`` follows; None when ingest never saw it (or it is not this stream's
        last)."""
        assert tag.follows is not None
        seen = self._streams.get(tag.stream)
        return seen[1] if seen is not None and seen[0] == tag.follows else None

    def add(self, stage: asyncio.Task[bool], tag: RequestTag | None) -> None:
        self._pending.append(stage)
        if tag is not None:
            self._streams[tag.stream] = (tag.number, stage)
            self._streams.move_to_end(tag.stream)
            if len(self._streams) > STREAMS_KEPT:
                self._streams.popitem(last=False)

    async def room(self) -> None:
        """Wait until at most :data:`WAITING` stages are still storing."""
        self._prune()
        while len(self._pending) > WAITING:
            await asyncio.wait([self._pending[0]])
            self._prune()

    async def drained(self, timeout: float | None = None) -> None:
        """Wait until every stage has ended (or ``timeout`` has passed)."""
        self._prune()
        if self._pending:
            await asyncio.wait(list(self._pending), timeout=timeout)
            self._prune()

    def cancel(self) -> None:
        for stage in self._pending:
            stage.cancel()

    def _prune(self) -> None:
        while self._pending and self._pending[0].done():
            self._pending.popleft()
