"""Timing events: the envelope every producer writes and the tagged union of bodies.

Versioning: a new field gets a default and a new event is a new tag in the
union, so most changes are additive; a change that is not (a rename, a new
shape) raises ``SCHEMA_VERSION`` and adds an upcaster in :mod:`schemas.upcast`,
so a log written years ago still decodes and folds. Bounds (the length of free
text, instants before 2100) hold for every reader: an event stored before a
bound existed that breaks it is dead-lettered by the projectors, with the
reason (no shipped log or recorded feed does).

All times are integers: milliseconds on the timing clock (UTC epoch
milliseconds for instants, plain milliseconds for durations). No floats ever
reach a fold, so the same log gives the same bytes on every machine.
"""

from __future__ import annotations

import enum
import re
from datetime import date
from typing import Annotated

import msgspec
from msgspec import Meta, Struct

from schemas.upcast import upcast

SCHEMA_VERSION = 2

SLUG_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
Slug = Annotated[str, Meta(pattern=SLUG_PATTERN, description="a subject-safe token")]
CAR_NUMBER_PATTERN = r"^[A-Za-z0-9]{1,8}$"
_CAR_NUMBER = 'race number as printed on the car: "7", "007", "12X"'
CarNumber = Annotated[str, Meta(pattern=CAR_NUMBER_PATTERN, description=_CAR_NUMBER)]
SEEN_KEPT = 4096
"""Values a :class:`_Seen` keeps (forgotten all at once when there are this many)."""


class _Seen:
    """The values of a pattern's fields found to match it. msgspec's ``pattern`` runs a regular expression at every
    decode: for the tokens of the session, the producer and the car's number of every event, more than a third of
    the time decoding an event took. These fields are checked by their Struct's ``__post_init__`` instead, and a
    value seen before costs a set lookup (the JSON Schema still gives the pattern)."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self._regex = re.compile(pattern)
        self.values: set[str] = set()

    def check(self, fields: dict[str, str]) -> None:
        """Raise ``msgspec.ValidationError`` for the first of ``fields`` (its name -> value) that does not match:
        decoded or made in code (a name from a URL or the command line), a Struct holds only matches there."""
        for name, value in fields.items():
            if value in self.values:
                continue
            if self._regex.fullmatch(value) is None:  # not search: its ``$`` allows a newline after the token
                raise msgspec.ValidationError(f"`{name}` must match regex {self.pattern!r}")
            if len(self.values) >= SEEN_KEPT:
                self.values.clear()
            self.values.add(value)


_slugs = _Seen(SLUG_PATTERN)
EnvelopeSlug = Annotated[str, Meta(description="a subject-safe token", extra_json_schema={"pattern": SLUG_PATTERN})]
"""A :data:`Slug` every event carries (its session's three tokens, its producer), checked by :data:`_slugs`."""
_car_numbers = _Seen(CAR_NUMBER_PATTERN)
BodyCarNumber = Annotated[str, Meta(description=_CAR_NUMBER, extra_json_schema={"pattern": CAR_NUMBER_PATTERN})]
"""The :data:`CarNumber` of an event about a car, checked by :data:`_car_numbers`."""
ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,128}$"
_ID_CHARACTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:-"
Millis = Annotated[int, Meta(ge=0, description="milliseconds")]
PositiveMillis = Annotated[int, Meta(gt=0, description="milliseconds, greater than zero")]
MIN_INSTANT = -2_208_988_800_000
"""1900-01-01T00:00:00Z: instants are signed, so historic results (before 1970) have their dates."""
MAX_INSTANT = 4_102_444_800_000
"""2100-01-01T00:00:00Z: no instant is later (a lap dated in the year 3000 is a clock fault, not a lap). Ingest
also keeps each session's instants near the session (``services.ingest.rules``)."""
Instant = Annotated[
    int,
    Meta(
        ge=MIN_INSTANT,
        le=MAX_INSTANT,
        description="timing-clock instant, UTC epoch milliseconds (signed: 1900 to 2100)",
    ),
]
LapNumber = Annotated[int, Meta(ge=1)]
NAME_MAX = 200
REASON_MAX = 1024
NonEmpty = Annotated[str, Meta(min_length=1, max_length=NAME_MAX)]
Text = Annotated[str, Meta(max_length=NAME_MAX, description="free text, at most 200 characters")]
Reason = Annotated[str, Meta(max_length=REASON_MAX, description="free text, at most 1,024 characters")]
"""Free text is bounded, so no event can make a read model too large to store (a 600 kB penalty reason)."""
MAX_SECTORS = 64
CONFIG_MAX = 32 * 1024
"""Characters of a points configuration's TOML (the shipped ones are about 2,000)."""


