"""The folded state of a session: what happened, not yet what it means.

:mod:`~services.classification.fold` changes a :class:`SessionState` one event
at a time; :func:`~services.classification.rules.classify` reads it into a
classification (both import this module, neither the other's). The state is
msgspec Structs all the way down (each car a
:class:`~services.classification.car.CarRecord`, its stops and stints, the
session's :class:`FlagPeriod`), so it is its own snapshot format
(:mod:`~services.classification.snapshot`).
"""

from __future__ import annotations

from msgspec import Struct

from schemas.events import (
    ClassificationRules,
    Flag,
    LapDeleted,
    PenaltyIssued,
    ResultsStatus,
    SessionOpened,
    SessionRef,
)
from schemas.results import RaceControlMessage
from services.classification.car import CarRecord


class FlagPeriod(Struct, array_like=True):
    """A whole-course flag and when it was out."""

    flag: Flag
    start: int
    end: int | None = None
    """None while it is out."""


class SessionState(Struct, eq=False):
    """Everything the fold keeps of one session."""

    session: SessionRef
    opened: SessionOpened | None = None
    last_seq: int = 0
    as_of: int = 0
    """The latest instant folded: the session's own clock."""
    flag: Flag = Flag.UNKNOWN
    flag_periods: list[FlagPeriod] = []
    started_at: int | None = None
    chequered_at: int | None = None
    """Shown by ``session_finished``, or inferred when the leader completes the distance."""
    results: ResultsStatus | None = None
    slowest_lap_ms: int = 0
    """The slowest lap of the session that had no pit stop and no red flag in it: the default finish window."""
    cars: dict[str, CarRecord] = {}
    """By number, in the order they were registered."""
    decisions: dict[str, PenaltyIssued | LapDeleted] = {}
    """The decisions in force, by document number: kept, not applied on arrival."""
    seen: set[str] = set()
    """``Event.id_in_session`` of every event folded (its ``msg_id`` without the session: the same for all)."""
    messages: list[RaceControlMessage] = []
    """The race-control feed: flags, penalties, decisions, retirements, results, in stream order."""

    def __post_init__(self) -> None:
        if len(self.cars) > 1:  # a snapshot keeps them by number (sorted): back in the order they registered
            self.cars = dict(sorted(self.cars.items(), key=lambda item: item[1].order))

    @property
    def rules(self) -> ClassificationRules:
        return self.opened.rules if self.opened is not None else ClassificationRules()

    def red_cutoff(self) -> int | None:
        """When the race ended under a red flag and was not resumed: the moment it was suspended."""
        if self.flag is Flag.RED and (self.chequered_at is not None or self.results is not None):
            return self.flag_periods[-1].start
        return None
