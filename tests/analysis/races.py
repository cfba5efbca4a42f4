"""A small race whose analysis is worked out by hand in the tests (every time in ms after the green flag).

Cars 1 and 2 are Pro, car 3 is Am; the session's rules ask 300 s to 600 s of each driver. A full-course
yellow runs from 250 s to 320 s. Car 1 pits at the end of lap 3 (its in-lap ends in the pit lane at 301 s),
changes to its second driver and leaves at 340 s; nobody else stops. Car 2 leads from lap 2; the chequered
flag is shown as it completes lap 6.

=====  ==========================================================================
car    lap ends at (lap time)
=====  ==========================================================================
1      100.0 (100.0)  200.5 (100.5)  301.0 (100.5, pit)  430.0 (129.0)  529.0 (99.0)  628.5 (99.5)
2      100.8 (100.8)  200.0 (99.2)   300.5 (100.5)       401.0 (100.5)  502.0 (101.0)  603.5 (101.5)
3      105, 210, 315, 420, 525, 630 (105.0 each)
=====  ==========================================================================
"""

from __future__ import annotations

import msgspec

from schemas import events
from tests.factory import SessionWriter

RULES = events.ClassificationRules(min_drive_ms=300_000, max_drive_ms=600_000)
CREWS = {"1": ("A. One", "A. Two"), "2": ("B. One", "B. Two"), "3": ("C. One", "C. Two")}
LAPS = {
    "1": [
        (100_000, 100_000),
        (200_500, 100_500),
        (301_000, 100_500),
        (430_000, 129_000),
        (529_000, 99_000),
        (628_500, 99_500),
    ],
    "2": [
        (100_800, 100_800),
        (200_000, 99_200),
        (300_500, 100_500),
        (401_000, 100_500),
        (502_000, 101_000),
        (603_500, 101_500),
    ],
    "3": [(105_000 * lap, 105_000) for lap in range(1, 7)],
}
SECTORS = {("2", 2): [33_000, 33_100, 33_100], ("1", 5): [32_900, 33_200, 32_900], ("1", 2): [33_500, 33_000, 34_000]}


def hand_race(w: SessionWriter) -> list[events.Event]:
    opened = w.opened(time_ms=600_000)
    assert isinstance(opened.body, events.SessionOpened)
    log = [msgspec.structs.replace(opened, body=msgspec.structs.replace(opened.body, rules=RULES))]
    for number, class_name in (("1", "Pro"), ("2", "Pro"), ("3", "Am")):
        crew = [events.Driver(name) for name in CREWS[number]]
        body = events.EntryRegistered(
            number=number, class_name=class_name, team=f"Team {number}", car="GT3", manufacturer="M", crew=crew
        )
        log.append(w.event(body))
    log.append(w.event(events.SessionStarted(), 0))
    timed: list[tuple[int, int, events.Event]] = []
    for number, laps in LAPS.items():
        for lap, (at, lap_ms) in enumerate(laps, start=1):
            driver = CREWS[number][1 if number == "1" and lap > 3 else 0]
            lap_event = w.lap(
                number,
                lap,
                at,
                lap_time_ms=lap_ms,
                driver=driver,
                in_pit=number == "1" and lap == 3,
                sectors_ms=SECTORS.get((number, lap), []),
            )
            timed.append((at, 1, lap_event))
    timed += [
        (250_000, 0, w.event(events.FlagChanged(flag=events.Flag.FULL_COURSE_YELLOW), 250_000)),
        (320_000, 0, w.event(events.FlagChanged(flag=events.Flag.GREEN), 320_000)),
        (320_000, 0, w.event(events.DriverChanged(number="1", driver="A. Two"), 320_000)),
        (340_000, 0, w.event(events.PitOut(number="1"), 340_000)),
        (603_500, 2, w.event(events.SessionFinished(), 603_500)),
    ]
    timed.sort(key=lambda item: (item[0], item[1]))
    return log + [event for *_, event in timed]


def qualifying_laps(w: SessionWriter) -> list[events.Event]:
    """Three cars; car 2 goes fastest on its second lap, car 3 sets no valid time until its third."""
    log = [
        w.opened(kind=events.SessionKind.QUALIFYING),
        *[w.entry(n) for n in ("1", "2", "3")],
        w.event(events.SessionStarted()),
    ]
    laps = [
        ("1", 1, 100_000, 100_000),
        ("2", 1, 101_000, 101_000),
        ("3", 1, 110_000, 110_000),
        ("1", 2, 199_500, 99_500),
        ("2", 2, 200_000, 99_000),
        ("3", 2, 215_000, 105_000),
        ("3", 3, 313_000, 98_000),
    ]
    for number, lap, at, lap_ms in laps:
        log.append(w.lap(number, lap, at, lap_time_ms=lap_ms, counts_for_best=not (number == "3" and lap < 3)))
    return log