class SessionRef(Struct, frozen=True, forbid_unknown_fields=True):
    """Which session an event belongs to; its three tokens form the NATS subject."""

    championship: EnvelopeSlug
    event: EnvelopeSlug
    session: EnvelopeSlug

    def __post_init__(self) -> None:
        seen = _slugs.values
        if self.championship not in seen or self.event not in seen or self.session not in seen:
            _slugs.check(
                {
                    "session.championship": self.championship,
                    "session.event": self.event,
                    "session.session": self.session,
                }
            )

    @property
    def key(self) -> str:
        """The session's key in subjects and KV buckets: ``championship.event.session``."""
        return f"{self.championship}.{self.event}.{self.session}"

    @property
    def is_championship(self) -> bool:
        """The championship's own pseudo-session (points configuration and decisions)."""
        return self.event == CHAMPIONSHIP_EVENT

    @property
    def is_calendar(self) -> bool:
        """The championship's calendar session (:meth:`calendar_of`)."""
        return self.session == CALENDAR_SESSION and self.event == CHAMPIONSHIP_EVENT

    @classmethod
    def championship_of(cls, championship: str) -> SessionRef:
        """The championship's points session: its points configuration and points decisions."""
        return cls(championship, CHAMPIONSHIP_EVENT, POINTS_SESSION)

    @classmethod
    def calendar_of(cls, championship: str) -> SessionRef:
        """The championship's calendar session: the season's schedule and its changes."""
        return cls(championship, CHAMPIONSHIP_EVENT, CALENDAR_SESSION)

    @classmethod
    def parse(cls, key: str) -> SessionRef:
        """Parse ``championship.event.session``; raises ``msgspec.ValidationError``."""
        parts = key.split(".")
        if len(parts) != 3:
            raise msgspec.ValidationError(f"session key {key!r} must be championship.event.session")
        return msgspec.convert(dict(zip(("championship", "event", "session"), parts, strict=True)), cls)


class SessionKind(enum.StrEnum):
    PRACTICE = "practice"
    QUALIFYING = "qualifying"
    RACE = "race"


class DriverCategory(enum.StrEnum):
    PLATINUM = "platinum"
    GOLD = "gold"
    SILVER = "silver"
    BRONZE = "bronze"
    UNRATED = "unrated"


class Flag(enum.StrEnum):
    GREEN = "green"
    YELLOW = "yellow"
    FULL_COURSE_YELLOW = "full_course_yellow"
    SAFETY_CAR = "safety_car"
    RED = "red"
    CHEQUERED = "chequered"
    UNKNOWN = "unknown"


CREW_MAX = 6
"""Drivers of one car (endurance crews of up to six in some series)."""


class Driver(Struct, frozen=True, forbid_unknown_fields=True):
    name: NonEmpty
    category: DriverCategory = DriverCategory.UNRATED
    nationality: Text | None = None


class QualifyingFormat(enum.StrEnum):
    BEST_LAP = "best_lap"
    """By each car's best valid lap; on equal times, who set it first."""
    AVERAGE_OF_DRIVERS = "average_of_drivers"
    """SRO-style: each driver runs a part; the average of the drivers' best laps sets the grid."""


