"""Hand-made seasons: a readable way to write championship configs and the sessions of their rounds."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from schemas.events import (
    Body,
    CarRetired,
    ClassificationRules,
    Driver,
    DriverChanged,
    EntryRegistered,
    Event,
    Flag,
    FlagChanged,
    PitIn,
    PitOut,
    ResultsDeclared,
    ResultsStatus,
    SessionKind,
    SessionLength,
    SessionOpened,
    SessionRef,
    SessionStarted,
)
from schemas.results import Classification
from schemas.standings import (
    LiveStandings,
    LiveTable,
    PointsAdjustment,
    Standings,
    StandingsRow,
    StandingsTable,
    TableKind,
)
from services.standings.config import decode_config
from services.standings.fold import fold_championship
from services.standings.rulebook import Rulebook
from tests.factory import T0, SessionWriter, classify

CHAMPIONSHIP = "test-series"
LAP = 100_000

CLASSES = """
[[classes]]
name = "Pro"

[[classes]]
name = "Am"
label = "Gentlemen"
"""
"""The two classes of every test series: Pro, and Am labelled Gentlemen."""

BASE_CONFIG = f"""
championship = "{CHAMPIONSHIP}"
name = "Test Series"
{CLASSES}
[scales]
main = [10, 6, 4, 3, 2, 1]
half = [5, 3, 2, 1]
big = [20, 12, 8]

