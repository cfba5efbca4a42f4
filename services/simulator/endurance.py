"""A seeded multi-class GT endurance race, as the events a timing system would publish.

Pure: the only randomness is the ``random.Random(seed)`` created here and
passed along, so a seed always gives the same log, byte for byte.

The model: each car has a class pace and each driver a skill offset; a lap is
the driver's pace plus bell-shaped integer noise (portable: no floating-point
maths), tyre wear within a stint, a full-course yellow or safety-car period
that slows everyone, traffic. Cars stop for fuel
every ~55-65 minutes (most stops change driver), a few retire, and the race is
time-certain (or lap-count): when the time is up the leader's next crossing
shows the chequered flag and every other car finishes at its next crossing.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass, field
from datetime import datetime

from schemas import events

CLASS_PACE_MS = {"Pro": 0, "Pro-Am": 1_400, "Am": 2_900}
CATEGORIES = {
    "Pro": (events.DriverCategory.PLATINUM, events.DriverCategory.GOLD, events.DriverCategory.GOLD),
    "Pro-Am": (events.DriverCategory.PLATINUM, events.DriverCategory.BRONZE, events.DriverCategory.SILVER),
    "Am": (events.DriverCategory.BRONZE, events.DriverCategory.SILVER, events.DriverCategory.BRONZE),
}
MAKES = (
    ("Ferrari", "296 GT3"),
    ("Porsche", "911 GT3 R"),
    ("BMW", "M4 GT3"),
    ("Mercedes-AMG", "AMG GT3 Evo"),
    ("Audi", "R8 LMS GT3 Evo II"),
    ("Lamborghini", "Huracán GT3 Evo2"),
    ("McLaren", "720S GT3 Evo"),
    ("Aston Martin", "Vantage AMR GT3"),
    ("Ford", "Mustang GT3"),
)
TEAM_WORDS = ("Racing", "Motorsport", "Competition", "Engineering", "Performance", "Works")
TEAM_NAMES = (
    "Apex",
    "Ridgeline",
    "Northfield",
    "Corsa",
    "Blue Arrow",
    "Falken Bay",
    "Vortex",
    "Silverline",
    "Iron Lynx Valley",
    "Kestrel",
    "Monolith",
    "Halcyon",
    "Redshift",
    "Tarmac",
    "Meridian",
)
FIRST = (
    "Alex",
    "Bruno",
    "Carla",
    "Dario",
    "Elena",
    "Felix",
    "Greta",
    "Hugo",
    "Ines",
    "Jonas",
    "Kai",
    "Lena",
    "Marco",
    "Nina",
    "Oscar",
    "Paula",
    "Quentin",
    "Rosa",
    "Sven",
    "Tara",
    "Umberto",
    "Vera",
    "Wim",
    "Yara",
)
LAST = (
    "Aldana",
    "Berger",
    "Castelli",
    "Dufour",
    "Eriksen",
    "Ferraz",
    "Gallo",
    "Hartmann",
    "Ivanov",
    "Janssen",
    "Kowalski",
    "Lindqvist",
    "Moreau",
    "Novak",
    "Okafor",
    "Petit",
    "Quarta",
    "Rinaldi",
    "Sato",
    "Tanaka",
    "Ulrich",
    "Vidal",
    "Weber",
    "Zanetti",
)
RETIREMENT_REASONS = ("gearbox", "accident", "suspension", "engine", "electrics", "driveshaft", "puncture damage")


@dataclass(frozen=True)
class RaceSpec:
    seed: int = 1
    cars: int = 45
    classes: tuple[str, ...] = ("Pro", "Pro-Am", "Am")
    duration_ms: int = 3 * 3600 * 1000
    laps: int | None = None
    """A lap-count race when set (``duration_ms`` is then ignored)."""
    championship: str = "gtes-2026"
    event: str = "monza"
    session: str = "race"
    producer: str = "simulator"
    scheduled_start: str = "2026-04-19T15:00:00+02:00"
    time_zone: str = "Europe/Rome"
    lap_ms: int = 107_000
    """A Pro car's reference lap around Monza."""
    sectors: int = 3
    safety_car: bool = True
    retirements: int = 3
    rules: events.ClassificationRules = field(default_factory=events.ClassificationRules)
    """The session's classification rules (a preset's, or chequered's default)."""
    entries: tuple[events.EntryRegistered, ...] = ()
    """The grid, when given (a season's entries): each car's pace and its drivers' skill are still drawn."""
    track: str = "Autodromo Nazionale Monza"
    track_length_m: int = 5793

    @property
    def start_at(self) -> int:
        return int(datetime.fromisoformat(self.scheduled_start).timestamp() * 1000)