class ClassificationRules(Struct, frozen=True, forbid_unknown_fields=True):
    """What varies between series, set per session (defaults: a WEC-like race)."""

    min_distance_pct: Annotated[int, Meta(ge=0, le=100)] = 70
    """Classified with at least this share of the winner's laps: ``laps * 100 >= pct * winner_laps``
    in integers, i.e. the share rounded *up* to a whole lap (70 % of 101 laps needs 71)."""
    must_take_flag: bool = False
    """Only cars that took the chequered flag are classified."""
    retired_classified: bool = True
    """A retired car that covered the distance is classified (as DNF cars are in WEC)."""
    qualifying: QualifyingFormat = QualifyingFormat.BEST_LAP
    drivers_for_average: Annotated[int, Meta(ge=1, le=CREW_MAX)] = 2
    """With ``average_of_drivers``: how many drivers' best laps the average takes."""
    preset: Annotated[str, Meta(max_length=64)] = ""
    """The named rulebook these values come from (``wec``, ``club``, a TOML file's name); informative only."""
    lap_one_counts_for_best: bool = True
    """False: lap 1 (the start) is never a best (lap, sector or driver best); it still counts for distance."""
    neutralised_laps_count_for_best: bool = True
    """False: a lap any part of which ran under the safety car or a full-course yellow is never a best."""
    finish_window_ms: PositiveMillis | None = None
    """Once the chequered flag is out, a car that has not crossed the line within this time is ``stopped`` and
    classified on what it did; None: the slowest lap of the session (in-laps and out-laps aside)."""
    not_seen_laps: Annotated[int, Meta(ge=1, le=1000)] = 3
    """While a race runs, a car out of the pit lane that has not crossed the line for this many of its best laps
    shows ``stopped`` (not seen) instead of ``running``."""
    min_drive_ms: PositiveMillis | None = None
    """Each driver of a crew drives at least this long (the driving-time report marks who did not)."""
    max_drive_ms: PositiveMillis | None = None
    """No driver drives longer than this in the session (the driving-time report marks who did)."""
    drive_through_ms: PositiveMillis | None = None
    """The time an unserved drive-through converts to after the race, when the decision gives none (race control
    completes the decision with it before storing it; None: every drive-through must give its time)."""
    stop_and_go_ms: PositiveMillis | None = None
    """The same for a stop-and-go."""


class SessionLength(Struct, frozen=True, forbid_unknown_fields=True):
    """A time-certain session sets ``time_ms``, a lap-count race sets ``laps``."""

    time_ms: PositiveMillis | None = None
    laps: Annotated[int, Meta(gt=0)] | None = None


class Body(Struct, frozen=True, tag_field="type", forbid_unknown_fields=True):
    """Base of every event body; the tag is the event's name on the wire."""


class CarBody(Body, frozen=True):
    """An event about one car, identified by its race number."""

    number: BodyCarNumber

    def __post_init__(self) -> None:
        if self.number not in _car_numbers.values:
            _car_numbers.check({"body.number": self.number})  # its place in an event, as the others say theirs


class SessionOpened(Body, frozen=True, tag="session_opened"):
    name: NonEmpty
    kind: SessionKind
    scheduled_start: Annotated[str, Meta(max_length=64, description="ISO 8601 local time with offset")]
    time_zone: Annotated[str, Meta(max_length=64, description="IANA zone of the circuit, e.g. Europe/Brussels")]
    length: SessionLength
    track: Text | None = None
    track_length_m: Annotated[int, Meta(gt=0)] | None = None
    rules: ClassificationRules = ClassificationRules()


