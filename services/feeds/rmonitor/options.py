"""How an RMonitor feed maps to sessions: one options Struct, built by the ``feed`` command or a test, passed whole.

:class:`~services.feeds.rmonitor.weekend.WeekendMapper` reads the weekend's
options (which runs to follow, the producer); each session's
:class:`~services.feeds.rmonitor.mapper.RMonitorMapper` reads the rest (the
circuit's time zone, names, rules, and the tuning of its corrections).
"""

from __future__ import annotations

from datetime import date

from msgspec import Struct, field

from schemas.events import ClassificationRules, SessionKind, SessionLength

METRES_PER_MILE = 1609.344


class Bounds(Struct, frozen=True, kw_only=True):
    """What a record may say before it is kept aside as absurd for the session."""

    min_lap_ms: int = 2_000
    min_lap_pct_of_best: int = 33
    """A lap under this share of the session's best lap (a third) is a glitch, not a lap."""
    max_lap_ms: int | None = None
    """None: the session's length when known, else 24 hours."""
    max_total_ms: int | None = None
    """None: twice the session's length (at least an hour more) when known, else 48 hours."""


class RMonitorOptions(Struct, frozen=True, kw_only=True):
    """Every option of an RMonitor feed.

    ``time_zone`` is the circuit's: ``$F`` times of day are local times there. Without ``day``, the session day
    is the first the feed states (``$I``), else the day its times of day fall on when the first line arrived
    (a live feed's clock, a capture's ``##`` stamps), else 2000-01-01. ``name`` and ``kind`` name every session
    the feed makes (use them with ``run``); ``run`` follows that run only.
    """

    producer: str = "rmonitor"
    day: date | None = None
    time_zone: str = "UTC"
    name: str | None = None
    kind: SessionKind | None = None
    run: int | None = None
    inactive_runs: tuple[int, ...] = (95,)
    """Runs a feed that follows one session passes over (95: Orbits' idle run between sessions)."""
    rules: ClassificationRules | None = None
    """The session's classification rules (None: chequered's default, the ``club`` preset's)."""
    length: SessionLength | None = None
    """None: what the feed says (``$B``, ``$F``)."""
    track_length_unit_m: float = METRES_PER_MILE
    correction_window_ms: int = 5_000
    finish_window_ms: int = 5_000
    reanchor_ms: int = 2_000
    clock_jump_ms: int = 300_000
    bounds: Bounds = field(default_factory=Bounds)
    unknown_car_timeout_ms: int = 60_000
    board_settle_ms: int = 30_000
    gap_ms: int = 30_000
