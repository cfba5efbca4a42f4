"""The feed's clock: RMonitor times of day and race times to local times of the session, never shifted by one bad
value.

Pure: no clock is read; every time comes from the feed (and, as a hint for the day only, a record's arrival).

- The *day* is the one given, else the first date the feed states (``$I``, ``$L``), else the date that puts the
  first time of day nearest the instant its record arrived (a recorder's ``##`` stamp, a live line's wall clock):
  a stamp taken in another zone, or the evening before, still gives the session's own day.
- A time of day more than 12 hours before the previous one is the next day (midnight passed).
- A time of day more than ``jump_ms`` away from the previous one is a jump. It is taken when the race time moved
  by as much (a hole while the race ran), when the arrival stamps moved by as much (a hole in a capture), or when
  :data:`CONFIRMATIONS` heartbeats in a row go on from it (the clock really moved: a splice of two days goes back
  hours, which is the next day); otherwise it is ignored and said so (:meth:`FeedClock.tell` returns False).
- The *anchor* (local time at race time zero) comes from the first heartbeat whose race clock runs; a different
  anchor is taken only once :data:`CONFIRMATIONS` heartbeats in a row agree on it (a race clock reset, seen in
  real captures), never from one stray value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from schemas.events import MAX_INSTANT, MIN_INSTANT
from services.feeds.common import FALLBACK_DAY, local_epoch_ms

DAY_MS = 86_400_000
CONFIRMATIONS = 3
"""Heartbeats in a row that make a jump of the clock (or a new anchor) real."""
AGREE_MS = 5_000
"""How close two measures of the same elapsed time must be to agree."""
SPLICE_MS = 2 * 3_600_000
"""A confirmed jump back of at least this much is a new day (a capture spliced from two days); less is a clock
set back on the same day (a daylight-saving change)."""


@dataclass
class _Candidate:
    value: int
    seen: int = 1


@dataclass
class FeedClock:
    zone: ZoneInfo
    day: date | None = None
    jump_ms: int = 300_000
    reanchor_ms: int = 2_000
    tod_ms: int | None = None
    """The last time of day taken."""
    local_ms: int | None = None
    """Milliseconds from the session day's midnight of the last time of day taken ("now")."""
    anchor: int | None = None
    """Local time at which the race time was zero."""
    reanchors: int = 0
    ignored: int = 0
    """Times of day ignored as jumps."""
    _day_offset: int = 0
    _race_ms: int | None = None
    _arrival: float | None = None
    _jump: _Candidate | None = field(default=None, repr=False)
    _new_anchor: _Candidate | None = field(default=None, repr=False)

    # -- the day ------------------------------------------------------------------------------

    def state_day(self, stated: date | None) -> None:
        """A date the feed states (``$I``, ``$L``): the session day unless one is known."""
        if self.day is None and stated is not None:
            self.day = stated

    def arrived(self, arrival: float) -> None:
        """A record arrived at ``arrival`` (UTC epoch seconds): a hint for the day, until a time of day comes."""
        if self.tod_ms is None:
            self._arrival = arrival

    def _day_from_arrival(self, tod_ms: int, arrival: float) -> date:
        """The day that puts ``tod_ms`` nearest the arrival instant."""
        instant = int(arrival * 1000)
        around = datetime.fromtimestamp(arrival, self.zone).date()
        candidates = (around - timedelta(days=1), around, around + timedelta(days=1))
        return min(candidates, key=lambda day: abs(local_epoch_ms(day, tod_ms, self.zone) - instant))

    # -- times of day ---------------------------------------------------------------------------

    def tell(self, tod_ms: int, race_ms: int | None = None, arrival: float | None = None) -> bool:
        """A time of day from the feed (with the race time and arrival that came with it): taken, or ignored as a
        jump (False)."""
        if self.tod_ms is None:
            arrival = arrival if arrival is not None else self._arrival
            if self.day is None and arrival is not None:
                self.day = self._day_from_arrival(tod_ms, arrival)
            self._take(tod_ms, 0, race_ms, arrival)
            return True
        delta = tod_ms - self.tod_ms
        rolled = 1 if delta < -DAY_MS // 2 else 0
        delta += rolled * DAY_MS
        if abs(delta) <= self.jump_ms or self._explained(delta, race_ms, arrival):
            self._take(tod_ms, rolled, race_ms, arrival)
            return True
        jump = self._jump
        if jump is not None and 0 <= tod_ms - jump.value <= AGREE_MS:
            jump.value, jump.seen = tod_ms, jump.seen + 1
            if jump.seen >= CONFIRMATIONS:
                self._take(tod_ms, rolled or (1 if delta <= -SPLICE_MS else 0), race_ms, arrival)
                return True
        else:
            self._jump = _Candidate(tod_ms)
        self.ignored += 1
        return False

    def meanwhile(self, tod_ms: int) -> None:
        """A time of day from a record stamped by itself (``$L``): "now" until the first heartbeat says otherwise,
        never a reference for jumps."""
        if self.tod_ms is None:
            self.local_ms = tod_ms

    def _explained(self, delta: int, race_ms: int | None, arrival: float | None) -> bool:
        if race_ms is not None and self._race_ms is not None and abs(race_ms - self._race_ms - delta) <= AGREE_MS:
            return True
        return (
            arrival is not None
            and self._arrival is not None
            and abs((arrival - self._arrival) * 1000 - delta) <= AGREE_MS
        )

    def _take(self, tod_ms: int, rolled: int, race_ms: int | None, arrival: float | None) -> None:
        self._day_offset += rolled
        self.tod_ms = tod_ms
        self.local_ms = self._day_offset * DAY_MS + tod_ms
        self._race_ms, self._arrival = race_ms, arrival
        self._jump = None

    def local_of(self, stated: date | None, tod_ms: int) -> int:
        """The local time of a record that carries its own date (``$L``) or only its time of day (today)."""
        if stated is None:
            return self._day_offset * DAY_MS + tod_ms
        self.state_day(stated)
        assert self.day is not None
        return (stated - self.day).days * DAY_MS + tod_ms

    @property
    def today(self) -> date | None:
        """The date of "now" (the session day, moved on by the midnights passed)."""
        if self.day is None:
            return None
        return self.day + timedelta(days=self._day_offset)

    # -- the race-time anchor ---------------------------------------------------------------------

    def anchor_at(self, race_ms: int) -> None:
        """A heartbeat whose race clock runs says "now" is race time ``race_ms``."""
        assert self.local_ms is not None
        candidate = self.local_ms - race_ms
        if self.anchor is None:
            self.anchor = candidate
            return
        if abs(candidate - self.anchor) <= self.reanchor_ms:
            self._new_anchor = None
            return
        pending = self._new_anchor
        if pending is not None and abs(candidate - pending.value) <= self.reanchor_ms:
            pending.seen += 1
            if pending.seen >= CONFIRMATIONS:
                self.anchor, self._new_anchor = candidate, None
                self.reanchors += 1
        else:
            self._new_anchor = _Candidate(candidate)

    def instant(self, local_ms: int) -> int:
        """The UTC epoch milliseconds of a local time of the session, kept within the instants an event may carry."""
        try:
            at = local_epoch_ms(self.day or FALLBACK_DAY, local_ms, self.zone)
        except OverflowError:
            return MAX_INSTANT if local_ms > 0 else MIN_INSTANT
        return min(max(MIN_INSTANT, at), MAX_INSTANT)
