"""Championship configuration and standings read models: what the points engine reads and writes.

A :class:`ChampionshipConfig` is written in TOML by the series and decoded with
``msgspec.toml.decode``; every rule that differs between series is a field of
it, never a constant in code. Points are given with at most two decimals
(12.5, 0.5): the engine scores them as exact integers (see
``services.standings.units``), the read models show them as numbers.

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


# -- configuration --------------------------------------------------------------


class SharedDrive(enum.StrEnum):
    """What each driver of a car scores."""

    FULL = "full"
    """Every eligible driver of the crew scores the car's points in full (SRO, WEC)."""
    SPLIT = "split"
    """The car's points are divided equally between its eligible drivers."""


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


class ClassConfig(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: NonEmpty
    """The class as entries name it (``EntryRegistered.class_name``): "Pro", "Pro-Am", "Am", "HYPERCAR"."""
    label: str = ""
    """How the standings print it ("Gentlemen" for the simulator's "Am"); the name when empty."""


class Intermediate(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Points on the classification as it stood at a race time (the 6 h and 12 h of a 24-hour race)."""

    at_ms: PositiveMillis
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
    length_ms: PositiveMillis | None = None
    """The race's scheduled time; required with intermediates, which must fall inside it."""
    intermediate: list[Intermediate] = []


class Bonus(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Points on top of the scale. Multipliers and shortened-race factors do not apply to them."""

    pole: Points = 0
    """To the car first in its class in a qualifying session."""
    pole_sessions: list[Slug] = []
    """Qualifying sessions that award the pole; empty: every qualifying session of a round."""
    fastest_lap: Points = 0
    """To the car with the fastest lap of its class in a scoring race."""
    fastest_lap_top: Position = 0
    """Only when that car is classified in the top N of its class (0: anywhere); otherwise nobody gets it."""
    beyond_position: Position = 0
    """With ``beyond_points``: every car classified behind this class position scores them."""
    beyond_points: Points = 0


class Shortened(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A race that covered less than ``below_pct`` % of its scheduled time (or laps) scores ``factor`` of its
    scale points; of several rules the lowest threshold the race is under applies."""

    below_pct: Annotated[int, Meta(ge=1, le=100)]
    factor: Annotated[float, Meta(ge=0, le=1)]
    """0.5 for half points, 0 for none."""


class Eligibility(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    must_be_classified: bool = True
    """Only classified cars (and running cars, live) score; otherwise NC and DNF cars score by position.
    Disqualified, excluded and non-starting cars never score."""
    min_drive_ms: Millis = 0
    """A driver who drove less than this in a race scores nothing from it. Judged once the race is over."""


class DropPart(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    rounds: Annotated[int, Meta(ge=1)]
    """How many consecutive rounds this part holds."""
    best: Annotated[int, Meta(ge=1)]
    """How many of them count."""


class Drops(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Dropped scores: the unit is a round's points. An excluded result cannot be dropped."""

    best: Annotated[int, Meta(ge=1)] | None = None
    """Only the best N rounds count."""
    parts: list[DropPart] = []
    """Or: the season split in consecutive parts, best N1 of the first, best N2 of the next..."""


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
    min_drive_ms: Millis | None = None
    """Replaces ``eligibility.min_drive_ms`` for this round (longer races, longer minimums)."""


PointsAdjustment = PointsAdjusted
"""A decision on championship points, listed in the config or carried as a ``points_adjusted`` event."""


class ChampionshipConfig(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    v: int = STANDINGS_VERSION
    championship: Slug
    """The championship token of the sessions' ``SessionRef``."""
    name: NonEmpty
    classes: Annotated[list[ClassConfig], Meta(min_length=1)]
    scales: dict[ScaleName, Scale]
    points: Annotated[list[SessionPoints], Meta(min_length=1)]
    rounds: Annotated[list[Round], Meta(min_length=1)]
    """In calendar order: round 1 first."""
    bonus: Bonus = Bonus()
    shortened: list[Shortened] = []
    eligibility: Eligibility = Eligibility()
    shared_drive: SharedDrive = SharedDrive.FULL
    drops: Drops = Drops()
    standings: StandingsTables = StandingsTables()
    ties: list[TieBreak] = msgspec.field(default_factory=lambda: [TieBreak.COUNTBACK, TieBreak.NAME])
    """In order; ``name`` is the last resort whether listed or not."""
    adjustments: list[PointsAdjustment] = []


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


class StandingsTable(Struct, frozen=True, kw_only=True):
    kind: TableKind
    class_name: str | None
    """None: the overall table."""
    label: str
    rows: list[StandingsRow]


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
