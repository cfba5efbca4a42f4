"""Event ids of the feed adapters.

The stream de-duplicates on ``producer:id`` across *all* sessions (a two-hour
window on the server, the whole session's life in ingest), and one producer
(one timing feed) maps one session after another. So an adapter's ids are
``<session tag>:<content id>``: the content id (``j-7-12`` for lap 12 of car
7) makes a re-read or a re-sent record map to the same id, the tag (the first
eight hex digits of the SHA-1 of the session key) keeps lap 12 of car 7 in
qualifying apart from lap 12 of car 7 in the race.
"""

from __future__ import annotations

import functools
import hashlib

from schemas.events import SessionRef


@functools.lru_cache(maxsize=64)
def session_tag(session: SessionRef) -> str:
    """Cached: the adapters make every event id with :func:`event_id`."""
    return hashlib.sha1(session.key.encode()).hexdigest()[:8]


def event_id(session: SessionRef, content_id: str) -> str:
    """The id of an event of ``session`` whose content gives ``content_id``."""
    return f"{session_tag(session)}:{content_id}"
