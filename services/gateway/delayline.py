"""A session's classification as it stood a broadcast delay ago, for titlers polling the graphics data.

Pure: the hub hands every push message it makes (a snapshot or a delta, as JSON, with the wall-clock time it
took the value) to each open line, and a request asks the line for its value at an instant. A line holds the
messages not yet due, so its memory is the delay times the rate of values (bounded by :data:`MAX_DELAY_S`).
"""

from __future__ import annotations

from collections import deque

import msgspec

from schemas.results import Classification
from services.gateway import delta
from services.gateway.messages import Snapshot, StreamMessage

MAX_DELAY_S = 60
"""The longest delay a line keeps (a TV delay is seconds to tens of seconds)."""
IDLE_MS = 60_000
"""A line nobody asked for this long is closed (a titler polling keeps it open)."""

_decode = msgspec.json.Decoder(StreamMessage).decode


class DelayLine:
    """The values of one session, each shown ``delay_ms`` after the gateway took it."""

    def __init__(self, delay_ms: int, opened_ms: int) -> None:
        self.delay_ms = delay_ms
        self.value: Classification | None = None
        self.asked_ms = opened_ms
        self._pending: deque[tuple[int, bytes | memoryview]] = deque()

    def take(self, taken_ms: int, message: bytes | memoryview) -> None:
        """A push message (JSON) of a value the gateway took at ``taken_ms``."""
        self._pending.append((taken_ms, message))

    def at(self, now_ms: int) -> Classification | None:
        """The value that was current ``delay_ms`` before ``now_ms``; None while the line holds none that old."""
        self.asked_ms = now_ms
        due = now_ms - self.delay_ms
        while self._pending and self._pending[0][0] <= due:
            message = _decode(self._pending.popleft()[1])
            if isinstance(message, Snapshot):
                self.value = message.classification
            elif self.value is not None and self.value.last_seq == message.base_seq:
                self.value = delta.apply(self.value, message)
        return self.value

    def due_in_ms(self, now_ms: int) -> int:
        """How long until the oldest value held is due (0: none held)."""
        return max(0, self._pending[0][0] + self.delay_ms - now_ms) if self._pending else 0

    def idle(self, now_ms: int) -> bool:
        return now_ms - self.asked_ms > IDLE_MS
