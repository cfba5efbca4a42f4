"""The PDFs a series publishes after a session, from its classification and analysis read models.

Each function returns one document's bytes. Times of day are the circuit's
local time; race times are from the green flag. What each document holds is
what an official timekeeper's of the same name holds: the classification
(overall, then by class; decisions applied with their document numbers), best
sector times, the fastest-lap sequence, the pit-stop summary, the
driving-time report, the lap chart, and the classification at every hour.
"""

from __future__ import annotations

from collections.abc import Sequence

from schemas.analysis import CarAnalysis, DriveVerdict, SessionAnalysis
from schemas.events import PenaltyKind, SessionKind
from schemas.results import (
    AppliedDecision,
    Classification,
    ClassifiedCar,
    DecisionState,
    Gap,
    HourlyClassification,
    LapRef,
)
from services.classification.labels import STATUS_WORDS
from services.classification.timefmt import format_gap, format_laptime
from services.documents.pdf import Column, Heading, Sheet
from services.documents.times import elapsed, race_time, seconds

VERDICTS = {DriveVerdict.SHORT: "BELOW MINIMUM", DriveVerdict.OVER: "ABOVE MAXIMUM", DriveVerdict.OK: "ok"}


def heading(classification: Classification, track: str | None, time_zone: str) -> Heading:
    return Heading(
        session=classification.name,
        key=classification.session.key,
        track=track,
        status=classification.results,
        last_seq=classification.last_seq,
        as_of=classification.as_of,
        time_zone=time_zone,
    )


def _position(car: ClassifiedCar, position: int) -> str:
    return STATUS_WORDS.get(car.status, str(position))


def _drivers(analysis: CarAnalysis | None, car: ClassifiedCar) -> str:
    if analysis is None:
        return car.driver or ""
    return " / ".join(time.driver for time in analysis.drive_times)


def _decision_effect(decision: AppliedDecision) -> str:
    if decision.kind is None:
        return f"lap {decision.lap} deleted"
    effect = {
        PenaltyKind.LAP_DEDUCTION: f"{decision.laps} lap(s) deducted",
        PenaltyKind.POSITION_DROP: f"{decision.positions} position(s) dropped",
        PenaltyKind.DISQUALIFICATION: "disqualified",
        PenaltyKind.EXCLUSION: "excluded",
    }.get(decision.kind)
    if effect is not None:
        return effect
    label = decision.kind.value.replace("_", "-")
    if decision.state is DecisionState.SERVED:
        return f"{label}, served"
    if decision.state is DecisionState.PENDING:
        return f"{label}, to serve"
    return f"+{seconds(decision.time_ms)} s" + (
        f" ({label} not served)" if decision.kind is not PenaltyKind.TIME else ""
    )


def _time(car: ClassifiedCar, race: bool) -> str:
    if race:
        if car.total_time_ms is None:
            return ""
        return race_time(car.total_time_ms) + ("*" if car.penalty_time_ms else "")
    return format_laptime(car.qualifying_ms)


CLASSIFICATION_COLUMNS = (
    Column("Pos", 9, "R"),
    Column("No", 9, "R"),
    Column("Class", 17),
    Column("PIC", 8, "R"),
    Column("Team", 42),
    Column("Drivers", 58),
    Column("Car", 30),
    Column("Laps", 9, "R"),
    Column("Time", 21, "R"),
    Column("Gap", 18, "R"),
    Column("Interval", 17, "R"),
    Column("Best", 15, "R"),
    Column("on", 8, "R"),
    Column("Pit", 7, "R"),
)


def _scoped(car: ClassifiedCar, scope: str) -> tuple[int, Gap | None, Gap | None]:
    """Position, gap and interval overall, in the car's class, or in its sub-class."""
    if scope == "sub_class" and car.sub_class_position is not None:
        return car.sub_class_position, car.sub_class_gap, car.sub_class_interval
    if scope == "class":
        return car.class_position, car.class_gap, car.class_interval
    return car.position, car.gap, car.interval


