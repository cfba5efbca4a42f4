"""The subject scheme: part of the contract, so consumers reading NATS directly share it.

::

    chequered.ingest.<championship>.<event>.<session>   producers -> ingest (request/reply)
    chequered.events.<championship>.<event>.<session>   stream CHEQUERED_EVENTS: the log
    chequered.rejects.<championship>.<event>.<session>  stream CHEQUERED_REJECTS: refused input
    chequered.rejects._unaddressed                      refused input whose subject names no session
    chequered.dlq.<projection>                          stream CHEQUERED_REJECTS: poison messages

and the names of the streams, buckets, keys and projections a reader needs, so a reader (the gateway, a
graphics client, an operator's script) imports the contract, not the services that write them::

    KV chequered_classification   <championship>.<event>.<session>    a session's live classification
    KV chequered_standings        <championship>                      declared standings, every row explained
                                  <championship>.live                 standings as they stand
                                  <championship>.calendar             the season calendar
    KV chequered_read_models      <projection>                        the bucket readers use now (a rebuild moves it)
    objects chequered_snapshots   <projection>.<session key>          projector snapshots
    objects chequered_documents   <session key>/<file>                official documents of declared results
"""

from __future__ import annotations

import msgspec

from schemas.events import CALENDAR_SESSION, Event, SessionRef, decode_event

INGEST_PREFIX = "chequered.ingest"
EVENTS_PREFIX = "chequered.events"
REJECTS_PREFIX = "chequered.rejects"
DLQ_PREFIX = "chequered.dlq"
UNADDRESSED = "_unaddressed"

EVENTS_STREAM = "CHEQUERED_EVENTS"
REJECTS_STREAM = "CHEQUERED_REJECTS"

CLASSIFICATION_BUCKET = "chequered_classification"
STANDINGS_BUCKET = "chequered_standings"
READ_MODELS_BUCKET = "chequered_read_models"
SNAPSHOTS_BUCKET = "chequered_snapshots"
DOCUMENTS_BUCKET = "chequered_documents"

CLASSIFICATION_PROJECTION = "classification"
STANDINGS_PROJECTION = "standings"
DOCUMENTS_PROJECTION = "documents"
"""Projection names: keys of ``chequered_read_models``, snapshot prefixes, ``chequered.dlq.<projection>``."""


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


class NotAnEvent(ValueError):
    """A message stored on an events subject that is no event of that subject's session; its text says why."""


def stored_event(subject: str, data: bytes) -> Event:
    """The event a message stored on ``subject`` holds; :class:`NotAnEvent`, with the reason, when it holds none:
    it does not decode, or it names another session than its subject (ingest stores neither: such a message came
    another way). Every reader of the log judges a message by this, so they all leave out the same ones."""
    try:
        event = decode_event(data)
    except (msgspec.MsgspecError, ValueError) as error:
        raise NotAnEvent(f"undecodable event: {error}") from None
    if session_key_of(subject) != event.session.key:
        raise NotAnEvent(f"event for {event.session.key} stored on subject {subject}")
    return event


def live_key(championship: str) -> str:
    """The championship's standings as they stand, in ``chequered_standings``."""
    return f"{championship}.live"


def calendar_key(championship: str) -> str:
    """The championship's calendar, in ``chequered_standings``."""
    return f"{championship}.{CALENDAR_SESSION}"
