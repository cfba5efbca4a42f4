"""Races for the gateway tests: a broadcast-looking one (``tests.factory.small_race`` is the plain one)."""

from __future__ import annotations

import random

from schemas import events
from tests.factory import SessionWriter

LEADER_LAP_MS = 207_000
RETIRES = "28"
IN_PIT_AT_END = "92"
FCY_AT = 3 * 212_000
CLASSES = (("Hypercar", 208_000), ("LMP2", 214_500), ("LMGT3", 229_000))
CATEGORIES = {
    "Hypercar": (events.DriverCategory.PLATINUM, events.DriverCategory.GOLD),
    "LMP2": (events.DriverCategory.GOLD, events.DriverCategory.SILVER),
    "LMGT3": (events.DriverCategory.SILVER, events.DriverCategory.BRONZE),
}
TEAMS = (
    ("Ferrari AF Corse", "Ferrari 499P", "Ferrari", "A. Pier Guidi", "J. Calado"),
    ("Toyota Gazoo Racing", "Toyota GR010", "Toyota", "K. Kobayashi", "N. de Vries"),
    ("Porsche Penske", "Porsche 963", "Porsche", "K. Estre", "L. Vanthoor"),
    ("Cadillac Hertz Jota", "Cadillac V-Series.R", "Cadillac", "A. Lynn", "E. Bamber"),
    ("BMW M Team WRT", "BMW M Hybrid V8", "BMW", "R. Rast", "S. van der Linde"),
    ("Alpine Endurance", "Alpine A424", "Alpine", "M. Schumacher", "F. Habsburg"),
    ("United Autosports", "Oreca 07", "Oreca", "P. Hanson", "F. Albuquerque"),
    ("Inter Europol", "Oreca 07", "Oreca", "J. Smiechowski", "C. Novalak"),
    ("IDEC Sport", "Oreca 07", "Oreca", "P. Lafargue", "R. Andrade"),
    ("AO by TF", "Oreca 07", "Oreca", "L. Aubry", "J. Allen"),
    ("Manthey EMA", "Porsche 911 GT3 R", "Porsche", "R. Lietz", "Y. Shahin"),
    ("Heart of Racing", "Aston Martin Vantage", "Aston Martin", "I. James", "A. Riberas"),
    ("Iron Dames", "Lamborghini Huracan", "Lamborghini", "S. Bovy", "M. Gatting"),
    ("Akkodis ASP", "Lexus RC F GT3", "Lexus", "J. Andrade", "K. Robin"),
    ("Proton Competition", "Ford Mustang GT3", "Ford", "G. Roda", "B. Barker"),
    ("WRT", "BMW M4 GT3", "BMW", "V. Rossi", "A. Al Harthy"),
)


SECTOR_SHARES = (31, 42, 27)
"""Percent of a lap in each of the three sectors."""
SERVES_DRIVE_THROUGH = "50"
DELETED = ("6", 4)


def sectors_of(lap_ms: int, rng: random.Random) -> list[int]:
    first = lap_ms * SECTOR_SHARES[0] // 100 + rng.randint(-300, 300)
    second = lap_ms * SECTOR_SHARES[1] // 100 + rng.randint(-300, 300)
    return [first, second, lap_ms - first - second]


