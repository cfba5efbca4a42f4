"""Reading a session's log back from the stream, for the operations commands."""

from __future__ import annotations

from nats.js import JetStreamContext

from schemas.events import Event, decode_event
from schemas.subjects import EVENTS_PREFIX
from services.broker.reader import StreamTail


async def read_events(js: JetStreamContext, session_key: str | None = None) -> list[tuple[int, Event]]:
    """``(seq, event)`` of one session (or all), in stream order; undecodable messages are left out
    (the projectors dead-letter them with the reason)."""
    subject = f"{EVENTS_PREFIX}.{session_key}" if session_key else f"{EVENTS_PREFIX}.>"
    pairs: list[tuple[int, Event]] = []
    async with StreamTail(js, subject) as tail:
        async for batch in tail.to_head():
            for stored in batch:
                try:
                    pairs.append((stored.seq, decode_event(stored.data)))
                except ValueError:
                    continue
    return pairs
