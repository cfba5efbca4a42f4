"""Read models of the classification projector: what graphics and operations read."""

from __future__ import annotations

import enum

import msgspec
from msgspec import Struct

from schemas.events import ClassificationRules, Driver, Flag, PenaltyKind, ResultsStatus, SessionKind, SessionRef

MESSAGES_IN_VALUE = 5
"""Race-control messages a classification value carries (the latest); the whole list is behind the gateway's
``/api/sessions/{key}/messages``. Few, because every push update carries the session fields whole."""

RESULTS_VERSION = 1


class CarState(enum.StrEnum):
    """Where a car is now, as a timing tower shows it."""

    NOT_STARTED = "not_started"
    RUNNING = "running"
    IN_PIT = "in_pit"
    OUT_LAP = "out_lap"
    RETIRED = "retired"
    FINISHED = "finished"
    STOPPED = "stopped"
    """Not seen: no crossing for several of its laps while the race runs, or none within the finish window once
    the chequered flag is out (classified on what it did)."""


class ResultStatus(enum.StrEnum):
    """A car's standing in the result; groups are listed in this order."""

    RUNNING = "running"
    """Live: the race is not over."""
    CLASSIFIED = "classified"
    NOT_CLASSIFIED = "nc"
    DID_NOT_FINISH = "dnf"
    """Retired and not classified (a retired car that covered the distance is ``classified``)."""
    DID_NOT_START = "dns"
    DISQUALIFIED = "dsq"
    EXCLUDED = "excluded"


class DecisionState(enum.StrEnum):
    APPLIED = "applied"
    PENDING = "pending"
    """A drive-through or stop-and-go not yet served while the race runs."""
    SERVED = "served"
    CONVERTED = "converted"
    """Unserved at the finish: turned into its time penalty."""


class AppliedDecision(Struct, frozen=True, kw_only=True):
    """A decision in force against a car, and what it does to the result."""

    decision: str
    kind: PenaltyKind | None
    """None for a lap deletion."""
    state: DecisionState
    time_ms: int = 0
    laps: int = 0
    positions: int = 0
    lap: int | None = None
    reason: str = ""


class PitStop(Struct, frozen=True, kw_only=True):
    lap: int
    """The in-lap."""
    pit_in: int
    pit_out: int | None
    lane_ms: int | None


class Stint(Struct, frozen=True, kw_only=True):
    driver: str | None
    from_lap: int
    laps: int
    start: int
    end: int | None
    time_ms: int


class DriveTime(Struct, frozen=True):
    driver: str
    ms: int


class LapRef(Struct, frozen=True, kw_only=True):
    number: str
    class_name: str
    lap: int
    ms: int
    sub_class: str | None = None


class FlagPeriod(Struct, frozen=True, kw_only=True):
    flag: Flag
    start: int
    end: int | None


class FlagTime(Struct, frozen=True):
    flag: Flag
    ms: int


class MessageKind(enum.StrEnum):
    """What a race-control message announces."""

    STARTED = "started"
    FLAG = "flag"
    """A flag for the whole course, or a sector's (``sector``)."""
    CHEQUERED = "chequered"
    PENALTY = "penalty"
    PENALTY_SERVED = "penalty_served"
    LAP_DELETED = "lap_deleted"
    DECISION_WITHDRAWN = "decision_withdrawn"
    RETIRED = "retired"
    RESULTS = "results"


