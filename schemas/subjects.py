"""The subject scheme: part of the contract, so consumers reading NATS directly share it.

::

    chequered.ingest.<championship>.<event>.<session>   producers -> ingest (request/reply)
    chequered.events.<championship>.<event>.<session>   stream CHEQUERED_EVENTS: the log (published here,
                                                        stored with a partition token appended: see below)
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

Partitions: the events stream stores what is published to
``chequered.events.<championship>.<event>.<session>`` as
``chequered.events.<championship>.<event>.<session>.<partition>``, the partition
being the broker's own ``{{partition(PARTITIONS, 1, 2, 3)}}`` of the three session
tokens (FNV-1a of the tokens joined without separators, modulo
:data:`PARTITIONS`; :func:`partition_of` computes the same here). A reader of
some partitions filters on ``chequered.events.*.*.*.<partition>``; a reader of
one session on ``chequered.events.<key>`` and ``chequered.events.<key>.*`` (a
store set up before partitions keeps its older events without the token).
"""

from __future__ import annotations

import functools

import msgspec

from schemas.events import CALENDAR_SESSION, Event, SessionRef, decode_event

INGEST_PREFIX = "chequered.ingest"
EVENTS_PREFIX = "chequered.events"
REJECTS_PREFIX = "chequered.rejects"
DLQ_PREFIX = "chequered.dlq"
UNADDRESSED = "_unaddressed"
PARTITIONS = 32
"""Partitions of the log: fixed for the life of a stream (a session's events must all land in one), and the most
projector replicas that can share the work."""
_FNV_OFFSET = 0x811C9DC5
_FNV_PRIME = 0x01000193

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
    """``chequered.events.a.b.c`` (or, as stored, ``chequered.events.a.b.c.7``) -> ``a.b.c``; None if the subject
    is not of that prefix."""
    head = prefix + "."
    if not subject.startswith(head):
        return None
    tokens = subject[len(head) :].split(".")
    if len(tokens) == 3 or (len(tokens) == 4 and prefix == EVENTS_PREFIX and tokens[3].isdigit()):
        return ".".join(tokens[:3])
    return None


@functools.lru_cache(maxsize=4096)  # asked for every message read, of the few sessions a log holds
def partition_of(session_key: str, partitions: int = PARTITIONS) -> int:
    """The partition the broker's subject transform gives ``championship.event.session`` (32-bit FNV-1a of its
    tokens joined without separators, as nats-server hashes them)."""
    digest = _FNV_OFFSET
    for byte in session_key.replace(".", "").encode():
        digest = ((digest ^ byte) * _FNV_PRIME) & 0xFFFFFFFF
    return digest % partitions


def partition_transform(partitions: int = PARTITIONS) -> tuple[str, str]:
    """(source, destination) of the events stream's subject transform that appends the partition token."""
    return (
        f"{EVENTS_PREFIX}.*.*.*",
        f"{EVENTS_PREFIX}.{{{{wildcard(1)}}}}.{{{{wildcard(2)}}}}.{{{{wildcard(3)}}}}"
        f".{{{{partition({partitions},1,2,3)}}}}",
    )


def partition_filter(partition: int) -> str:
    """The subject filter of one partition's events."""
    return f"{EVENTS_PREFIX}.*.*.*.{partition}"


UNPARTITIONED_FILTER = f"{EVENTS_PREFIX}.*.*.*"
"""Events stored before the stream was partitioned (``chequered setup --update`` keeps them where they are)."""


def session_filters(session_key: str) -> list[str]:
    """The subject filters of one session's events, stored before partitions or in its partition."""
    return [f"{EVENTS_PREFIX}.{session_key}", f"{EVENTS_PREFIX}.{session_key}.*"]


class NotAnEvent(ValueError):
    """A message stored on an events subject that is no event of that subject's session; its text says why."""


def stored_event(subject: str, data: bytes) -> Event:
    """The event a message stored on ``subject`` holds; :class:`NotAnEvent`, with the reason, when it holds none:
    it does not decode, or it names another session than its subject, or lies in another partition than its
    session's (ingest stores none of these: such a message came another way). Every reader of the log judges a
    message by this, so they all leave out the same ones."""
    try:
        event = decode_event(data)
    except (msgspec.MsgspecError, ValueError) as error:
        raise NotAnEvent(f"undecodable event: {error}") from None
    key, misplaced = _placement(subject)
    if event.session.key != key:
        raise NotAnEvent(f"event for {event.session.key} stored on subject {subject}")
    if misplaced is not None:
        raise NotAnEvent(f"event of partition {misplaced} stored on subject {subject}")
    return event


@functools.lru_cache(maxsize=4096)  # asked for every message read, of the few subjects a log holds
def _placement(subject: str) -> tuple[str | None, int | None]:
    """The session key of a stored event's subject, and the partition of that session when the subject's partition
    token names another (None: it names none, or that one)."""
    key = session_key_of(subject)
    if key is None or subject.count(".") != 5:
        return key, None
    partition = partition_of(key)
    return key, None if subject.rpartition(".")[2] == str(partition) else partition


def live_key(championship: str) -> str:
    """The championship's standings as they stand, in ``chequered_standings``."""
    return f"{championship}.live"


def calendar_key(championship: str) -> str:
    """The championship's calendar, in ``chequered_standings``."""
    return f"{championship}.{CALENDAR_SESSION}"