class EntryRegistered(CarBody, frozen=True, tag="entry_registered"):
    class_name: NonEmpty
    team: NonEmpty
    car: NonEmpty
    manufacturer: NonEmpty
    crew: Annotated[list[Driver], Meta(min_length=1, max_length=CREW_MAX)]
    sub_class: NonEmpty | None = None
    """A group classified and awarded apart inside ``class_name``: LMP2 Pro/Am, an SRO cup (Pro, Gold, Silver,
    Bronze)."""
    eligible_for_points: bool = True
    """False: a guest (invited) entry, not eligible for championship points (what its place does to the others is
    the championship's rule: ``eligibility.vacant``)."""


class SessionStarted(Body, frozen=True, tag="session_started"):
    """The green flag: the session clock starts at the envelope's ``at``."""


class LineCrossing(CarBody, frozen=True, tag="line_crossing"):
    """A passing at a timing line; the crossing time is the envelope's ``at``."""

    line: Annotated[str, Meta(pattern=r"^[A-Za-z0-9_-]{1,16}$", description="SF, S1, S2, PIT_IN, PIT_OUT, ...")]


class LapCompleted(CarBody, frozen=True, tag="lap_completed"):
    """A lap ended at the start/finish line; the crossing time is the envelope's ``at``."""

    lap: LapNumber
    lap_time_ms: PositiveMillis
    driver: Text | None = None
    sectors_ms: Annotated[list[PositiveMillis], Meta(max_length=MAX_SECTORS)] = []
    in_pit: bool = False
    counts_for_best: bool = True
    """False: the lap counts for distance but never as a best (lap or sector): a lap the timing system did not
    count (an out-lap so marked by the feed, a lap an official chart does not count)."""


class LapCorrected(CarBody, frozen=True, kw_only=True, tag="lap_corrected"):
    """The timing system corrected a lap it had already sent (a passing re-sent a few milliseconds different, a
    corrected finish, a best lap it no longer counts). The envelope's ``at`` is when the correction was made; each
    field given replaces the lap's own, each left ``None`` keeps it."""

    lap: LapNumber
    crossing: Instant | None = None
    """The lap's corrected crossing instant."""
    lap_time_ms: PositiveMillis | None = None
    counts_for_best: bool | None = None
    reason: str = ""


class PitIn(CarBody, frozen=True, tag="pit_in"):
    pass


class PitOut(CarBody, frozen=True, tag="pit_out"):
    pass


class DriverChanged(CarBody, frozen=True, tag="driver_changed"):
    driver: NonEmpty


class FlagChanged(Body, frozen=True, tag="flag_changed"):
    flag: Flag
    sector: Annotated[int, Meta(ge=1)] | None = None


class RetirementSource(enum.StrEnum):
    RACE_CONTROL = "race_control"
    """Reported as it happened (race control, the timing system)."""
    CHART = "chart"
    """Inferred after the fact from an official lap chart: the car never took the flag and stopped lapping."""


class CarRetired(CarBody, frozen=True, tag="car_retired"):
    reason: Reason = ""
    source: RetirementSource = RetirementSource.RACE_CONTROL


class SessionFinished(Body, frozen=True, tag="session_finished"):
    """The chequered flag is shown: the leader has just taken it, the rest finish at their next crossing."""


class PenaltyKind(enum.StrEnum):
    TIME = "time"
    """``time_ms`` added to the total race time; may reorder cars on the same lap."""
    DRIVE_THROUGH = "drive_through"
    """Served in the pit lane, or converted to ``time_ms`` after the race when unserved."""
    STOP_AND_GO = "stop_and_go"
    """Like a drive-through, with a stop; converted to ``time_ms`` when unserved."""
    LAP_DEDUCTION = "lap_deduction"
    POSITION_DROP = "position_drop"
    DISQUALIFICATION = "disqualification"
    EXCLUSION = "exclusion"


DecisionId = Annotated[str, Meta(pattern=r"^[A-Za-z0-9_.:-]{1,64}$", description="the stewards' document number")]


class PenaltyIssued(CarBody, frozen=True, tag="penalty_issued"):
    """A stewards' decision against a car. ``decision`` names it for a later withdrawal."""

    decision: DecisionId
    kind: PenaltyKind
    time_ms: Millis = 0
    laps: Annotated[int, Meta(ge=0)] = 0
    positions: Annotated[int, Meta(ge=0)] = 0
    reason: Reason = ""