@dataclass
class _Car:
    number: str
    class_name: str
    crew: list[events.Driver]
    skill_ms: list[int]
    grid_ms: int
    lap: int = 0
    crossing: int = 0
    driver: int = 0
    stint_start: int = 0
    next_stop_ms: int = 0
    retire_at: int | None = None
    pit_pending: bool = False
    retired: bool = False
    next_lap_ms: int = 0


class _Log:
    """Events in timing-clock order; ties keep the order they were produced in."""

    def __init__(self, spec: RaceSpec) -> None:
        self.spec = spec
        self.session = events.SessionRef(spec.championship, spec.event, spec.session)
        self.items: list[tuple[int, int, events.EventBody]] = []

    def add(self, at: int, body: events.EventBody) -> None:
        self.items.append((at, len(self.items), body))

    def in_order(self) -> list[events.Event]:
        ordered = sorted(self.items, key=lambda item: (item[0], item[1]))
        return [
            events.Event(
                id=f"{self.spec.session}-{i:06d}", session=self.session, producer=self.spec.producer, at=at, body=body
            )
            for i, (at, _, body) in enumerate(ordered)
        ]


def _entries(spec: RaceSpec, rnd: random.Random) -> list[_Car]:
    if spec.entries:
        return _gridded([_entered(entry, rnd) for entry in spec.entries])
    numbers = rnd.sample(range(2, 999), spec.cars)
    cars = []
    for i in range(spec.cars):
        class_name = spec.classes[i * len(spec.classes) // spec.cars]
        crew_size = 3 if rnd.random() < 0.6 else 2
        crew = [
            events.Driver(f"{rnd.choice(FIRST)} {rnd.choice(LAST)}", CATEGORIES.get(class_name, CATEGORIES["Am"])[j])
            for j in range(crew_size)
        ]
        pace = _pace(class_name, rnd)
        number = f"{numbers[i]:03d}" if numbers[i] < 10 and rnd.random() < 0.3 else str(numbers[i])
        cars.append(_Car(number, class_name, crew, _skills(pace, len(crew), rnd), 0))
    return _gridded(cars)


def _entered(entry: events.EntryRegistered, rnd: random.Random) -> _Car:
    """A given entry's car: its pace and its drivers' skill drawn as for a generated one."""
    return _Car(
        entry.number, entry.class_name, entry.crew, _skills(_pace(entry.class_name, rnd), len(entry.crew), rnd), 0
    )


def _pace(class_name: str, rnd: random.Random) -> int:
    return CLASS_PACE_MS.get(class_name, 3_000) + rnd.randint(-400, 600)


def _skills(pace: int, drivers: int, rnd: random.Random) -> list[int]:
    return [pace + rnd.randint(-300, 900) for _ in range(drivers)]


def _gridded(cars: list[_Car]) -> list[_Car]:
    """In grid order: qualifying (the best driver's pace) sets it; a rolling start crosses row by row."""
    order = sorted(cars, key=lambda c: (min(c.skill_ms), c.number))
    for position, car in enumerate(order):
        car.grid_ms = position * 650
    return order


def _sectors(lap_ms: int, count: int, rnd: random.Random) -> list[int]:
    shares = [rnd.uniform(0.95, 1.05) for _ in range(count)]
    total = sum(shares)
    sectors = [int(lap_ms * share / total) for share in shares]
    sectors[-1] += lap_ms - sum(sectors)
    return sectors


def _distance(spec: RaceSpec) -> str:
    if spec.laps:
        return f"{spec.laps} Laps"
    hours, minutes = divmod(spec.duration_ms // 60_000, 60)
    return f"{hours} Hours" if not minutes else f"{hours}h{minutes:02d}"


def simulate(spec: RaceSpec) -> list[events.Event]:
    """The whole race as events, ordered by timing-clock time."""
    rnd = random.Random(spec.seed)
    log = _Log(spec)
    start = spec.start_at
    log.add(
        start - 30 * 60_000,
        events.SessionOpened(
            name=f"{spec.event.title()} {_distance(spec)} — Race",
            kind=events.SessionKind.RACE,
            scheduled_start=spec.scheduled_start,
            time_zone=spec.time_zone,
            length=events.SessionLength(laps=spec.laps)
            if spec.laps
            else events.SessionLength(time_ms=spec.duration_ms),
            track=spec.track,
            track_length_m=spec.track_length_m,
            rules=spec.rules,
        ),
    )
    cars = _entries(spec, rnd)
    given = {entry.number: entry for entry in spec.entries}
    for i, car in enumerate(cars):
        entry = given.get(car.number)
        if entry is None:
            make, model = MAKES[rnd.randrange(len(MAKES))]
            team = f"{TEAM_NAMES[i % len(TEAM_NAMES)]} {rnd.choice(TEAM_WORDS)}"
            entry = events.EntryRegistered(
                number=car.number, class_name=car.class_name, team=team, car=model, manufacturer=make, crew=car.crew
            )
        log.add(start - 20 * 60_000 + i, entry)
    log.add(start, events.SessionStarted())
    log.add(start, events.FlagChanged(flag=events.Flag.GREEN))

    horizon = spec.duration_ms if not spec.laps else spec.laps * spec.lap_ms * 2
    fcy = None
    if spec.safety_car:
        fcy_start = start + int(horizon * rnd.uniform(0.3, 0.6))
        fcy = (
            fcy_start,
            fcy_start + rnd.randint(4, 9) * 60_000,
            rnd.choice((events.Flag.FULL_COURSE_YELLOW, events.Flag.SAFETY_CAR)),
        )
        log.add(fcy[0], events.FlagChanged(flag=fcy[2]))
        log.add(fcy[1], events.FlagChanged(flag=events.Flag.GREEN))
    for car in rnd.sample(cars, min(spec.retirements, len(cars))):
        car.retire_at = start + int(horizon * rnd.uniform(0.1, 0.9))
    for car in cars:
        car.crossing = start
        car.stint_start = start
        car.next_stop_ms = rnd.randint(55, 65) * 60_000

    def plan_lap(index: int) -> None:
        """Work out the car's next crossing (or its retirement) and queue it."""
        car = cars[index]
        lap_ms = spec.lap_ms + car.skill_ms[car.driver] + sum(rnd.randint(-450, 450) for _ in range(3))
        lap_ms += int((car.crossing - car.stint_start) / 60_000 * 12)  # tyre wear
        if car.lap == 0:
            lap_ms += car.grid_ms + 6_000
        if fcy is not None and fcy[0] <= car.crossing < fcy[1]:
            lap_ms = int(lap_ms * 1.35)
        if rnd.random() < 0.04:
            lap_ms += rnd.randint(500, 3_000)  # traffic
        if car.pit_pending:
            car.pit_pending = False
            stop_ms = rnd.randint(58_000, 72_000)
            if len(car.crew) > 1 and rnd.random() < 0.8:
                car.driver = (car.driver + 1) % len(car.crew)
                stop_ms += rnd.randint(8_000, 14_000)
                log.add(
                    car.crossing + stop_ms // 3,
                    events.DriverChanged(number=car.number, driver=car.crew[car.driver].name),
                )
            log.add(car.crossing + stop_ms - 20_000, events.PitOut(number=car.number))
            car.stint_start = car.crossing + stop_ms - 20_000
            lap_ms += stop_ms
        car.next_lap_ms = lap_ms
        at = car.crossing + lap_ms
        if car.retire_at is not None and at > car.retire_at:
            heapq.heappush(queue, (car.retire_at, index, False))
        else:
            heapq.heappush(queue, (at, index, True))

    queue: list[tuple[int, int, bool]] = []
    for index in range(len(cars)):
        plan_lap(index)
    chequered_at: int | None = None
    end_of_time = start + spec.duration_ms
    while queue:
        at, index, is_lap = heapq.heappop(queue)
        car = cars[index]
        if not is_lap:
            log.add(at, events.CarRetired(number=car.number, reason=rnd.choice(RETIREMENT_REASONS)))
            car.retired = True
            continue
        car.lap += 1
        car.crossing = at
        in_pit = chequered_at is None and at - car.stint_start >= car.next_stop_ms and at < end_of_time - 10 * 60_000
        log.add(
            at,
            events.LapCompleted(
                number=car.number,
                lap=car.lap,
                lap_time_ms=car.next_lap_ms,
                driver=car.crew[car.driver].name,
                sectors_ms=_sectors(car.next_lap_ms, spec.sectors, rnd),
                in_pit=in_pit,
            ),
        )
        if in_pit:
            log.add(at - rnd.randint(9_000, 12_000), events.PitIn(number=car.number))
            car.pit_pending = True
            car.next_stop_ms = rnd.randint(55, 65) * 60_000
        if chequered_at is not None:
            continue  # took the flag at this crossing: no more laps
        leader = all(other is car or other.retired or other.lap < car.lap for other in cars)
        if leader and (car.lap >= spec.laps if spec.laps else at >= end_of_time):
            chequered_at = at
            log.add(at, events.SessionFinished())
            continue
        plan_lap(index)
    return log.in_order()
