"""The subject scheme: part of the contract, so consumers reading NATS directly share it.

::

    chequered.ingest.<championship>.<event>.<session>   producers -> ingest (request/reply)
    chequered.events.<championship>.<event>.<session>   stream CHEQUERED_EVENTS: the log
    chequered.rejects.<championship>.<event>.<session>  stream CHEQUERED_REJECTS: refused input
    chequered.rejects._unaddressed                      refused input whose subject names no session
    chequered.dlq.<projection>                          stream CHEQUERED_REJECTS: poison messages

KV buckets hold read models keyed by the session key ``championship.event.session``.
"""

from __future__ import annotations

from schemas.events import SessionRef

INGEST_PREFIX = "chequered.ingest"
EVENTS_PREFIX = "chequered.events"
REJECTS_PREFIX = "chequered.rejects"
DLQ_PREFIX = "chequered.dlq"
UNADDRESSED = "_unaddressed"


def ingest_subject(session: SessionRef) -> str:
    return f"{INGEST_PREFIX}.{session.key}"


def events_subject(session: SessionRef) -> str:
    return f"{EVENTS_PREFIX}.{session.key}"


def rejects_subject(session_key: str | None) -> str:
    return f"{REJECTS_PREFIX}.{session_key or UNADDRESSED}"


def dlq_subject(projection: str) -> str:
    return f"{DLQ_PREFIX}.{projection}"


def session_key_of(subject: str, prefix: str = EVENTS_PREFIX) -> str | None:
    """``chequered.events.a.b.c`` -> ``a.b.c``; None if the subject is not of that prefix."""
    head = prefix + "."
    if not subject.startswith(head):
        return None
    key = subject[len(head) :]
    return key if key.count(".") == 2 else None