class PenaltyServed(CarBody, frozen=True, tag="penalty_served"):
    """A drive-through or stop-and-go taken in the pit lane."""

    decision: DecisionId


class LapDeleted(CarBody, frozen=True, tag="lap_deleted"):
    """A lap time deleted (track limits): it still counts for distance, never as a best."""

    decision: DecisionId
    lap: LapNumber
    reason: Reason = ""


class DecisionWithdrawn(Body, frozen=True, tag="decision_withdrawn"):
    """Any earlier decision no longer applies (appeal upheld, error corrected)."""

    decision: DecisionId
    reason: Reason = ""


CHAMPIONSHIP_EVENT = "_championship"
"""The ``event`` token of a championship's own pseudo-sessions: ``<championship>._championship.points``
carries its points configuration and points decisions, ``<championship>._championship.calendar`` its calendar."""
POINTS_SESSION = "points"
CALENDAR_SESSION = "calendar"

MAX_POINTS = 10_000
Points = Annotated[
    float, Meta(ge=0, le=MAX_POINTS, description="championship points, at most two decimals (12.5), at most 10,000")
]


class TableKind(enum.StrEnum):
    DRIVERS = "drivers"
    TEAMS = "teams"
    MANUFACTURERS = "manufacturers"


class AdjustmentKind(enum.StrEnum):
    DEDUCTION = "deduction"
    """``points`` taken off the competitor's total, after dropped scores."""
    EXCLUSION = "exclusion"
    """The competitor's result of ``round`` scores nothing and cannot be dropped."""
    CHAMPIONSHIP_EXCLUSION = "championship_exclusion"
    """The competitor is excluded from the championship's table: every result scores nothing for them (their places
    are not passed down), shown last."""


class ChampionshipConfigured(Body, frozen=True, tag="championship_configured"):
    """The points configuration in force from now on, as the TOML text (decoded by the standings core), so a
    replay always scores with the configuration that was in force."""

    toml: Annotated[str, Meta(min_length=1, max_length=CONFIG_MAX)]
    source: Text = ""


class PointsAdjusted(Body, frozen=True, kw_only=True, tag="points_adjusted"):
    """A decision on championship points; ``decision`` names it for a later withdrawal."""

    decision: DecisionId
    kind: AdjustmentKind
    table: TableKind
    competitor: NonEmpty
    """As the standings name it: a driver, a team (with " #N" for per-entry team standings), a manufacturer."""
    class_name: Text | None = None
    """None: every class table (and the overall table) of ``table`` where the competitor appears."""
    round: Slug | None = None
    """Required for an exclusion; for a deduction, informative; none for a championship exclusion."""
    points: Points = 0
    reason: Reason = ""


class ScoreboardReason(enum.StrEnum):
    """Why a feed wrote the timing system's scoreboard into the log."""

    FIRST = "first"
    """The feed saw the session's scoreboard for the first time (joined a running session, or it just began)."""
    RESET = "reset"
    """The timing system re-sent its scoreboard after a reset."""
    RECONNECT = "reconnect"
    """The link to the timing system came back."""
    GAP = "gap"
    """The feed was silent for a while (a hole in a capture)."""
    UPDATE = "update"
    """The scoreboard changed in a way the passings do not explain (a passing that never reached the feed)."""


