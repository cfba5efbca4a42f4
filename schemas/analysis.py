"""Analysis read models: a session lap by lap, stint by stint, and the facts the official documents print.

Built by :mod:`services.analysis` from the classification fold's state, for
any session and at any instant (the fold of the log up to it). Times are
integers like everywhere else: instants in UTC epoch milliseconds, durations
in milliseconds.
"""

from __future__ import annotations

import enum

from msgspec import Struct

from schemas.events import DriverCategory, Flag, ResultsStatus, SessionKind, SessionRef
from schemas.results import FlagPeriod, ResultStatus

ANALYSIS_VERSION = 1


class LapLine(Struct, frozen=True, kw_only=True):
    """One lap of one car, as the chronological lap analysis prints it."""

    lap: int
    at: int
    """The crossing that ended the lap."""
    lap_ms: int
    sectors_ms: list[int] = []
    driver: str | None
    position: int
    """Race: the order in which the cars completed this lap (the lap chart); practice and qualifying: the car's
    rank by best valid lap once this lap was in."""
    class_position: int
    gap_ms: int | None
    """Race: time behind the first car to complete this lap (the race trace; None when that car's crossing of
    this lap is not known); practice and qualifying: the car's best lap behind the session's best so far."""
    laps_down: int = 0
    """Race: laps behind the leader at this crossing."""
    class_gap_ms: int | None
    class_laps_down: int = 0
    in_lap: bool = False
    """The car entered the pit lane during this lap."""
    out_lap: bool = False
    """The car left the pit lane during this lap."""
    pit_ms: int | None = None
    """On the out-lap: the time spent in the pit lane (pit in to pit out)."""
    flag: Flag
    """The whole-course flag in force as the lap ended."""
    neutralised: bool = False
    """Some of the lap ran under a yellow, a full-course yellow, the safety car or a red flag."""
    valid: bool = True
    """The lap may be a best (not deleted, counted by the timing system)."""


class LapMark(enum.IntFlag):
    """Bits of :attr:`LapPoint.marks`."""

    IN_LAP = 1
    OUT_LAP = 2
    NEUTRALISED = 4
    INVALID = 8


class LapPoint(Struct, frozen=True, array_like=True):
    """A lap as a chart draws it, encoded as a JSON array (compact for a 24-hour race's 45,000 laps):
    ``[number, lap, at, lap_ms, position, class_position, gap_ms, class_gap_ms, laps_down, class_laps_down,
    marks]``."""

    number: str
    lap: int
    at: int
    lap_ms: int
    position: int
    class_position: int
    gap_ms: int | None
    class_gap_ms: int | None
    laps_down: int
    class_laps_down: int
    marks: int
    """:class:`LapMark` bits: 1 in-lap, 2 out-lap, 4 neutralised, 8 not valid for bests."""


class StintLine(Struct, frozen=True, kw_only=True):
    """A stint: from the start (or a pit exit) to the next pit entry, with its pace."""

    driver: str | None
    from_lap: int
    laps: int
    start: int
    end: int | None
    """None while the stint goes on."""
    time_ms: int
    best_ms: int | None
    """Best valid lap of the stint."""
    average_ms: int | None
    """Mean of the stint's clean laps (valid, green, neither in-lap nor out-lap), floored to the millisecond."""


class PitStopLine(Struct, frozen=True, kw_only=True):
    lap: int
    """The in-lap."""
    pit_in: int
    pit_out: int | None
    lane_ms: int | None
    """Time in the pit lane, pit in to pit out."""
    driver_in: str | None
    """Who drove the in-lap."""
    driver_out: str | None
    """Who drove out (None while the car is in the pit lane)."""


class DriveVerdict(enum.StrEnum):
    UNJUDGED = "unjudged"
    """The session's rules set no limit."""
    OK = "ok"
    SHORT = "short"
    """Below the rules' minimum drive time."""
    OVER = "over"
    """Above the rules' maximum drive time."""


class DriverTime(Struct, frozen=True, kw_only=True):
    driver: str
    category: DriverCategory = DriverCategory.UNRATED
    ms: int
    laps: int
    stints: int
    verdict: DriveVerdict = DriveVerdict.UNJUDGED


