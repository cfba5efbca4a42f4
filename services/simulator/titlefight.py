"""The title-fight scenario: a GT endurance season shaped like 2013's, up to its finale.

The season is the shipped ``gt-endurance.toml`` (three 3-hour rounds, the Spa 24 Hours with points at 6 h and 12 h,
the Nürburgring 1000 km paying 33-24-19-15-12-9-6-4-2-1 per class). Its first four rounds are scripted, so that
before the finale the leading Pro crew has 50 points, two crews 48 and one 47, every other Pro driver too few to
catch them (their cars change crews from round to round), and the Gentlemen title is already decided. The finale
is a race of the endurance simulator with the season's entries: the title is settled on track.

Pure and seeded: the same seed gives the same events. ``prelude()`` is every event of the four rounds (results
declared); ``finale(seed)`` the 1000 km.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from schemas import events
from services.simulator.endurance import FIRST, LAST, RaceSpec, simulate

CONFIG = Path(__file__).resolve().parents[1] / "standings" / "configs" / "gt-endurance.toml"
CHAMPIONSHIP = "gtes-2026"
FINALE = "nurburgring"
HOUR = 3_600_000

CONTENDERS = {
    "1": ("Apex Racing", "Ferrari", ("Marco Brandt", "Lena Marchetti", "Jonas Lefebvre")),
    "2": ("Ridgeline Motorsport", "Porsche", ("Sven Okoye", "Elena Duarte")),
    "3": ("Northfield Competition", "BMW", ("Hugo Renard", "Ines Valdes", "Kai Nakamura")),
    "4": ("Corsa Engineering", "Mercedes-AMG", ("Felix Sauer", "Rosa Lombardi")),
}
"""The Pro crews fighting for the title, with their team and make (last names no generated driver has)."""
OTHERS = tuple(str(n) for n in range(11, 24))
"""Pro cars whose crews change every round: points, never enough to catch the leaders."""
PRO_AM = {
    "31": ("Blue Arrow Racing", "Audi"),
    "32": ("Vortex Performance", "Lamborghini"),
    "33": ("Kestrel Works", "McLaren"),
}
GENTLEMEN = {
    "71": ("Halcyon Racing", "Aston Martin"),
    "72": ("Meridian Motorsport", "Ford"),
    "73": ("Tarmac Works", "Ferrari"),
}


@dataclass(frozen=True)
class Round:
    """A scripted round: when, how long, and the class order in each part of the race."""

    event: str
    name: str
    start: str
    """ISO 8601 with the circuit's offset."""
    time_zone: str
    track: str
    parts_h: Sequence[int]
    """Where each part ends, in hours of race time: (3,) for a 3-hour race, (6, 12, 24) for the 24 hours (its
    points at 6 h and 12 h are on the classification at the end of a part)."""
    orders: Sequence[Mapping[str, Sequence[str]]]
    """Per part: class to its cars in order; a car no longer listed retired at the start of the part."""
    lap_ms: int = 135_000


