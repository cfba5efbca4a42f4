"""The pure core of the hub: the recent values of one session and what a (re)connecting client must get.

No asyncio, no I/O: the hub (:mod:`services.gateway.hub`) asks :meth:`UpdateRing.resume`
and registers the client in the same synchronous step, so nothing can slip between
the replay and the live feed.
"""

from __future__ import annotations

import enum
from collections import deque
from typing import Generic, NamedTuple, TypeVar

from services.gateway.messages import SnapshotReason

T = TypeVar("T")

DEFAULT_CAPACITY = 2000
"""Values kept per session for resuming: minutes of a busy race. The ring holds deltas (a few changed rows,
about 1-4 KiB for a 30-car field, kept as sent over SSE and, once a WebSocket client needed it, as a frame
too), so a full ring is 2-16 MiB."""


class Pushed(enum.Enum):
    FIRST = "first"
    """The session's first value: every waiting client gets it as a snapshot."""
    APPENDED = "appended"
    """The next value: clients get it as an update."""
    STALE = "stale"
    """Already held (same sequence): nothing to send."""
    RESET = "reset"
    """A value behind the latest: the read model was rebuilt or replaced; the ring starts again from it."""


class Resume(NamedTuple, Generic[T]):
    snapshot: SnapshotReason | None
    """Send the latest value as a snapshot, for this reason; None: send ``updates`` (possibly none)."""
    updates: list[tuple[int, T]]
    """``(seq, item)`` after the client's sequence, oldest first."""


class UpdateRing(Generic[T]):
    """The last ``capacity`` values of a session, by sequence, strictly increasing.

    Each item is what a client holding the value before it must get to hold it: the hub keeps the delta from
    the previous value (or a snapshot, when there is none), so a replay from a held value is a chain of deltas.
    """

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._items: deque[tuple[int, T]] = deque(maxlen=capacity)

    def __len__(self) -> int:
        return len(self._items)

    @property
    def oldest_seq(self) -> int | None:
        return self._items[0][0] if self._items else None

    def push(self, seq: int, item: T) -> Pushed:
        if not self._items:
            self._items.append((seq, item))
            return Pushed.FIRST
        latest = self._items[-1][0]
        if seq == latest:
            return Pushed.STALE
        if seq < latest:
            self._items.clear()
            self._items.append((seq, item))
            return Pushed.RESET
        self._items.append((seq, item))
        return Pushed.APPENDED

    def resume(self, since: int | None) -> Resume[T]:
        """What a client that last saw ``since`` (None: nothing) must get before the live feed.

        - nothing held yet: nothing now (the first value will reach it as a snapshot);
        - no ``since``: a snapshot;
        - ``since`` one of the values the ring holds: every held value after it, in order
          (each a delta from the one before, the first from ``since``);
        - ``since`` older than the ring (values were evicted, or arrived before the hub
          started), newer than the latest, or between two held values (a sequence this hub
          never sent for this session): a snapshot, since no delta applies to it.
        """
        if not self._items:
            return Resume(None, [])
        if since is None:
            return Resume(SnapshotReason.CONNECTED, [])
        if since < self._items[0][0] or since > self._items[-1][0]:
            return Resume(SnapshotReason.GAP, [])
        after = [(seq, item) for seq, item in self._items if seq > since]
        held = self._items[len(self._items) - len(after) - 1][0]
        if held != since:
            return Resume(SnapshotReason.GAP, [])
        return Resume(None, after)