def _classification_rows(
    cars: Sequence[ClassifiedCar], analyses: dict[str, CarAnalysis], race: bool, scope: str
) -> list[list[str]]:
    rows = []
    for car in cars:
        position, gap, interval = _scoped(car, scope)
        rows.append(
            [
                _position(car, position),
                car.number,
                car.class_name,
                str(car.class_position),
                car.team,
                _drivers(analyses.get(car.number), car),
                car.car,
                str(car.laps),
                _time(car, race),
                format_gap(gap),
                format_gap(interval),
                format_laptime(car.best_lap_ms),
                str(car.best_lap or ""),
                str(car.pit_stops),
            ]
        )
    return rows


def _fastest_line(ref: LapRef, driver: str | None) -> str:
    return f"#{ref.number} ({ref.class_name}) {driver or ''} {format_laptime(ref.ms)} on lap {ref.lap}"


def _lap_driver(analyses: dict[str, CarAnalysis], ref: LapRef) -> str | None:
    car = analyses.get(ref.number)
    line = next((line for line in car.laps if line.lap == ref.lap), None) if car is not None else None
    return line.driver if line is not None else None


def classification_pdf(head: Heading, classification: Classification, analysis: SessionAnalysis) -> bytes:
    """Overall, then each class (and each sub-class in it); fastest laps; every decision applied, with its
    document number."""
    race = classification.kind is SessionKind.RACE
    analyses = {car.number: car for car in analysis.cars}
    sheet = Sheet(head, "Classification", landscape=True)
    sheet.tabulate(CLASSIFICATION_COLUMNS, _classification_rows(classification.cars, analyses, race, "overall"))
    if race and any(car.penalty_time_ms for car in classification.cars):
        sheet.note("* time includes time penalties (see the decisions below)")
    if classification.fastest_lap is not None:
        fastest = classification.fastest_lap
        sheet.note("Fastest lap: " + _fastest_line(fastest, _lap_driver(analyses, fastest)))
    classes = sorted({car.class_name for car in classification.cars})
    for class_name in classes:
        cars = [car for car in classification.cars if car.class_name == class_name]
        sheet.section(f"Class {class_name}")
        sheet.tabulate(CLASSIFICATION_COLUMNS, _classification_rows(cars, analyses, race, "class"))
        ref = next((r for r in classification.class_fastest_laps if r.class_name == class_name), None)
        if ref is not None:
            sheet.note("Fastest lap in class: " + _fastest_line(ref, _lap_driver(analyses, ref)))
        for sub_class in sorted({car.sub_class for car in cars if car.sub_class is not None}):
            sheet.section(f"Class {class_name}, {sub_class}")
            in_sub_class = [car for car in cars if car.sub_class == sub_class]
            sheet.tabulate(CLASSIFICATION_COLUMNS, _classification_rows(in_sub_class, analyses, race, "sub_class"))
    decisions = [(car.number, d) for car in classification.cars for d in car.decisions]
    sheet.section("Decisions applied")
    if not decisions:
        sheet.note("None.")
    else:
        sheet.tabulate(
            (Column("Document", 30), Column("No", 10, "R"), Column("Decision", 60), Column("Reason", 177)),
            [[d.decision, number, _decision_effect(d), d.reason] for number, d in sorted(decisions, key=_by_document)],
        )
    return sheet.render()


def _by_document(item: tuple[str, AppliedDecision]) -> str:
    return item[1].decision


def best_sectors_pdf(head: Heading, analysis: SessionAnalysis) -> bytes:
    """Each sector: every car's best time in it, fastest first; and the ideal lap (the sum of a car's bests)."""
    sheet = Sheet(head, "Best sector times")
    sectors = max((len(car.best_sectors) for car in analysis.cars), default=0)
    columns = (
        Column("Pos", 9, "R"),
        Column("No", 10, "R"),
        Column("Class", 22),
        Column("Team", 52),
        Column("Driver", 46),
        Column("Time", 18, "R"),
        Column("Lap", 10, "R"),
        Column("Gap", 18, "R"),
    )
    for sector in range(sectors):
        times = [
            (time.ms, i, car, time)
            for i, car in enumerate(analysis.cars)
            if sector < len(car.best_sectors) and (time := car.best_sectors[sector]) is not None
        ]
        times.sort(key=lambda t: t[:2])
        sheet.section(f"Sector {sector + 1}")
        best = times[0][0] if times else 0
        sheet.tabulate(
            columns,
            [
                [
                    str(p),
                    car.number,
                    car.class_name,
                    car.team,
                    t.driver or "",
                    seconds(t.ms),
                    str(t.lap),
                    _plus(t.ms - best),
                ]
                for p, (_, _, car, t) in enumerate(times, start=1)
            ],
        )
    ideal = [
        (sum(t.ms for t in car.best_sectors if t is not None), i, car)
        for i, car in enumerate(analysis.cars)
        if car.best_sectors and None not in car.best_sectors
    ]
    if ideal:
        ideal.sort(key=lambda t: t[:2])
        sheet.section("Ideal lap (the sum of a car's best sectors)")
        sheet.tabulate(
            (
                Column("Pos", 9, "R"),
                Column("No", 10, "R"),
                Column("Class", 22),
                Column("Team", 62),
                Column("Ideal", 20, "R"),
            ),
            [
                [str(p), car.number, car.class_name, car.team, format_laptime(ms)]
                for p, (ms, _, car) in enumerate(ideal, 1)
            ],
        )
    return sheet.render()


