"""Al Kamel imports of three official WEC lap charts against the results the series published.

The charts are read in place from ../shared/data (the tests skip without
them). Imported with the default ``wec`` preset, each race must end in the
classification the stewards signed: the classified set and order, laps, NC
and DNF, class and sub-class positions, and the fastest lap of each class.
The expected values below are written by hand from the published results,
not read from the charts:

- 2024 6 Hours of Fuji, 15 September 2024:
  https://en.wikipedia.org/wiki/2024_6_Hours_of_Fuji (race results), checked against
  https://www.motorsport-magazin.com/wec-langstrecken-wm/news-290527-wec-fuji-2024-rennergebnis-und-wm-tabelle-porsche-sackt-vorzeitig-erste-titelgewinne-ein/
  (Alpine 3rd and 7th, Peugeot 4th and 8th, best Ferrari 9th, then Toyota) and
  https://wec-magazin.com/hard-fought-win-for-porsche-at-chaotic-6-hours-of-fuji/ (won by 16 seconds after 213
  laps; #7 and #5 retired).
- 2025 6 Hours of Spa-Francorchamps, 10 May 2025:
  https://en.wikipedia.org/wiki/2025_6_Hours_of_Spa-Francorchamps, checked against
  https://www.intensemans.fr/alessio-rovera-livre-la-victoire-ferrari-lmgt3-au-wec-6h-spa/ (LMGT3 top ten) and
  https://revnrumble.com/wec-2025-6-hours-of-spa-race-results (Ferrari 1-2, Alpine 3rd, Toyota 4th, Cadillac 5th
  and 6th).
- 2025 24 Hours of Le Mans, 14-15 June 2025:
  https://en.wikipedia.org/wiki/2025_24_Hours_of_Le_Mans, checked against
  https://www.sarthe.fr/sarthe-sportive/24-heures-du-Mans/revivre-les-24-heures-du-mans/24-heures-le-mans-edition-2025
  (#83 wins after 387 laps, #50 fourth across the line then disqualified, #12 fourth),
  https://fervogear.com/2025/06/17/news/f1/cadillac-le-mans-pole/ (#38 seventh; the race's fastest lap 3:26.063 by
  the #38), https://racingnewsworldwide.com/news/af-corse-conquers-2025-le-mans (won by 14.084 s).

Post-race decisions are not in a chart: the one that changed a result here (Le Mans, #50 Ferrari disqualified for
its rear wing) is published in the test as race control would (``penalty_issued``, disqualification).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path

import msgspec
import pytest

from schemas.events import (
    Event,
    PenaltyIssued,
    PenaltyKind,
    SessionLength,
    SessionRef,
)
from schemas.results import CarState, Classification, Gap, ResultStatus, SessionPhase
from services.classification.fold import fold_log
from services.classification.hourly import hourly
from services.classification.presets import preset_rules
from services.feeds.alkamel.options import AlKamelOptions
from services.feeds.alkamel.parser import AnalysisChart, car_number, parse_analysis, read_analysis
from tests.factory import assert_wire_and_fold, classify
from tests.recordings import recording

SESSION = SessionRef(championship="wec", event="real", session="race")
HOUR = 3_600_000


@dataclass(frozen=True)
class Chart:
    day: date
    time_zone: str
    hours: int
    cars: int
    flagged: int
    result: str
    """The published classification, one car a line: position (or DNF, DSQ), number, class, sub-class (or -),
    class position and sub-class position (or -), laps."""
    fastest: tuple[tuple[str, str | None, str, int], ...]
    """The fastest lap of each class and sub-class: class, sub-class, car, lap time in ms."""
    winner_by_ms: int
    decisions: tuple[PenaltyIssued, ...] = ()


FUJI_2024 = """
1 6 HYPERCAR - 1 - 213
2 15 HYPERCAR - 2 - 213
3 36 HYPERCAR - 3 - 213
4 93 HYPERCAR - 4 - 213
5 12 HYPERCAR - 5 - 213
6 38 HYPERCAR - 6 - 213
7 35 HYPERCAR - 7 - 213
8 94 HYPERCAR - 8 - 213
9 50 HYPERCAR - 9 - 213
10 8 HYPERCAR - 10 - 213
11 99 HYPERCAR - 11 - 212
12 83 HYPERCAR - 12 - 211
13 54 LMGT3 - 1 - 194
14 92 LMGT3 - 2 - 194
15 46 LMGT3 - 3 - 194
16 81 LMGT3 - 4 - 194
17 85 LMGT3 - 5 - 194
18 55 LMGT3 - 6 - 194
19 777 LMGT3 - 7 - 194
20 59 LMGT3 - 8 - 194
21 27 LMGT3 - 9 - 194
22 31 LMGT3 - 10 - 194
23 78 LMGT3 - 11 - 194
24 87 LMGT3 - 12 - 194
25 60 LMGT3 - 13 - 193
26 91 LMGT3 - 14 - 193
27 77 LMGT3 - 15 - 193
28 88 LMGT3 - 16 - 192
29 95 LMGT3 - 17 - 191
DNF 20 HYPERCAR - - - 202
DNF 2 HYPERCAR - - - 193
DNF 51 HYPERCAR - - - 168
DNF 82 LMGT3 - - - 164
DNF 7 HYPERCAR - - - 163
DNF 5 HYPERCAR - - - 163
DNF 63 HYPERCAR - - - 146
"""

SPA_2025 = """
1 51 HYPERCAR - 1 - 150
2 50 HYPERCAR - 2 - 150
3 36 HYPERCAR - 3 - 150
4 8 HYPERCAR - 4 - 150
5 12 HYPERCAR - 5 - 150
6 38 HYPERCAR - 6 - 150
7 7 HYPERCAR - 7 - 150
8 35 HYPERCAR - 8 - 150
9 6 HYPERCAR - 9 - 150
10 15 HYPERCAR - 10 - 150
11 93 HYPERCAR - 11 - 150
12 5 HYPERCAR - 12 - 150
13 007 HYPERCAR - 13 - 150
14 009 HYPERCAR - 14 - 149
15 21 LMGT3 - 1 - 137
16 88 LMGT3 - 2 - 137
17 54 LMGT3 - 3 - 137
18 77 LMGT3 - 4 - 137
19 27 LMGT3 - 5 - 136
20 10 LMGT3 - 6 - 136
21 92 LMGT3 - 7 - 136
22 78 LMGT3 - 8 - 136
23 46 LMGT3 - 9 - 136
24 85 LMGT3 - 10 - 136
25 61 LMGT3 - 11 - 136
26 60 LMGT3 - 12 - 136
27 33 LMGT3 - 13 - 136
28 81 LMGT3 - 14 - 136
29 59 LMGT3 - 15 - 133
30 83 HYPERCAR - 15 - 111
DNF 20 HYPERCAR - - - 132
DNF 94 HYPERCAR - - - 99
DNF 95 LMGT3 - - - 68
DNF 87 LMGT3 - - - 29
DNF 31 LMGT3 - - - 29
DNF 99 HYPERCAR - - - 22
"""

LE_MANS_2025 = """
1 83 HYPERCAR - 1 - 387
2 6 HYPERCAR - 2 - 387
3 51 HYPERCAR - 3 - 387
4 12 HYPERCAR - 4 - 387
5 7 HYPERCAR - 5 - 386
6 5 HYPERCAR - 6 - 386
7 38 HYPERCAR - 7 - 386
8 4 HYPERCAR - 8 - 386
9 35 HYPERCAR - 9 - 385
10 36 HYPERCAR - 10 - 384
11 94 HYPERCAR - 11 - 384
12 009 HYPERCAR - 12 - 383
13 99 HYPERCAR - 13 - 383
14 007 HYPERCAR - 14 - 381
15 8 HYPERCAR - 15 - 380
16 93 HYPERCAR - 16 - 379
17 20 HYPERCAR - 17 - 375
18 43 LMP2 - 1 - 367
19 48 LMP2 - 2 - 367
20 199 LMP2 Pro/Am 3 1 366
21 9 LMP2 - 4 - 365
22 29 LMP2 Pro/Am 5 2 365
23 11 LMP2 Pro/Am 6 3 365
24 22 LMP2 - 7 - 364
25 25 LMP2 - 8 - 364
26 183 LMP2 Pro/Am 9 4 364
27 34 LMP2 Pro/Am 10 5 363
28 23 LMP2 Pro/Am 11 6 363
29 16 LMP2 Pro/Am 12 7 362
30 45 LMP2 Pro/Am 13 8 362
31 15 HYPERCAR - 18 - 361
32 37 LMP2 - 14 - 358
33 92 LMGT3 - 1 - 341
34 21 LMGT3 - 2 - 341
35 81 LMGT3 - 3 - 341
36 27 LMGT3 - 4 - 341
37 87 LMGT3 - 5 - 340
38 90 LMGT3 - 6 - 340
39 33 LMGT3 - 7 - 339
40 57 LMGT3 - 8 - 339
41 77 LMGT3 - 9 - 338
42 13 LMGT3 - 10 - 338
43 150 LMGT3 - 11 - 338
44 61 LMGT3 - 12 - 337
45 10 LMGT3 - 13 - 336
46 193 LMGT3 - 14 - 335
47 63 LMGT3 - 15 - 334
48 85 LMGT3 - 16 - 334
DNF 59 LMGT3 - - - 314
DNF 28 LMP2 - - - 308
DNF 78 LMGT3 - - - 268
DNF 311 HYPERCAR - - - 247
DNF 18 LMP2 - - - 206
DNF 54 LMGT3 - - - 192
DNF 101 HYPERCAR - - - 189
DNF 24 LMP2 Pro/Am - - 170
DNF 31 LMGT3 - - - 168
DNF 46 LMGT3 - - - 156
DNF 95 LMGT3 - - - 80
DNF 60 LMGT3 - - - 57
DNF 88 LMGT3 - - - 46
DSQ 50 HYPERCAR - - - 387
"""

DSQ_50 = PenaltyIssued(
    number="50",
    decision="LM2025-50-DSQ",
    kind=PenaltyKind.DISQUALIFICATION,
    reason="rear wing not in conformity with the technical regulations (post-race scrutineering)",
)

CHARTS = {
    "wec-2024-fuji-6h.csv": Chart(
        date(2024, 9, 15), "Asia/Tokyo", 6, cars=36, flagged=29, result=FUJI_2024,
        fastest=(("HYPERCAR", None, "35", 90_943), ("LMGT3", None, "27", 100_987)),
        winner_by_ms=16_601,
    ),
    "wec-2025-spa-6h.csv": Chart(
        date(2025, 5, 10), "Europe/Brussels", 6, cars=36, flagged=30, result=SPA_2025,
        fastest=(("HYPERCAR", None, "51", 123_799), ("LMGT3", None, "21", 138_721)),
        winner_by_ms=4_229,
    ),
    "wec-2025-le-mans-24h.csv": Chart(
        date(2025, 6, 14), "Europe/Paris", 24, cars=62, flagged=49, result=LE_MANS_2025,
        fastest=(
            ("HYPERCAR", None, "38", 206_063),
            ("LMGT3", None, "27", 235_456),
            ("LMP2", None, "29", 216_267),
            ("LMP2", "Pro/Am", "29", 216_267),
        ),
        winner_by_ms=14_084,
        decisions=(DSQ_50,),
    ),
}  # fmt: skip


def chart_path(name: str) -> Path:
    return recording("alkamel", name)


@cache
def chart(name: str) -> AnalysisChart:
    return read_analysis(chart_path(name))


@cache
def events(name: str) -> tuple[Event, ...]:
    spec = CHARTS[name]
    return tuple(
        parse_analysis(
            chart_path(name),
            SESSION,
            AlKamelOptions(
                name=f"{spec.hours} Hours",
                day=spec.day,
                time_zone=spec.time_zone,
                length=SessionLength(time_ms=spec.hours * HOUR),
            ),
        )
    )


def with_decisions(name: str) -> list[Event]:
    """The chart's events, then the stewards' decisions published an hour after the last of them."""
    imported = list(events(name))
    after = imported[-1].at + HOUR
    return imported + [
        Event(id=f"rc-{i}", session=SESSION, producer="race-control", at=after, body=decision)
        for i, decision in enumerate(CHARTS[name].decisions)
    ]


@cache
def classification(name: str) -> Classification:
    return classify(with_decisions(name))


STATUS = {"DNF": ResultStatus.DID_NOT_FINISH, "NC": ResultStatus.NOT_CLASSIFIED, "DSQ": ResultStatus.DISQUALIFIED}


Row = tuple[str, str, str, str | None, int | None, int | None, int, ResultStatus]


def published(name: str) -> list[Row]:
    rows = []
    for line in CHARTS[name].result.strip().splitlines():
        position, number, class_name, sub_class, class_position, sub_position, laps = line.split()
        classified = position.isdigit()
        rows.append(
            (
                position,
                number,
                class_name,
                None if sub_class == "-" else sub_class,
                int(class_position) if classified else None,
                int(sub_position) if classified and sub_position != "-" else None,
                int(laps),
                ResultStatus.CLASSIFIED if classified else STATUS[position],
            )
        )
    return rows


@pytest.mark.parametrize("name", sorted(CHARTS))
def test_every_row_is_read_and_every_event_is_valid(name: str) -> None:
    read = chart(name)
    assert read.skipped == []
    lines = chart_path(name).read_bytes().count(b"\n")
    assert len(read.rows) == lines - 1
    assert_wire_and_fold(events(name))


@pytest.mark.parametrize("name", sorted(CHARTS))
def test_the_classification_the_stewards_signed(name: str) -> None:
    """Order, laps, statuses (classified, DNF, DSQ), class and sub-class positions, as published."""
    result = classification(name)
    got: list[Row] = []
    for car in result.cars:
        classified = car.status is ResultStatus.CLASSIFIED
        got.append(
            (
                str(car.position) if classified else {v: k for k, v in STATUS.items()}[car.status],
                car.number,
                car.class_name,
                car.sub_class,
                car.class_position if classified else None,
                car.sub_class_position if classified else None,
                car.laps,
                car.status,
            )
        )
    assert got == published(name)
    assert len(result.cars) == CHARTS[name].cars
    assert result.cars[1].gap == Gap(ms=CHARTS[name].winner_by_ms)


@pytest.mark.parametrize("name", sorted(CHARTS))
def test_every_car_that_stopped_without_the_flag_shows_dnf_and_the_session_is_finished(name: str) -> None:
    result = classification(name)
    assert result.phase is SessionPhase.FINISHED
    flagged = {car_number(row.number) for row in chart(name).rows if row.flag == "FF"}
    for car in result.cars:
        if car.number not in flagged:
            assert (car.status, car.state) == (ResultStatus.DID_NOT_FINISH, CarState.RETIRED), car.number
        else:
            assert car.state is CarState.FINISHED, car.number


@pytest.mark.parametrize("name", sorted(CHARTS))
def test_the_fastest_lap_of_each_class_and_sub_class_is_the_announced_one(name: str) -> None:
    result = classification(name)
    got: list[tuple[str, str | None, str, int]] = [
        (r.class_name, None, r.number, r.ms) for r in result.class_fastest_laps
    ]
    got += [(r.class_name, r.sub_class, r.number, r.ms) for r in result.sub_class_fastest_laps]
    assert sorted(got, key=str) == sorted(CHARTS[name].fastest, key=str)
    overall = min(CHARTS[name].fastest, key=lambda f: f[3])
    assert result.fastest_lap is not None and (result.fastest_lap.number, result.fastest_lap.ms) == overall[2:]


def test_the_rules_preset_re_folds_the_same_chart_to_a_different_documented_result() -> None:
    """The 2024 6 Hours of Fuji under the ``club`` preset (70 %, flag or not, a retired car that covered the
    distance classified), as the README documents: every car that stopped with 70 % of the winner's 213 laps
    (150) is classified by its laps, the #20 BMW 13th with 202 laps, ahead of the LMGT3 cars; only the #63
    Lamborghini (146 laps) stays DNF. Under ``wec`` (the flag is required) all seven are DNF."""
    name = "wec-2024-fuji-6h.csv"
    club = [
        msgspec.structs.replace(e, body=msgspec.structs.replace(e.body, rules=preset_rules("club")))
        if e.body.__class__.__name__ == "SessionOpened"
        else e
        for e in events(name)
    ]
    result = fold_log(enumerate(club, 1)).sessions[SESSION.key].classification()
    statuses = {car.number: car.status for car in result.cars}
    assert [n for n, s in statuses.items() if s is not ResultStatus.CLASSIFIED] == ["63"]
    assert [(c.position, c.number, c.class_position, c.laps) for c in result.cars[11:14]] == [
        (12, "83", 12, 211),
        (13, "20", 13, 202),
        (14, "54", 1, 194),
    ]
    wec = classification(name)
    assert sum(car.status is ResultStatus.DID_NOT_FINISH for car in wec.cars) == 7


def test_le_mans_hour_by_hour() -> None:
    """The 2025 24 Hours at every full hour: 24 classifications; after the first hour the #5 Porsche of Julien
    Andlauer led (https://sappertask.com/blogs/5380/Ferrari-wins-the-2025-24-Hours-of-Le-Mans); at 24 hours, before
    the leader's last lap, the #83 led."""
    name = "wec-2025-le-mans-24h.csv"
    result = hourly(list(enumerate(events(name), 1)), SESSION)
    assert result is not None and [h.hour for h in result.hours] == list(range(1, 25))
    assert result.hours[0].cars[0].number == "5"
    assert (result.hours[-1].cars[0].number, result.hours[-1].cars[0].laps) == ("83", 386)


@pytest.mark.parametrize("name", sorted(CHARTS))
def test_the_cars_that_took_the_flag_are_the_ff_rows(name: str) -> None:
    flagged = {car_number(row.number) for row in chart(name).rows if row.flag == "FF"}
    assert len(flagged) == CHARTS[name].flagged
    finished = {car.number for car in classification(name).cars if car.state is CarState.FINISHED}
    assert finished == flagged
    assert {car.number for car in classification(name).cars if car.took_flag} == flagged


@pytest.mark.parametrize("name", sorted(CHARTS))
def test_reading_a_chart_twice_gives_the_same_ids(name: str) -> None:
    spec = CHARTS[name]
    again = parse_analysis(chart_path(name), SESSION, AlKamelOptions(day=spec.day, time_zone=spec.time_zone))
    assert [e.id for e in again] == [e.id for e in events(name)]


@pytest.mark.parametrize("name", sorted(CHARTS))
def test_pit_stops_driver_changes_and_flags(name: str) -> None:
    rows = chart(name).rows
    kinds: dict[str, int] = {}
    for event in events(name):
        kinds[type(event.body).__name__] = kinds.get(type(event.body).__name__, 0) + 1
    assert kinds["PitIn"] == sum(row.in_pit for row in rows)
    assert kinds["PitOut"] == sum(row.pit_ms is not None and row.lap > 1 for row in rows)
    assert kinds["LapCompleted"] == len(rows)
    assert kinds["SessionFinished"] == 1
    assert kinds["DriverChanged"] > 0
    assert kinds["FlagChanged"] >= 2
    stops = {car.number: car.pit_stops for car in classification(name).cars}
    assert sum(stops.values()) == kinds["PitIn"]
