"""Championship configuration and standings read models: what the points engine reads and writes.

A :class:`ChampionshipConfig` is written in TOML by the series and decoded with
``msgspec.toml.decode``; every rule that differs between series is a field of
it, never a constant in code. Points are given with at most two decimals
(12.5, 0.5): the engine scores them as exact fractions (a fastest lap shared by
seven drivers is 1/7 of a point each; see ``services.standings.units``), the
read models show them rounded to two decimals. A duration (any ``*_ms`` key)
may be written ``6h``, ``90min``, ``1h30min`` or ``45s`` as well as in
milliseconds.

Versioning is additive, as for events: a new field gets a default and
``STANDINGS_VERSION`` goes up.
"""

from __future__ import annotations

import enum
from typing import Annotated

import msgspec
from msgspec import Meta, Struct

from schemas.events import (
    AdjustmentKind as AdjustmentKind,
)
from schemas.events import (
    CarNumber,
    DecisionId,
    Millis,
    NonEmpty,
    Points,
    PointsAdjusted,
    PositiveMillis,
    SessionKind,
    Slug,
)
from schemas.events import (
    TableKind as TableKind,
)
from schemas.results import ResultStatus

STANDINGS_VERSION = 1

ScaleName = Annotated[str, Meta(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="the name of a scale in `scales`")]
Scale = Annotated[list[float], Meta(description="points for class position 1, 2, 3, ...; not empty, none negative")]
"""Checked by the loader, whose messages name the scale (msgspec's would say ``$.scales[...]``)."""
Position = Annotated[int, Meta(ge=0, description="a class position; 0: none")]
Duration = Annotated[Millis, Meta(description="milliseconds (a config may write 6h, 90min, 1h30min, 45s)")]
PositiveDuration = Annotated[PositiveMillis, Meta(description="milliseconds (a config may write 6h, 90min, 45s)")]


# -- configuration --------------------------------------------------------------


class SharedDrive(enum.StrEnum):
    """What each driver of a car scores."""

    FULL = "full"
    """Every eligible driver of the crew scores the car's points in full (SRO, WEC)."""
    SPLIT = "split"
    """The car's points are divided equally between its eligible drivers."""
    NONE = "none"
    """A car shared by more than one eligible driver scores nothing for its drivers, and its place is not passed
    down (some eras); teams and manufacturers still score it."""


class TeamStandings(enum.StrEnum):
    NONE = "none"
    ENTRY = "entry"
    """Every car of a team is a competitor of its own: "Team WRT #1"."""
    BEST_CAR = "best_car"
    """A team scores its best-scoring car of each round."""


class TieBreak(enum.StrEnum):
    """Rules that separate competitors level on points, applied in the configured order."""

    COUNTBACK = "countback"
    """Most wins, then most second places, and so on (finishes of races, class or overall positions)."""
    LATEST_RESULT = "latest_result"
    """The better best finish in the latest round where the tied competitors' best finishes differ."""
    NAME = "name"
    """Alphabetical; always the last resort, so the order is total."""


class FastestLapTo(enum.StrEnum):
    """Who a fastest-lap bonus is credited to."""

    CAR = "car"
    """The car: its drivers share it as they share the car's points; teams and manufacturers score it."""
    DRIVER = "driver"
    """The driver who set the lap, alone (drivers' tables only)."""


class RaceEnd(enum.StrEnum):
    """How a race ended, for the shortened-race rules."""

    CHEQUERED = "chequered"
    """The chequered flag: the distance, or the time limit."""
    RED_FLAG = "red_flag"
    """Suspended under a red flag and not resumed."""


class Vacancy(enum.StrEnum):
    """Results that score nothing yet keep their place: the points of that place go to nobody."""

    GUEST = "guest"
    """An entry not eligible for points (``entry_registered.eligible_for_points`` false)."""
    DISQUALIFIED = "disqualified"
    """A disqualified car keeps the place it had on the road (laps, then total time)."""


class DropUnit(enum.StrEnum):
    ROUND = "round"
    """A round's points are one result (every session of the round together)."""
    RESULT = "result"
    """Each result (one car in one session) is one: a driver with two cars in a race has two."""


class CountbackPositions(enum.StrEnum):
    CLASS = "class"
    """The positions the table scores on: class positions in class tables, overall in overall tables."""
    OVERALL = "overall"
    """Overall positions, in class tables too."""


