"""When a feed writes the timing system's scoreboard into the log (``scoreboard_reported``).

Pure. The mapper tells a :class:`BoardWatch` which cars' scoreboard rows (``$G``, ``$H``) it saw, and asks it at
every heartbeat which rows to report:

- after a *trigger* (the session first seen, a reset, a reconnect, a hole in the feed), the rows seen since, once
  every car has one (the timing system re-sent its whole scoreboard) or ``settle_ms`` after the trigger (a feed
  joined mid-session, whose rows come as the cars cross the line), then the rows of the cars not covered yet,
  every ``settle_ms``, until every car is covered or ``window_ms`` has passed;
- at any time, the rows whose verdict changed: the scoreboard counts laps no passing showed, has a best lap set on
  a lap no passing showed, or disagrees with the passings (or agrees again).

A report is written only when one of its rows says something the passings do not (its verdict is not
:data:`AGREES`): a session watched from its start, whose scoreboard the passings explain, gets none.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from schemas.events import ScoreboardReason

Verdict = tuple[tuple[str, int] | None, tuple[str, int, int | None] | None]
"""(laps: ("more" | "fewer", laps), best: ("missed" | "differs", scoreboard's best, ours)) of a car's row."""
AGREES: Verdict = (None, None)


@dataclass
class BoardWatch:
    settle_ms: int = 30_000
    window_ms: int = 1_800_000
    reason: ScoreboardReason | None = ScoreboardReason.FIRST
    """The open trigger (None: none)."""
    opened_at: int | None = None
    last_report: int | None = None
    fresh: set[str] = field(default_factory=set)
    """Cars with a row since the trigger."""
    covered: set[str] = field(default_factory=set)
    """Cars reported since the trigger."""
    changed: set[str] = field(default_factory=set)
    """Cars whose row changed since the last heartbeat."""
    said: dict[str, Verdict] = field(default_factory=dict)
    """The verdict of each car as last reported."""

    def open(self, reason: ScoreboardReason) -> None:
        self.reason, self.opened_at, self.last_report = reason, None, None
        self.fresh.clear()
        self.covered.clear()

    def saw(self, registration: str) -> None:
        self.changed.add(registration)
        if self.reason is not None:
            self.fresh.add(registration)

    def triggered(self, now: int, cars: Iterable[str], final: bool = False) -> set[str]:
        """The rows the open trigger reports now (empty while it waits; ``final``: the feed ends, it waits no
        more)."""
        if self.reason is None:
            return set()
        if self.opened_at is None:
            self.opened_at = now
        known = set(cars)
        waiting = (known & self.fresh) - self.covered
        full = bool(known) and known <= self.fresh | self.covered
        since = self.last_report if self.last_report is not None else self.opened_at
        due = final or full or now - since >= self.settle_ms
        if not due or not waiting:
            if now - self.opened_at >= self.window_ms or (full and not waiting):
                self.reason = None
            return set()
        return waiting

    def reported(self, now: int, rows: Iterable[str], cars: Iterable[str]) -> None:
        """``rows`` were written (or found to say nothing new) at ``now``."""
        self.covered |= set(rows)
        self.last_report = now
        known = set(cars)
        if known and known <= self.covered:
            self.reason = None

    def take_changed(self) -> set[str]:
        changed, self.changed = self.changed, set()
        return changed