def _plus(ms: int) -> str:
    return f"+{seconds(ms)}" if ms else ""


def fastest_laps_pdf(head: Heading, analysis: SessionAnalysis) -> bytes:
    """Who held the fastest lap when: overall, then each class."""
    sheet = Sheet(head, "Fastest lap sequence")
    start = analysis.started_at
    columns = (
        Column("Time of day", 24),
        Column("Race time", 22, "R"),
        Column("No", 10, "R"),
        Column("Class", 22),
        Column("Driver", 52),
        Column("Lap", 10, "R"),
        Column("Lap time", 20, "R"),
        Column("Gain", 18, "R"),
    )

    def rows(changes: Sequence[tuple[int, str, str, str | None, int, int]]) -> list[list[str]]:
        out, previous = [], None
        for at, number, class_name, driver, lap, ms in changes:
            out.append(
                [
                    head.local(at, "%H:%M:%S"),
                    elapsed(at - start) if start is not None else "",
                    number,
                    class_name,
                    driver or "",
                    str(lap),
                    format_laptime(ms),
                    f"-{seconds(previous - ms)}" if previous is not None else "",
                ]
            )
            previous = ms
        return out

    def facts(overall_only: bool, class_name: str | None) -> list[tuple[int, str, str, str | None, int, int]]:
        return [
            (c.at, c.number, c.class_name, c.driver, c.lap, c.ms)
            for c in analysis.fastest_laps
            if (c.overall or not overall_only) and (class_name is None or c.class_name == class_name)
        ]

    sheet.section("Overall")
    sheet.tabulate(columns, rows(facts(True, None)))
    for class_name in sorted({c.class_name for c in analysis.fastest_laps}):
        sheet.section(f"Class {class_name}")
        sheet.tabulate(columns, rows(facts(False, class_name)))
    return sheet.render()


def pit_stops_pdf(head: Heading, analysis: SessionAnalysis) -> bytes:
    """Every stop of every car: in-lap, pit in and out (race time), time in the pit lane, drivers; per car the
    total."""
    sheet = Sheet(head, "Pit stop summary", landscape=True)
    start = analysis.started_at or 0
    columns = (
        Column("No", 10, "R"),
        Column("Class", 18),
        Column("Team", 48),
        Column("Stop", 10, "R"),
        Column("In-lap", 12, "R"),
        Column("Pit in", 22, "R"),
        Column("Pit out", 22, "R"),
        Column("Pit lane", 20, "R"),
        Column("Driver in", 45),
        Column("Driver out", 45),
        Column("Total", 25, "R"),
    )
    rows: list[list[str]] = []
    totals: set[int] = set()
    for car in analysis.cars:
        for n, stop in enumerate(car.stops, start=1):
            rows.append(
                [
                    car.number,
                    car.class_name,
                    car.team,
                    str(n),
                    str(stop.lap),
                    elapsed(stop.pit_in - start),
                    elapsed(stop.pit_out - start) if stop.pit_out is not None else "in the pit lane",
                    seconds(stop.lane_ms) if stop.lane_ms is not None else "",
                    stop.driver_in or "",
                    "" if stop.driver_out in (None, stop.driver_in) else stop.driver_out or "",
                    "",
                ]
            )
        if car.stops:
            totals.add(len(rows))
            rows.append(
                [
                    "",
                    "",
                    "",
                    "",
                    "",
                    "",
                    "",
                    "",
                    "",
                    f"#{car.number}: {len(car.stops)} stop(s)",
                    elapsed(car.pit_time_ms),
                ]
            )
    if rows:
        sheet.tabulate(columns, rows, bold=totals)
    else:
        sheet.note("No pit stops.")
    return sheet.render()