# The orders make the standings of the issue: before the finale, Pro crews #1 50, #2 48, #3 48, #4 47 points;
# every other Pro driver at most 15; the Gentlemen crew #71 out of reach. Spa's parts end at 6 h and 12 h.
_O = OTHERS
ROUNDS = (
    Round(
        "monza",
        "Monza",
        "2026-04-12T13:00:00+02:00",
        "Europe/Rome",
        "Autodromo Nazionale Monza",
        (3,),
        [{"Pro": ["1", "2", *_O[:6], "3", *_O[6:9]], "Pro-Am": ["31", "32", "33"], "Am": ["71", "72", "73"]}],
    ),
    Round(
        "silverstone",
        "Silverstone",
        "2026-05-24T14:00:00+01:00",
        "Europe/London",
        "Silverstone Circuit",
        (3,),
        [{"Pro": ["2", "3", *_O[:6], "1", "4", *_O[6:9]], "Pro-Am": ["32", "31", "33"], "Am": ["71", "73", "72"]}],
    ),
    Round(
        "paul-ricard",
        "Paul Ricard",
        "2026-06-28T16:00:00+02:00",
        "Europe/Paris",
        "Circuit Paul Ricard",
        (3,),
        [{"Pro": ["3", "4", *_O[:9], "1", "2"], "Pro-Am": ["31", "33", "32"], "Am": ["71", "72"]}],
    ),
    Round(
        "spa-24h",
        "Spa 24 Hours",
        "2026-07-25T16:30:00+02:00",
        "Europe/Brussels",
        "Circuit de Spa-Francorchamps",
        (6, 12, 24),
        [
            {
                "Pro": [*_O[0:4], "1", _O[4], "2", _O[5], "3", "4", *_O[6:13]],
                "Pro-Am": ["33", "31", "32"],
                "Am": ["71", "72", "73"],
            },
            {
                "Pro": [*_O[6:10], _O[4], _O[5], "4", "3", "2", "1", *_O[1:4], *_O[10:13], _O[0]],
                "Pro-Am": ["31", "33", "32"],
                "Am": ["71", "73", "72"],
            },
            {
                "Pro": ["4", "1", *_O[10:13], _O[2], _O[1], _O[3], _O[4], "2", _O[5], *_O[7:10], _O[6]],
                "Pro-Am": ["31", "32", "33"],
                "Am": ["71", "72", "73"],
            },
        ],
        lap_ms=138_000,
    ),
)
"""Monza: #1 wins, #2 2nd, #3 9th, #4 out. Silverstone: #2, #3, then #1 9th, #4 10th. Paul Ricard: #3, #4, #1 and
#2 out of the points. Spa: #1 5th, #2 7th, #3 9th, #4 10th at 6 h; #4 7th, #3 8th, #2 9th, #1 10th at 12 h; #4
wins from #1, #2 10th, #3 out."""


EVENTS = ("monza", "silverstone", "paul-ricard", "spa-24h", FINALE)
"""The season's rounds in order."""


def _name(index: int) -> str:
    """The ``index``-th of 576 different names (first and last names of the simulator's lists)."""
    first, rest = index % len(FIRST), index // len(FIRST)
    return f"{FIRST[first]} {LAST[(rest + first) % len(LAST)]}"


def _crew(number: str, event: str) -> list[events.Driver]:
    """A car's drivers at a round: the contenders' and the Gentlemen's crews stay; the other cars' change every
    round (names no one else has)."""
    if number in CONTENDERS:
        return [events.Driver(name, events.DriverCategory.GOLD) for name in CONTENDERS[number][2]]
    if number in GENTLEMEN:
        return [events.Driver(_name(300 + int(number)), events.DriverCategory.BRONZE)]
    if number in PRO_AM:
        return [events.Driver(_name(350 + int(number) * 2 + k), events.DriverCategory.SILVER) for k in range(2)]
    base = 100 + EVENTS.index(event) * 2 * len(OTHERS) + OTHERS.index(number) * 2
    return [events.Driver(_name(base + k), events.DriverCategory.SILVER) for k in range(2)]


def entries(event: str) -> list[events.EntryRegistered]:
    """The season's grid at a round."""
    out = []
    for number, (team, make, _) in CONTENDERS.items():
        out.append(_entry(number, "Pro", team, make, event))
    for i, number in enumerate(OTHERS):
        out.append(_entry(number, "Pro", f"Privateer {i + 1} Racing", ("Porsche", "BMW", "Audi")[i % 3], event))
    for number, (team, make) in PRO_AM.items():
        out.append(_entry(number, "Pro-Am", team, make, event))
    for number, (team, make) in GENTLEMEN.items():
        out.append(_entry(number, "Am", team, make, event))
    return out


