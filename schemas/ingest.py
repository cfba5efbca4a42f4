"""The ingest protocol: what a producer gets back, and what operations see of a rejection.

Limits a producer can rely on: an event is stored when its stored form (compact JSON plus its
``Nats-Msg-Id`` header) is at most :data:`MAX_EVENT_BYTES` and fits the server's ``max_payload``; a batch holds
at most :data:`MAX_BATCH_EVENTS` events (and, as any message, at most ``max_payload`` bytes: the producer
client splits larger ones).
"""

from __future__ import annotations

import enum
from typing import NamedTuple

import msgspec
from msgspec import Struct


class RejectCode(enum.StrEnum):
    MALFORMED = "malformed"
    """Not JSON, or not an event of the schema; the reason carries msgspec's path."""
    WRONG_SUBJECT = "wrong_subject"
    """The subject's session differs from the envelope's."""
    SESSION_NOT_OPENED = "session_not_opened"
    SESSION_ALREADY_OPENED = "session_already_opened"
    UNKNOWN_CAR = "unknown_car"
    LAP_OUT_OF_ORDER = "lap_out_of_order"
    UNKNOWN_LAP = "unknown_lap"
    """A correction of a lap the session never recorded."""
    OUT_OF_BOUNDS = "out_of_bounds"
    """A feed record with a value no session can have (a lap or total that overflows, is negative or absurd, a time
    of day that jumps by hours): kept aside by the feed, never mapped."""
    SCOREBOARD_DISAGREES = "scoreboard_disagrees"
    """The passings a feed saw and the timing system's scoreboard disagree (a lap count, a best lap)."""
    INVALID_CALENDAR = "invalid_calendar"
    """A calendar, or a change to it, that cannot stand: an unknown zone, a session ending before it starts,
    a local time that does not exist, a change to a round or session the calendar does not have."""
    UNAVAILABLE = "unavailable"
    """The stream did not acknowledge the write; retry with the same id."""
    STORAGE_FULL = "storage_full"
    """The stream refused to store it (disk or stream limits full): nothing was stored; retry with the same id once
    operations have made room (ingest recovers by itself)."""
    TOO_LARGE = "too_large"
    """An event larger than :data:`MAX_EVENT_BYTES` (or the server's ``max_payload``) as stored, or a batch of more
    than :data:`MAX_BATCH_EVENTS` events."""
    CONFLICT = "conflict"
    """The id was stored before with different content; the rejects stream keeps both (``stored_payload``)."""
    IMPLAUSIBLE = "implausible"
    """An instant far outside the session's window, or a lap that ends before the car's previous one."""
    UNSUPPORTED_VERSION = "unsupported_version"
    """An envelope of a schema version newer than this ingest's: upgrade chequered first."""
    INVALID_CONFIG = "invalid_config"
    """A points configuration the standings engine cannot use; the reason names the field."""
    REPLY_NOT_INBOX = "reply_not_inbox"
    """A request whose reply subject is not an inbox (under ``_INBOX.``): ingest answers only there, and stores
    nothing of such a request."""
    INCONSISTENT = "inconsistent"
    """A race-control input the session's log contradicts (a lap it does not hold, a decision not in force, an
    instant far outside it); refused by the producer client before sending, never stored."""


RETRYABLE = frozenset({RejectCode.UNAVAILABLE, RejectCode.STORAGE_FULL})
"""Codes of events that were not stored for a reason that passes: send them again, with the same id."""

MAX_EVENT_BYTES = 64 * 1024
MAX_BATCH_EVENTS = 1000
MAX_KEPT_PAYLOAD = MAX_EVENT_BYTES
"""Bytes of a refused message the rejects stream keeps (the beginning; ``payload_bytes`` gives its size)."""


REQUEST_HEADER = "Chequered-Request"
"""``<stream>/<number>``: a producer's requests numbered in the order it sends them (``stream``: its own name, a
token of at most 64 characters)."""
FOLLOWS_HEADER = "Chequered-Follows"
"""``<number>``: sent with a request that goes out before the answer to request ``number`` of the same stream
came back. Ingest stores such a request only after every event of request ``number`` was stored or refused for
good; otherwise (that request never reached this ingest, or some of its events are to be sent again) it answers
every event ``unavailable`` and stores nothing of it, so that a producer sending its next request early never has
it stored before the one it follows."""
_STREAM_MAX = 64
_DIGITS_MAX = 15


class RequestTag(NamedTuple):
    """Where a request stands in its producer's order."""

    stream: str
    number: int
    follows: int | None

    @property
    def headers(self) -> dict[str, str]:
        headers = {REQUEST_HEADER: f"{self.stream}/{self.number}"}
        if self.follows is not None:
            headers[FOLLOWS_HEADER] = str(self.follows)
        return headers

    @classmethod
    def of(cls, headers: dict[str, str] | None) -> RequestTag | None:
        """The tag a request carries; None when it carries none, or one that cannot be read (it is then taken as
        a request of its own, as an old producer's)."""
        if not headers or REQUEST_HEADER not in headers:
            return None
        stream, _, number = headers[REQUEST_HEADER].rpartition("/")
        follows = headers.get(FOLLOWS_HEADER)
        if not (0 < len(stream) <= _STREAM_MAX and _counted(number) and (follows is None or _counted(follows))):
            return None
        return cls(stream, int(number), None if follows is None else int(follows))


def _counted(text: str) -> bool:
    return 0 < len(text) <= _DIGITS_MAX and text.isascii() and text.isdigit()


class Accepted(Struct, frozen=True, tag="accepted"):
    """The event is in the stream at ``seq``; ``duplicate`` when it already was."""

    seq: int
    duplicate: bool = False


class Rejected(Struct, frozen=True, tag="rejected"):
    code: RejectCode
    reason: str


IngestReply = Accepted | Rejected


class RejectedEvent(Struct, frozen=True, kw_only=True):
    """A rejection as stored in the rejects stream for operations."""

    subject: str
    code: RejectCode
    reason: str
    payload: str
    """The raw bytes as received, decoded as UTF-8 with replacement; only the first :data:`MAX_KEPT_PAYLOAD` bytes
    of a larger message."""
    event_id: str | None = None
    producer: str | None = None
    payload_bytes: int | None = None
    """The size of what was received, when ``payload`` holds only its beginning."""
    stored_seq: int | None = None
    """A ``conflict``: the stream sequence of the event stored under the same id ..."""
    stored_payload: str | None = None
    """... and that event as stored."""
    line: int | None = None
    """A feed's line number, for a record the feed kept aside itself."""


class DeadLetter(Struct, frozen=True):
    """A stored event a projector could not fold, with the reason; it went on without it."""

    projection: str
    seq: int
    subject: str
    reason: str
    payload: str


reply_decoder = msgspec.json.Decoder(IngestReply)