class RaceControlMessage(Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One line of the race-control feed: flags, penalties, decisions, retirements, results."""

    seq: int
    """The stream sequence of the event that made it."""
    at: int
    """Timing-clock instant of the event."""
    kind: MessageKind
    text: str
    """The message as a screen or a ticker shows it (English)."""
    number: str | None = None
    """The car concerned, if any."""
    flag: Flag | None = None
    sector: int | None = None
    decision: str | None = None
    penalty: PenaltyKind | None = None
    results: ResultsStatus | None = None


class RaceControlMessages(Struct, frozen=True, kw_only=True):
    """Every race-control message of a session, oldest first."""

    session: SessionRef
    last_seq: int
    messages: list[RaceControlMessage]


class SessionPhase(enum.StrEnum):
    SCHEDULED = "scheduled"
    RUNNING = "running"
    FINISHING = "finishing"
    """The chequered flag is out; cars still on track finish at their next crossing."""
    FINISHED = "finished"


class Gap(Struct, frozen=True, omit_defaults=True):
    """Behind a car ahead: a time on the same lap, whole laps otherwise."""

    ms: int = 0
    laps: int = 0


class DisagreementKind(enum.StrEnum):
    LAPS = "laps"
    BEST_LAP = "best_lap"
    """Milliseconds: the best lap of the passings against the scoreboard's (None: one of them has none)."""


class Disagreement(Struct, frozen=True, kw_only=True):
    """Where a car's passings and the timing system's scoreboard disagree, as of the last scoreboard reported; the
    classification keeps the passings, race control looks before results are declared."""

    what: DisagreementKind
    ours: int | None
    scoreboard: int | None


class ClassifiedCar(Struct, frozen=True, kw_only=True):
    position: int
    class_position: int
    number: str
    class_name: str
    team: str
    car: str
    manufacturer: str
    driver: str | None
    laps: int
    gap: Gap | None
    interval: Gap | None
    class_gap: Gap | None
    class_interval: Gap | None
    last_lap_ms: int | None
    best_lap_ms: int | None
    best_lap: int | None
    pit_stops: int
    state: CarState
    last_crossing: int | None
    """Timing-clock instant of the last counted lap's crossing."""
    status: ResultStatus
    took_flag: bool
    total_time_ms: int | None
    """From the start to the last counted crossing, plus time penalties."""
    penalty_time_ms: int = 0
    decisions: list[AppliedDecision] = []
    last_lap_personal_best: bool = False
    last_lap_session_best: bool = False
    last_sectors_ms: list[int] = []
    best_sectors_ms: list[int | None] = []
    ideal_lap_ms: int | None = None
    pit_time_ms: int = 0
    laps_since_pit: int = 0
    stops: list[PitStop] = []
    stints: list[Stint] = []
    drive_times: list[DriveTime] = []
    qualifying_ms: int | None = None
    """Qualifying: the time that sets the grid (best lap, or the average of the drivers' best laps)."""
    sub_class: str | None = None
    """The entry's group inside its class (LMP2 Pro/Am, an SRO cup); its position and gaps are among those cars."""
    sub_class_position: int | None = None
    sub_class_gap: Gap | None = None
    sub_class_interval: Gap | None = None
    crew: list[Driver] = []
    """The drivers as registered, with their categories (Platinum, Gold, Silver, Bronze)."""
    scoreboard_laps: int = 0
    """Laps counted from the timing system's scoreboard, not from a passing this feed saw (joined late, or an
    outage): distance only, no lap time, never a best."""
    scoreboard_position: int | None = None
    """The car's position on the timing system's own scoreboard, as last reported."""
    disagreements: list[Disagreement] = []


class Classification(Struct, frozen=True, kw_only=True):
    """The live (and, once finished, final) classification of one session.

    ``last_seq`` is the stream sequence of the last event folded in: the
    projector's checkpoint lives inside the value it writes.
    """

    v: int = RESULTS_VERSION
    session: SessionRef
    name: str
    kind: SessionKind
    last_seq: int
    as_of: int
    """Timing-clock instant of the last event folded in."""
    phase: SessionPhase
    flag: Flag
    started_at: int | None
    chequered_at: int | None
    length_ms: int | None
    length_laps: int | None
    results: ResultsStatus | None = None
    """None while live; provisional or final once declared."""
    suspended: bool = False
    flag_periods: list[FlagPeriod] = []
    time_under_flags: list[FlagTime] = []
    fastest_lap: LapRef | None = None
    class_fastest_laps: list[LapRef] = []
    best_sectors_ms: list[int | None] = []
    cars: list[ClassifiedCar]
    sub_class_fastest_laps: list[LapRef] = []
    """The fastest lap of each sub-class, by class then sub-class."""
    rules: ClassificationRules | None = None
    """The rules the classification applied (``rules.preset`` names the rulebook)."""
    messages: list[RaceControlMessage] = []
    """The latest race-control messages (at most :data:`MESSAGES_IN_VALUE`), oldest first."""
    message_count: int = 0
    """Race-control messages in the session so far: more than ``messages`` holds means older ones exist."""


class HourRow(Struct, frozen=True, kw_only=True):
    """One car in an hourly classification: the columns the official timekeeper prints."""

    position: int
    class_position: int
    sub_class_position: int | None
    number: str
    class_name: str
    sub_class: str | None
    team: str
    driver: str | None
    laps: int
    gap: Gap | None
    interval: Gap | None
    class_gap: Gap | None
    pit_stops: int
    best_lap_ms: int | None
    state: CarState
    status: ResultStatus


class HourClassification(Struct, frozen=True, kw_only=True):
    hour: int
    """Full hours of race time since the start."""
    at: int
    """Timing-clock instant: the start plus ``hour`` hours."""
    last_seq: int
    """The stream sequence of the last event counted (every event that happened by ``at``, even one delivered
    later, is counted)."""
    cars: list[HourRow]


class HourlyClassification(Struct, frozen=True, kw_only=True):
    """A race's classification at each full hour, as an endurance race's timekeeper publishes it."""

    v: int = RESULTS_VERSION
    session: SessionRef
    name: str
    started_at: int | None
    hours: list[HourClassification]


_decoder = msgspec.json.Decoder(Classification)
_encoder = msgspec.json.Encoder()


def encode_classification(value: Classification) -> bytes:
    return _encoder.encode(value)


def decode_classification(data: bytes) -> Classification:
    return _decoder.decode(data)