[[points]]
kind = "race"
scale = "main"
"""
ROUNDS = "\n".join(f'[[rounds]]\nevent = "r{i}"\nname = "Round {i}"\n' for i in range(1, 7))


def book(extra: str = "", rounds: str = ROUNDS, top: str = "") -> Rulebook:
    """The base config (classes Pro and Am, scale 10-6-4-3-2-1, six rounds r1..r6) with TOML added (``top``: keys of
    the top level, before the tables)."""
    return Rulebook(decode_config(top + BASE_CONFIG + extra + "\n" + rounds, "test.toml"))


@dataclass(frozen=True)
class Car:
    number: str
    class_name: str = "Pro"
    crew: tuple[str, ...] = ()
    team: str = ""
    manufacturer: str = "Maker"
    guest: bool = False
    """Not eligible for points."""

    @property
    def drivers(self) -> tuple[str, ...]:
        return self.crew or (f"Driver {self.number}",)


def cars(*numbers: str, class_name: str = "Pro") -> list[Car]:
    return [Car(n, class_name) for n in numbers]


@dataclass
class Session:
    """One session's events; cars finish in ``order`` (all on the lead lap unless they retire)."""

    event: str
    cars: Sequence[Car]
    order: Sequence[str]
    name: str = "race"
    kind: SessionKind = SessionKind.RACE
    laps: int = 10
    length_laps: int | None = None
    """Scheduled laps (a lap-count race)."""
    length_ms: int | None = None
    """Scheduled time; by default ``laps`` laps long, so the leader takes the flag on the last lap."""
    retire: Mapping[str, int] = field(default_factory=dict)
    """Car number to the laps it completes before it retires."""
    swap: Mapping[str, int] = field(default_factory=dict)
    """Car number to the lap after which its second driver takes over (pit in, change, pit out)."""
    declared: ResultsStatus | None = ResultsStatus.FINAL
    finished: bool = True
    """With False the race stops after ``laps`` laps with no flag: still running."""
    fastest: str | tuple[str, ...] | None = None
    """A car (or several, with the same time) that sets the fastest lap (on lap 2)."""
    red: bool = False
    """The race ends under a red flag shown after its last lap, not resumed (no chequered flag)."""
    championship: str = CHAMPIONSHIP
    start: int = T0
    """The instant the session starts at (signed: before 1970 for historic results)."""

    def writer(self) -> SessionWriter:
        return SessionWriter(SessionRef(self.championship, self.event, self.name), start=self.start)

    def events(self, after: Iterable[Body] = ()) -> list[Event]:
        w = self.writer()
        length = (
            SessionLength(laps=self.length_laps)
            if self.length_laps
            else SessionLength(time_ms=self.length_ms or self.laps * LAP)
        )
        opened = SessionOpened(
            name=self.name,
            kind=self.kind,
            scheduled_start="2026-04-19T15:00:00+02:00",
            time_zone="Europe/Rome",
            length=length,
            rules=ClassificationRules(),
        )
        events = [w.event(opened)]
        by_number = {car.number: car for car in self.cars}
        for car in self.cars:
            entry = EntryRegistered(
                number=car.number,
                class_name=car.class_name,
                team=car.team or f"Team {car.number}",
                car="GT3",
                manufacturer=car.manufacturer,
                crew=[Driver(name) for name in car.drivers],
                eligible_for_points=not car.guest,
            )
            events.append(w.event(entry))
        events.append(w.event(SessionStarted(), 0))
        if self.kind is not SessionKind.RACE:
            for i, number in enumerate(self.order):
                events.append(w.lap(number, 1, LAP + i * 10, lap_time_ms=LAP + i * 10))
        else:
            events += self._race_laps(w, by_number)
        end = (self.laps + 1) * LAP
        if self.red:
            events.append(w.event(FlagChanged(flag=Flag.RED), self.laps * LAP + LAP // 2))
        if self.declared is not None:
            events.append(w.event(ResultsDeclared(status=self.declared), end))
        return events + [w.event(body, end + 1 + i) for i, body in enumerate(after)]

    def _race_laps(self, w: SessionWriter, by_number: Mapping[str, Car]) -> list[Event]:
        events = []
        last_lap = self.laps if self.finished else self.laps - 1
        fastest = (self.fastest,) if isinstance(self.fastest, str) else self.fastest or ()
        for lap in range(1, last_lap + 1):
            for i, number in enumerate(self.order):
                if lap > self.retire.get(number, last_lap):
                    continue
                at = lap * LAP + i * 10
                lap_ms = LAP - 1000 if number in fastest and lap == 2 else LAP
                events.append(w.lap(number, lap, at, lap_time_ms=lap_ms))
                if self.retire.get(number) == lap:
                    events.append(w.event(CarRetired(number=number), at + 1))
                if self.swap.get(number) == lap:
                    events.append(w.event(PitIn(number=number), at + 1))
                    events.append(w.event(DriverChanged(number=number, driver=by_number[number].drivers[1]), at + 2))
                    events.append(w.event(PitOut(number=number), at + 3))
        return events


def run(
    book: Rulebook, *sessions: Session | Sequence[Event], adjustments: Iterable[PointsAdjustment] = ()
) -> Standings:
    """The standings the sessions give, folded from their events as the offline command folds a log."""
    events = [e for s in sessions for e in (s.events() if isinstance(s, Session) else s)]
    season = fold_championship(enumerate(events, start=1), book.config.championship, book).season
    assert season is not None
    for adjustment in adjustments:
        season.adjust(adjustment)
    return season.standings()


def classification(events: Sequence[Event]) -> Classification:
    return classify(events)


def crews(cars: Iterable[Car]) -> dict[str, list[str]]:
    return {car.number: list(car.drivers) for car in cars}


def table(standings: Standings, kind: TableKind = TableKind.DRIVERS, class_name: str | None = "Pro") -> StandingsTable:
    return next(t for t in standings.tables if t.kind is kind and t.class_name == class_name)


def live_table(standings: LiveStandings, class_name: str | None = "Pro") -> LiveTable:
    """The drivers' "as it stands" table of a class."""
    return next(t for t in standings.tables if t.kind is TableKind.DRIVERS and t.class_name == class_name)


def row(
    standings: Standings, competitor: str, kind: TableKind = TableKind.DRIVERS, class_name: str | None = "Pro"
) -> StandingsRow:
    return next(r for r in table(standings, kind, class_name).rows if r.competitor == competitor)


def points(
    standings: Standings, kind: TableKind = TableKind.DRIVERS, class_name: str | None = "Pro"
) -> dict[str, float]:
    return {row.competitor: row.points for row in table(standings, kind, class_name).rows}


def order(standings: Standings, kind: TableKind = TableKind.DRIVERS, class_name: str | None = "Pro") -> list[str]:
    return [row.competitor for row in table(standings, kind, class_name).rows]