class ScoreboardCar(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One car as the timing system's own scoreboard shows it; ``None``: the scoreboard does not say."""

    number: CarNumber
    position: Annotated[int, Meta(ge=1)] | None = None
    laps: int | None = None
    """As the scoreboard counts them (lap penalties show as lower counts, even negative ones)."""
    total_ms: Millis | None = None
    """Race time at the car's last crossing."""
    last_crossing: Instant | None = None
    """The instant of that crossing, as the producer places it on the timing clock."""
    best_lap_ms: PositiveMillis | None = None
    best_lap: LapNumber | None = None
    last_lap_ms: PositiveMillis | None = None


class ScoreboardReported(Body, frozen=True, kw_only=True, tag="scoreboard_reported"):
    """What a timing system's scoreboard says, car by car, written by the feed that read it (``source``).

    The fold takes it as the state of a car it has seen no passing of, and reconciles where it has: laps the
    scoreboard counts beyond the last passing become laps taken from the scoreboard (distance, no lap time, never a
    best), a best lap set on such a lap becomes the car's, and where passings and scoreboard still disagree the
    car is marked with both values."""

    source: NonEmpty
    reason: ScoreboardReason
    cars: Annotated[list[ScoreboardCar], Meta(max_length=200)]
    """A field of more cars comes in several events (each within ingest's size limit)."""


# -- the calendar ------------------------------------------------------------------

FIRST_SCHEDULED = -2_208_988_800_000
"""1900-01-01T00:00Z: a calendar goes back to the first championships."""
ScheduledInstant = Annotated[
    int,
    Meta(ge=FIRST_SCHEDULED, le=MAX_INSTANT, description="UTC epoch milliseconds, from 1900 to 2100"),
]
"""A scheduled instant: UTC, in milliseconds; the circuit's zone is beside it, never folded into it."""
ZONE_PATTERN = r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+){0,2}$"
ZoneName = Annotated[
    str,
    Meta(
        pattern=ZONE_PATTERN,
        max_length=64,
        description="an IANA time zone, e.g. Europe/Berlin (checked against the zone database by ingest)",
    ),
]
ChangeReason = Annotated[str, Meta(max_length=200, description="why, as the bulletin says it")]


class PointsRole(enum.StrEnum):
    """What a session's classification does for the championship (the seam the standings' rounds read)."""

    NONE = "none"
    """Scores nothing (practice, a warm-up)."""
    POINTS = "points"
    """Its classification scores championship points (a race, a points-paying qualifying)."""
    POLE = "pole"
    """It awards the pole position (a qualifying session that sets the grid)."""


