"""The ingest protocol: what a producer gets back, and what operations see of a rejection."""

from __future__ import annotations

import enum

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
    UNAVAILABLE = "unavailable"
    """The stream did not acknowledge the write; retry with the same id."""


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
    """The raw bytes as received, decoded as UTF-8 with replacement."""
    event_id: str | None = None
    producer: str | None = None
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
