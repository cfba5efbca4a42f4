"""Reading a session's log back from the stream, for the operations commands and race control."""

from __future__ import annotations

from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from schemas.events import Event, SessionRef, decode_event
from schemas.subjects import EVENTS_PREFIX, EVENTS_STREAM, events_subject
from services.broker.reader import StreamTail
from services.ingest.racecontrol import SessionView


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


async def session_view(js: JetStreamContext, session: SessionRef) -> SessionView:
    """The session's log, folded, as race control's inputs are judged against it; with when its last event was
    stored, which tells a live session from a replayed one."""
    log = await read_events(js, session.key)
    last_stored = None
    if log:
        try:
            last = await js.get_last_msg(EVENTS_STREAM, events_subject(session))
            if last.data is not None and last.time is not None:
                last_stored = (decode_event(last.data).at, int(last.time.timestamp() * 1000))
        except (NotFoundError, NatsError, ValueError):
            pass  # unknown: the session is taken for a replayed one
    return SessionView.of(session, log, last_stored)