class ScheduledSession(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One session of a round as scheduled; its timing session key is ``<championship>.<round>.<session>``."""

    session: Slug
    """The timing session token the session's events will use."""
    name: NonEmpty
    kind: SessionKind
    start: ScheduledInstant
    end: ScheduledInstant
    points: PointsRole = PointsRole.NONE
    cancelled: bool = False


class ScheduledRound(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """An event of the season at one circuit; its sessions' timing events use ``event`` as their event token."""

    event: Slug
    name: NonEmpty
    circuit: NonEmpty
    time_zone: ZoneName
    """The circuit's zone: local times are shown in it unless a viewer asks for another."""
    sessions: Annotated[list[ScheduledSession], Meta(max_length=64)] = []
    first_day: date | None = None
    """The round's first and last days at the circuit (a Friday of practice the sessions may not show);
    None: the local days of its first and last sessions."""
    last_day: date | None = None


class CalendarPublished(Body, frozen=True, kw_only=True, tag="calendar_published"):
    """The season's calendar as issued (a file published, or re-issued): it replaces the calendar in force."""

    name: NonEmpty
    rounds: Annotated[list[ScheduledRound], Meta(max_length=100)]
    source: Annotated[str, Meta(max_length=200)] = ""
    reason: ChangeReason = ""


class SessionRescheduled(Body, frozen=True, kw_only=True, tag="session_rescheduled"):
    """A session moved: its new start and end."""

    event: Slug
    session: Slug
    start: ScheduledInstant
    end: ScheduledInstant
    reason: ChangeReason = ""


class SessionCancelled(Body, frozen=True, kw_only=True, tag="session_cancelled"):
    """A session called off; it stays in the calendar, shown cancelled."""

    event: Slug
    session: Slug
    reason: ChangeReason = ""


class SessionAdded(Body, frozen=True, kw_only=True, tag="session_added"):
    """A session added to a round, or a cancelled one reinstated (its slug again, with its times)."""

    event: Slug
    scheduled: ScheduledSession
    reason: ChangeReason = ""


class ResultsStatus(enum.StrEnum):
    PROVISIONAL = "provisional"
    FINAL = "final"


class ResultsDeclared(Body, frozen=True, tag="results_declared"):
    status: ResultsStatus


EventBody = (
    SessionOpened
    | EntryRegistered
    | SessionStarted
    | LineCrossing
    | LapCompleted
    | LapCorrected
    | PitIn
    | PitOut
    | DriverChanged
    | FlagChanged
    | CarRetired
    | SessionFinished
    | PenaltyIssued
    | PenaltyServed
    | LapDeleted
    | DecisionWithdrawn
    | ResultsDeclared
    | ScoreboardReported
    | ChampionshipConfigured
    | PointsAdjusted
    | CalendarPublished
    | SessionRescheduled
    | SessionCancelled
    | SessionAdded
)


CHAMPIONSHIP_BODIES = (ChampionshipConfigured, PointsAdjusted)
"""Bodies addressed to a championship's points session rather than to a timing session."""
CALENDAR_BODIES = (CalendarPublished, SessionRescheduled, SessionCancelled, SessionAdded)
"""Bodies addressed to a championship's calendar session, and only there."""
CalendarBody = CalendarPublished | SessionRescheduled | SessionCancelled | SessionAdded


class Event(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The envelope. ``(session, producer, id)`` is unique: it is the de-duplication key."""

    id: Annotated[str, Meta(description="unique per producer", extra_json_schema={"pattern": ID_PATTERN})]
    session: SessionRef
    producer: EnvelopeSlug
    at: Instant
    v: Annotated[int, Meta(ge=1)] = SCHEMA_VERSION
    body: EventBody

    def __post_init__(self) -> None:
        if self.producer not in _slugs.values:
            _slugs.check({"producer": self.producer})
        if not 0 < len(self.id) <= 128 or self.id.strip(_ID_CHARACTERS):  # no regular expression: ids are unique
            raise msgspec.ValidationError(f"`id` must match regex {ID_PATTERN!r}")

    @property
    def msg_id(self) -> str:
        """The ``Nats-Msg-Id`` the stream de-duplicates on: the id within its producer and session,
        so a log replayed into another session (or a producer reusing ids across sessions) is not
        taken for a duplicate."""
        return f"{self.session.key}/{self.id_in_session}"

    @property
    def id_in_session(self) -> str:
        """The ``msg_id`` less its session: what a session's own fold tells its events apart by."""
        return f"{self.producer}:{self.id}"


_decoder = msgspec.json.Decoder(Event)
_encoder = msgspec.json.Encoder()


def decode_event(data: bytes | str) -> Event:
    """Decode one event of any schema version; raises ``msgspec.DecodeError``/``ValidationError``
    with a readable path. Current events take the fast path; older ones are upcast first."""
    try:
        event = _decoder.decode(data)
    except msgspec.ValidationError as error:
        try:
            raw = msgspec.json.decode(data)
        except (msgspec.DecodeError, UnicodeDecodeError):  # no JSON under the wrong type (a string of bad UTF-8)
            raise error from None
        version = raw.get("v", 1) if isinstance(raw, dict) else None
        if type(version) is not int or version >= SCHEMA_VERSION:
            raise
        try:
            return msgspec.convert(upcast(raw, SCHEMA_VERSION), Event)
        except (msgspec.ValidationError, TypeError, ValueError, AttributeError):
            raise error from None  # the reason against the current schema is the one a producer can act on
    if event.v < SCHEMA_VERSION:
        return msgspec.convert(upcast(msgspec.json.decode(data), SCHEMA_VERSION), Event)
    return event


def encode_event(event: Event) -> bytes:
    return _encoder.encode(event)