def driving_time_pdf(head: Heading, analysis: SessionAnalysis) -> bytes:
    """Each car's drivers: time at the wheel, share, laps and stints, against the rules' minimum and maximum."""
    sheet = Sheet(head, "Driving time report")
    limits = [
        f"minimum {race_time(analysis.min_drive_ms)}" if analysis.min_drive_ms else "",
        f"maximum {race_time(analysis.max_drive_ms)}" if analysis.max_drive_ms else "",
    ]
    stated = " and ".join(limit for limit in limits if limit)
    sheet.note(f"Per driver: {stated}." if stated else "The session's rules set no minimum or maximum drive time.")
    columns = (
        Column("No", 10, "R"),
        Column("Class", 20),
        Column("Driver", 52),
        Column("Category", 18),
        Column("Stints", 12, "R"),
        Column("Laps", 12, "R"),
        Column("Time", 24, "R"),
        Column("Share", 14, "R"),
        Column("Verdict", 28),
    )
    rows: list[list[str]] = []
    flagged: set[int] = set()
    for car in analysis.cars:
        total = sum(time.ms for time in car.drive_times) or 1
        for time in car.drive_times:
            if time.verdict in (DriveVerdict.SHORT, DriveVerdict.OVER):
                flagged.add(len(rows))
            rows.append(
                [
                    car.number,
                    car.class_name,
                    time.driver,
                    time.category.value,
                    str(time.stints),
                    str(time.laps),
                    race_time(time.ms),
                    f"{time.ms * 100 // total} %",
                    VERDICTS.get(time.verdict, ""),
                ]
            )
    sheet.tabulate(columns, rows, bold=flagged)
    return sheet.render()


LAP_CHART_ROWS = 44
"""Laps per page of the lap chart."""


def lap_chart_pdf(head: Heading, analysis: SessionAnalysis) -> bytes:
    """Each lap, the cars in the order they completed it (a car missing from a lap had stopped)."""
    sheet = Sheet(head, "Lap chart", landscape=True)
    order: dict[int, list[tuple[int, str]]] = {}
    for car in analysis.cars:
        for line in car.laps:
            order.setdefault(line.lap, []).append((line.position, car.number))
    width = max((len(cars) for cars in order.values()), default=1)
    cell = min(12.0, (sheet.epw - 12) / width)
    columns = (Column("Lap", 12, "R"), *(Column(str(p), cell, "C") for p in range(1, width + 1)))
    rows = [
        [str(lap), *(n for _, n in sorted(cars)), *[""] * (width - len(cars))] for lap, cars in sorted(order.items())
    ]
    sheet.tabulate(columns, rows, size=5.5, padding=0.2)
    return sheet.render()


def hourly_pdf(head: Heading, hourly: HourlyClassification) -> bytes:
    """The classification at every full hour: position, class position, laps, gap, pit stops."""
    sheet = Sheet(head, "Hourly classification")
    columns = (
        Column("Pos", 9, "R"),
        Column("No", 10, "R"),
        Column("Class", 20),
        Column("PIC", 9, "R"),
        Column("Team", 50),
        Column("Driver", 40),
        Column("Laps", 11, "R"),
        Column("Gap", 22, "R"),
        Column("Pit", 9, "R"),
    )
    for hour in hourly.hours:
        sheet.section(f"After {hour.hour} hour{'s' if hour.hour > 1 else ''}")
        sheet.tabulate(
            columns,
            [
                [
                    STATUS_WORDS.get(car.status, str(car.position)),
                    car.number,
                    car.class_name,
                    str(car.class_position),
                    car.team,
                    car.driver or "",
                    str(car.laps),
                    format_gap(car.gap),
                    str(car.pit_stops),
                ]
                for car in hour.cars
            ],
        )
    if not hourly.hours:
        sheet.note("The race has not run a full hour.")
    return sheet.render()