class ClassConfig(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: NonEmpty
    """The class as entries name it (``EntryRegistered.class_name``): "Pro", "Pro-Am", "Am", "HYPERCAR"."""
    label: str = ""
    """How the standings print it ("Gentlemen" for the simulator's "Am"); the name when empty."""


class Intermediate(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Points on the classification as it stood at a race time (the 6 h and 12 h of a 24-hour race)."""

    at_ms: PositiveDuration
    """Race time after the start."""
    scale: ScaleName
    label: str = ""
    """As printed: "6 h"."""


class SessionPoints(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Points from the classification of sessions of one kind, applied to class positions."""

    kind: SessionKind = SessionKind.RACE
    sessions: list[Slug] = []
    """Only these sessions (their slugs); empty: every session of the kind. A rule naming a
    session wins over one that does not."""
    scale: ScaleName
    """The scale for every class without a scale of its own (and for the overall tables)."""
    class_scales: dict[str, ScaleName] = {}
    """Class name to scale."""
    length_ms: PositiveDuration | None = None
    """The race's scheduled time; required with intermediates, which must fall inside it."""
    intermediate: list[Intermediate] = []


class Bonus(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Points on top of the scale. Multipliers and shortened-race factors do not apply to them."""

    pole: Points = 0
    """To the car first in its class in a qualifying session."""
    pole_sessions: list[Slug] = []
    """Qualifying sessions that award the pole; empty: every qualifying session of a round."""
    fastest_lap: Points = 0
    """To the car with the fastest lap of its class in a scoring race; several that set the same time share it
    equally."""
    fastest_lap_top: Position = 0
    """Only when that car is classified in the top N of its class (0: anywhere); otherwise nobody gets it."""
    fastest_lap_sessions: list[Slug] = []
    """Races that award it (the main race, not a sprint); empty: every scoring race."""
    fastest_lap_to: FastestLapTo = FastestLapTo.CAR
    fastest_lap_shortened: bool = True
    """False: withheld in a shortened race (one a ``shortened`` rule applies to)."""
    beyond_position: Position = 0
    """With ``beyond_points``: every car classified behind this class position scores them."""
    beyond_points: Points = 0


class Shortened(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A band of a shortened race: one that covered less than ``below_pct`` % of its scheduled distance (laps for a
    lap-count race, else time), or whose winner completed fewer than ``below_laps`` laps, scores ``factor`` of its
    scale points, or the points of its own ``scale``. Of the bands a race falls in, a lap minimum first, then the
    lowest percentage applies."""

    below_pct: Annotated[int, Meta(ge=1, le=100)] | None = None
    below_laps: Annotated[int, Meta(ge=1)] | None = None
    factor: Annotated[float, Meta(ge=0, le=1)] | None = None
    """0.5 for half points, 0 for none."""
    scale: ScaleName | None = None
    """Points of this scale instead of the session's (a scale per band)."""
    ended: list[RaceEnd] = []
    """Only for races that ended so (``red_flag``: suspended and not resumed); empty: however it ended."""


class Eligibility(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    must_be_classified: bool = True
    """Only classified cars (and running cars, live) score; otherwise NC and DNF cars score by position.
    Disqualified, excluded and non-starting cars never score."""
    min_drive_ms: Duration = 0
    """A driver who drove less than this in a race scores nothing from it. Judged once the race is over."""
    vacant: list[Vacancy] = []
    """Non-scoring results that keep their place; every other non-scoring result passes its place down."""


class DropPart(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    rounds: Annotated[int, Meta(ge=1)] | None = None
    """How many consecutive rounds this part holds; left out (by every part): the season's rounds, as many as
    there are (the calendar's), split evenly, the earlier parts taking the odd ones."""
    best: Annotated[int, Meta(ge=1)]
    """How many of them count."""


class Drops(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Dropped scores: the unit is a round's points. An excluded result cannot be dropped."""

    best: Annotated[int, Meta(ge=1)] | None = None
    """Only the best N rounds count."""
    parts: list[DropPart] = []
    """Or: the season split in consecutive parts, best N1 of the first, best N2 of the next..."""
    unit: DropUnit = DropUnit.ROUND
    """What ``best`` counts: rounds, or results."""


class Countback(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What count-back (``ties``) reads: finishes of scoring races."""

    sessions: list[Slug] = []
    """Only these races (the main races); empty: every scoring race."""
    positions: CountbackPositions = CountbackPositions.CLASS


class StandingsTables(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    drivers: bool = True
    teams: TeamStandings = TeamStandings.ENTRY
    manufacturer_cars: Annotated[int, Meta(ge=0, le=4)] = 0
    """A manufacturer scores its best N cars of each round; 0: no manufacturers' standings."""
    overall: bool = False
    """Also overall tables, scored on overall positions with each rule's ``scale``."""


class Round(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A round is an event of the championship: its sessions are those whose ``event`` slug is this one."""

    event: Slug
    name: str = ""
    points: list[SessionPoints] | None = None
    """Replaces the championship's ``points`` for this round (a 1000 km scale, intermediates)."""
    multiplier: Annotated[float, Meta(gt=0)] = 1
    """Applied to scale points: 2 for double points."""
    bonus: Bonus | None = None
    """Replaces the championship's ``bonus`` for this round."""
    min_drive_ms: Duration | None = None
    """Replaces ``eligibility.min_drive_ms`` for this round (longer races, longer minimums)."""


PointsAdjustment = PointsAdjusted
"""A decision on championship points, listed in the config or carried as a ``points_adjusted`` event."""


class Exclusion(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A competitor excluded from the championship: one decision, whatever the rounds (a ``championship_exclusion``
    points decision)."""

    decision: DecisionId
    competitor: NonEmpty
    table: TableKind = TableKind.DRIVERS
    class_name: str | None = None
    """None: every class table (and the overall table) of ``table``."""
    reason: str = ""


class ChampionshipConfig(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    v: int = STANDINGS_VERSION
    championship: Slug
    """The championship token of the sessions' ``SessionRef``."""
    name: NonEmpty
    classes: Annotated[list[ClassConfig], Meta(min_length=1)]
    scales: dict[ScaleName, Scale]
    points: Annotated[list[SessionPoints], Meta(min_length=1)]
    rounds: list[Round] = []
    """In calendar order: round 1 first. With a season's calendar (``calendar_published``), the rounds are the
    calendar's, in its order, and these only give the rules of the rounds they name (so one rulebook serves every
    season of an era); without one, the rounds are these."""
    bonus: Bonus = Bonus()
    shortened: list[Shortened] = []
    eligibility: Eligibility = Eligibility()
    shared_drive: SharedDrive = SharedDrive.FULL
    drops: Drops = Drops()
    standings: StandingsTables = StandingsTables()
    ties: list[TieBreak] = msgspec.field(default_factory=lambda: [TieBreak.COUNTBACK, TieBreak.NAME])
    """In order; ``name`` is the last resort whether listed or not."""
    countback: Countback = Countback()
    adjustments: list[PointsAdjustment] = []
    exclusions: list[Exclusion] = []


# -- read models -----------------------------------------------------------------


class RoundState(enum.StrEnum):
    SCHEDULED = "scheduled"
    RUNNING = "running"
    """A session is under way (or a race is still to come): the standings are "as it stands"."""
    PROVISIONAL = "provisional"
    FINAL = "final"


class RoundInfo(Struct, frozen=True, kw_only=True):
    index: int
    event: Slug
    name: str
    state: RoundState


class ResultRef(Struct, frozen=True, kw_only=True):
    """The result points came from."""

    session: Slug
    number: CarNumber
    position: int
    class_position: int
    status: ResultStatus


class AwardKind(enum.StrEnum):
    POSITION = "position"
    """The scale, on the final (or live) classification."""
    INTERMEDIATE = "intermediate"
    POLE = "pole"
    FASTEST_LAP = "fastest_lap"
    BEYOND = "beyond"
    """Classified behind ``beyond_position``."""


class Award(Struct, frozen=True, kw_only=True):
    """One part of a round's points; ``points`` is this competitor's share."""

    kind: AwardKind
    session: Slug
    number: CarNumber
    points: float
    detail: str = ""


class ScoreState(enum.StrEnum):
    COUNTED = "counted"
    DROPPED = "dropped"
    EXCLUDED = "excluded"
    PARTLY_DROPPED = "partly_dropped"
    """Drops by results: some of the round's results count, ``dropped`` lists the others."""


class RoundScore(Struct, frozen=True, kw_only=True):
    """A competitor's round: its points, where they came from, and whether they count."""

    round: Slug
    index: int
    points: float
    state: ScoreState
    why: str = ""
    """Why dropped or excluded."""
    results: list[ResultRef] = []
    awards: list[Award] = []
    ineligible: list[str] = []
    """Why results scored nothing: not classified, short of the minimum drive time."""
    result_points: list[float] = []
    """Each result's points, in the order of ``results``."""
    dropped: list[int] = []
    """Drops by results: the indexes (in ``results``) of the results that do not count."""


class StandingsRow(Struct, frozen=True, kw_only=True):
    position: int
    competitor: str
    points: float
    """The counted rounds' points less deductions."""
    rounds: list[RoundScore]
    """Rounds with a result, in calendar order."""
    deductions: list[PointsAdjustment] = []
    tie: str = ""
    """How a tie on points was broken."""
    excluded: str = ""
    """Excluded from the championship: by which decision, and why (the row is last, with no points)."""


class TitleStatus(enum.StrEnum):
    CHAMPION = "champion"
    """No rival can reach them any more: the title is won."""
    CONTENDER = "contender"
    """Can still win the title."""


class Requirement(Struct, frozen=True, kw_only=True):
    """A rival's part of a condition: they must finish lower than ``lower_than``."""

    rival: str
    number: str | None
    lower_than: int
    """A position (class positions in class tables); the rival must finish behind it, or not at all."""


class Condition(Struct, frozen=True, kw_only=True):
    """A way to win the title in the last race: finish ``position`` (0: anywhere, even out of the points), and
    every rival listed lower than their requirement."""

    position: int
    rivals: list[Requirement] = []


class Contender(Struct, frozen=True, kw_only=True):
    """A competitor (or a crew sharing every result) who can still win the title, or has won it."""

    competitors: list[str]
    number: str | None
    """Their car in the race to come (the last one they raced in until then)."""
    points: float
    """Counted from declared results."""
    live_points: float
    """As it stands: with the running round's results as they are now."""
    max_points: float
    """The most they can still reach: every result still on offer, under the rules in force."""
    status: TitleStatus
    leads: bool
    """First as it stands: champion if the running race (or the season) ended now."""
    conditions: list[Condition] = []
    """When only the last race is left: the ways to win it on finishing positions alone, best first (bonus points
    still on offer counted against them); empty otherwise."""
    condition: str = ""
    """The same, in words: "wins the title if 1st; or 2nd with #7 lower than 3rd"."""


class TitleFight(Struct, frozen=True, kw_only=True):
    """Who can still win a table: the permutations of the title, for the configuration in force."""

    decided: bool
    """A champion is known."""
    remaining: int
    """Scoring sessions still to come (or running): races, qualifying sessions, intermediate classifications."""
    contenders: list[Contender]
    """In standings order as it stands."""


class StandingsTable(Struct, frozen=True, kw_only=True):
    kind: TableKind
    class_name: str | None
    """None: the overall table."""
    label: str
    rows: list[StandingsRow]
    title: TitleFight | None = None
    """Who can still win it; None for a table without rows."""


class Standings(Struct, frozen=True, kw_only=True):
    v: int = STANDINGS_VERSION
    championship: Slug
    name: str
    rounds: list[RoundInfo]
    tables: list[StandingsTable]
    sequences: dict[str, int]
    """Session key to the ``last_seq`` of the classification scored: the stream position reflected."""
    live: bool
    """A round is running: "as it stands"."""


class LiveRow(Struct, frozen=True, kw_only=True):
    position: int
    competitor: str
    points: float
    live_points: float
    """Scored in the running round, as it stands (counted or not)."""
    before: int | None
    """Position without the running round; None for a newcomer."""


class LiveTable(Struct, frozen=True, kw_only=True):
    kind: TableKind
    class_name: str | None
    label: str
    rows: list[LiveRow]
    title: TitleFight | None = None
    """Who can still win it, as it stands."""


class TitleTable(Struct, frozen=True, kw_only=True):
    """One table's title fight, named."""

    kind: TableKind
    class_name: str | None
    label: str
    title: TitleFight


class Contenders(Struct, frozen=True, kw_only=True):
    """Every table's title fight of a championship, as it stands (``/api/standings/{championship}/contenders``)."""

    championship: Slug
    live: bool
    """A round is running: "as it stands"."""
    tables: list[TitleTable]


class LiveStandings(Struct, frozen=True, kw_only=True):
    """The compact "as it stands" table a broadcast shows, recomputed on every lap; the same order and totals as
    :class:`Standings` for the same rounds, without the per-round breakdown."""

    v: int = STANDINGS_VERSION
    championship: Slug
    round: Slug
    tables: list[LiveTable]
    sequences: dict[str, int]
    live: bool


_encoder = msgspec.json.Encoder()
_standings_decoder = msgspec.json.Decoder(Standings)
_live_decoder = msgspec.json.Decoder(LiveStandings)


def encode_standings(value: Standings | LiveStandings) -> bytes:
    return _encoder.encode(value)


def decode_standings(data: bytes) -> Standings:
    return _standings_decoder.decode(data)


def decode_live_standings(data: bytes) -> LiveStandings:
    return _live_decoder.decode(data)