class SectorTime(Struct, frozen=True, kw_only=True):
    ms: int
    lap: int
    driver: str | None


class SectorBest(Struct, frozen=True, kw_only=True):
    """The best time of a sector, overall or in a class, and who set it."""

    sector: int
    """1-based."""
    number: str
    class_name: str
    driver: str | None
    lap: int
    ms: int


class FastestLapChange(Struct, frozen=True, kw_only=True):
    """A lap that became its class's fastest (and, with ``overall``, the session's) when it was set."""

    at: int
    number: str
    class_name: str
    driver: str | None
    lap: int
    ms: int
    overall: bool


class CarAnalysis(Struct, frozen=True, kw_only=True):
    number: str
    class_name: str
    sub_class: str | None = None
    team: str
    car: str
    manufacturer: str
    position: int
    """In the classification the analysis was built with."""
    class_position: int
    status: ResultStatus
    laps: list[LapLine]
    stints: list[StintLine]
    stops: list[PitStopLine]
    pit_time_ms: int
    drive_times: list[DriverTime]
    """Every driver of the crew, those who did not drive included."""
    best_sectors: list[SectorTime | None]


class SessionAnalysis(Struct, frozen=True, kw_only=True):
    """Everything the analysis pictures and the official documents need, for one session at one point."""

    v: int = ANALYSIS_VERSION
    session: SessionRef
    name: str
    kind: SessionKind
    time_zone: str
    track_length_m: int | None = None
    last_seq: int
    as_of: int
    started_at: int | None
    chequered_at: int | None
    results: ResultsStatus | None
    min_drive_ms: int | None = None
    max_drive_ms: int | None = None
    flag_periods: list[FlagPeriod] = []
    best_sectors: list[SectorBest] = []
    class_best_sectors: list[SectorBest] = []
    """By class, then sector."""
    fastest_laps: list[FastestLapChange] = []
    """In the order they were set: each class's sequence, the overall one marked ``overall``."""
    cars: list[CarAnalysis]
    """In classification order."""


class CarHead(Struct, frozen=True, kw_only=True):
    """Who a chart's series is: enough to label and colour it."""

    number: str
    class_name: str
    team: str
    driver: str | None


class CarStints(Struct, frozen=True, kw_only=True):
    number: str
    stints: list[StintLine]
    stops: list[PitStopLine]


class ChartSeries(Struct, frozen=True, kw_only=True, tag_field="kind", tag="series"):
    """The lap chart, race trace, lap times and stint timeline of a session, for graphics to draw."""

    seq: int
    """The stream sequence of the last event folded in."""
    session: SessionRef
    name: str
    session_kind: SessionKind
    started_at: int | None
    as_of: int
    flag_periods: list[FlagPeriod]
    cars: list[CarHead]
    """In the classification's order."""
    points: list[LapPoint]
    """Every lap, in the order the cars crossed the line."""
    stints: list[CarStints]


class ChartUpdate(Struct, frozen=True, kw_only=True, tag_field="kind", tag="update"):
    """What changed since ``base_seq`` (the ``seq`` of the message before): new laps, if any, are appended (a lap
    already sent never changes in an update; when one must, for a late event or a deleted lap, a new
    :class:`ChartSeries` replaces everything), the flags and the clock are the latest."""

    seq: int
    base_seq: int
    as_of: int
    points: list[LapPoint]
    flag_periods: list[FlagPeriod]
    cars: list[CarHead]
    """The cars with new laps, as they are now."""
    stints: list[CarStints]
    """The stints and stops of the cars with new laps."""


ChartMessage = ChartSeries | ChartUpdate


class DocumentInfo(Struct, frozen=True, kw_only=True):
    name: str
    """The file name, e.g. ``classification.pdf``."""
    title: str
    media_type: str
    size: int
    pages: int | None = None


class DocumentsIndex(Struct, frozen=True, kw_only=True):
    """The official documents of a session, as generated when its results were declared."""

    session: SessionRef
    results: ResultsStatus | None
    declared_seq: int
    """The stream sequence of the declaration they were generated for: the log up to it, folded."""
    documents: list[DocumentInfo]