def broadcast_race(w: SessionWriter, laps: int = 12, seed: int = 7, race_control: bool = False) -> list[events.Event]:
    """Sixteen cars in three classes, with sector times, pit stops, driver changes, a full-course yellow, a
    retirement, lapped cars, and car ``IN_PIT_AT_END`` in the pits when the last lap is in; ``race_control``
    adds a local yellow, a deleted lap (``DELETED``), a drive-through served at the car's stop
    (``SERVES_DRIVE_THROUGH``) and a 5 s time penalty for #7.

    Returns the events in timing-clock order (entries and start first).
    """
    rng = random.Random(seed)
    numbers = ["50", "7", "6", "12", "15", "36", "22", "34", "28", "38", "92", "27", "85", "78", "77", "46"]
    log = [w.opened(time_ms=6 * 3_600_000)]
    paces: dict[str, int] = {}
    crews: dict[str, tuple[str, str]] = {}
    for i, (number, team) in enumerate(zip(numbers, TEAMS, strict=True)):
        class_name, base = CLASSES[0 if i < 6 else 1 if i < 10 else 2]
        name, car, maker, first, second = team
        crews[number] = (first, second)
        paces[number] = base + rng.randint(0, 2600)
        log.append(
            w.event(
                events.EntryRegistered(
                    number=number,
                    class_name=class_name,
                    team=name,
                    car=car,
                    manufacturer=maker,
                    crew=[
                        events.Driver(first, CATEGORIES[class_name][0]),
                        events.Driver(second, CATEGORIES[class_name][1]),
                    ],
                )
            )
        )
    log.append(w.event(events.SessionStarted(), 0))
    timed: list[tuple[int, int, events.Event]] = []

    def add(at: int, body: events.Body) -> None:
        timed.append((at, len(timed), w.event(body, at)))

    until = laps * LEADER_LAP_MS  # the field runs until the leader's last lap: slower cars are lapped
    for grid, number in enumerate(numbers):
        stop_lap = rng.randint(3, max(3, laps - 3))
        times: list[int] = []
        at = grid * 400
        while True:
            lap = len(times) + 1
            trend = -90 * lap  # lighter on fuel, rubbered-in track: personal bests late in a stint
            lap_ms = paces[number] + trend + rng.randint(-900, 1400) + (22_000 if lap == stop_lap + 1 else 0)
            if at + lap_ms > until:
                break
            at += lap_ms
            times.append(lap_ms)
        if number == IN_PIT_AT_END:
            stop_lap = len(times)
        at = grid * 400
        for lap, lap_ms in enumerate(times, start=1):
            at += lap_ms
            driver = crews[number][0 if lap <= stop_lap else 1]
            sectors = sectors_of(lap_ms, rng)
            add(
                at,
                events.LapCompleted(
                    number=number,
                    lap=lap,
                    lap_time_ms=lap_ms,
                    driver=driver,
                    in_pit=lap == stop_lap,
                    sectors_ms=sectors,
                ),
            )
            if race_control and number == SERVES_DRIVE_THROUGH and lap == stop_lap - 1:
                add(
                    at + 1,
                    events.PenaltyIssued(
                        number=number,
                        decision="D1",
                        kind=events.PenaltyKind.DRIVE_THROUGH,
                        time_ms=25_000,
                        reason="pit lane speeding",
                    ),
                )
            if race_control and number == SERVES_DRIVE_THROUGH and lap == stop_lap:
                add(at + 20_000, events.PenaltyServed(number=number, decision="D1"))
            if race_control and (number, lap) == DELETED:
                add(at + 30_000, events.LapDeleted(number=number, decision="D2", lap=lap, reason="track limits turn 4"))
            if lap == stop_lap and lap < len(times):
                add(at + 14_000, events.DriverChanged(number=number, driver=crews[number][1]))
                add(at + 21_000, events.PitOut(number=number))
            if number == RETIRES and lap == laps - 3:
                add(at + 60_000, events.CarRetired(number=number, reason="gearbox"))
                break
    add(FCY_AT, events.FlagChanged(flag=events.Flag.FULL_COURSE_YELLOW))
    add(FCY_AT + 150_000, events.FlagChanged(flag=events.Flag.GREEN))
    if race_control:
        add(FCY_AT + 400_000, events.FlagChanged(flag=events.Flag.YELLOW, sector=2))
        add(FCY_AT + 460_000, events.FlagChanged(flag=events.Flag.GREEN, sector=2))
        add(
            until - 300_000,
            events.PenaltyIssued(
                number="7", decision="D3", kind=events.PenaltyKind.TIME, time_ms=5_000, reason="causing a collision"
            ),
        )
    timed.sort(key=lambda t: (t[0], t[1]))
    return log + [event for _, _, event in timed]


def qualifying(w: SessionWriter, cars: int = 5) -> list[events.Event]:
    """A qualifying session: each car's best lap differs, car ``cars`` fastest."""
    log = [w.opened(kind=events.SessionKind.QUALIFYING), *[w.entry(str(n), "Pro") for n in range(1, cars + 1)]]
    log.append(w.event(events.SessionStarted(), 0))
    for n in range(1, cars + 1):
        at = 0
        for lap in range(1, 4):
            lap_ms = 100_000 - n * 300 + lap * 50
            at += lap_ms
            log.append(w.lap(str(n), lap, at + n, lap_time_ms=lap_ms))
    return log