def _entry(number: str, class_name: str, team: str, make: str, event: str) -> events.EntryRegistered:
    return events.EntryRegistered(
        number=number, class_name=class_name, team=team, car="GT3", manufacturer=make, crew=_crew(number, event)
    )


@dataclass
class _Log:
    session: events.SessionRef
    items: list[tuple[int, int, events.EventBody]] = field(default_factory=list)

    def add(self, at: int, body: events.EventBody) -> None:
        self.items.append((at, len(self.items), body))

    def in_order(self) -> list[events.Event]:
        return [
            events.Event(
                id=f"{self.session.event}-{i:06d}", session=self.session, producer="scenario", at=at, body=body
            )
            for i, (at, _, body) in enumerate(sorted(self.items))
        ]


def scripted(round_: Round) -> list[events.Event]:
    """A race whose class orders are the round's: every car laps in the same time, placed within the lap by its
    rank in each part, so the classification at each scoring instant (and at the flag) is the part's order. A
    car missing from a part retired at its start."""
    log = _Log(events.SessionRef(CHAMPIONSHIP, round_.event, "race"))
    start = int(datetime.fromisoformat(round_.start).timestamp() * 1000)
    length = round_.parts_h[-1] * HOUR
    log.add(start - 30 * 60_000, events.SessionOpened(
        name=f"{round_.name} — Race", kind=events.SessionKind.RACE, scheduled_start=round_.start,
        time_zone=round_.time_zone, length=events.SessionLength(time_ms=length), track=round_.track,
    ))  # fmt: skip
    grid = entries(round_.event)
    for i, entry in enumerate(grid):
        log.add(start - 20 * 60_000 + i, entry)
    log.add(start, events.SessionStarted())
    log.add(start, events.FlagChanged(flag=events.Flag.GREEN))
    parts = len(round_.orders)
    ends = [start + hours * HOUR for hours in round_.parts_h]
    offsets = [_offsets(order) for order in round_.orders]
    lap = 0
    retired: set[str] = set()
    while True:
        lap += 1
        base = start + lap * round_.lap_ms
        part = next((k for k, end in enumerate(ends) if base < end), parts - 1)
        leader_done = base >= start + length
        for number, offset in sorted(offsets[part].items(), key=lambda item: item[1]):
            if number in retired:
                continue
            log.add(base + offset, events.LapCompleted(number=number, lap=lap, lap_time_ms=round_.lap_ms))
        for entry in grid:
            if entry.number not in offsets[part] and entry.number not in retired:
                retired.add(entry.number)
                log.add(base + 40_000, events.CarRetired(number=entry.number, reason="mechanical"))
        if leader_done:
            break
    log.add(start + (lap + 1) * round_.lap_ms, events.ResultsDeclared(status=events.ResultsStatus.FINAL))
    return log.in_order()


def _offsets(order: Mapping[str, Sequence[str]]) -> dict[str, int]:
    """Where each car crosses within the lap: Pro first, then Pro-Am, then the Gentlemen, 1.2 s apart."""
    ranked = [number for cls in ("Pro", "Pro-Am", "Am") for number in order.get(cls, ())]
    return {number: 1000 + 1200 * i for i, number in enumerate(ranked)}


def prelude() -> list[events.Event]:
    """The four rounds before the finale, results declared."""
    return [event for round_ in ROUNDS for event in scripted(round_)]


def finale(seed: int = 1) -> list[events.Event]:
    """The Nürburgring 1000 km (194 laps of 5.148 km), raced by the endurance simulator with the season's grid."""
    spec = RaceSpec(
        seed=seed,
        event=FINALE,
        laps=194,
        lap_ms=114_000,
        scheduled_start="2026-09-20T12:00:00+02:00",
        time_zone="Europe/Berlin",
        track="Nürburgring GP",
        track_length_m=5148,
        entries=tuple(entries(FINALE)),
        retirements=2,
    )
    return simulate(spec)
