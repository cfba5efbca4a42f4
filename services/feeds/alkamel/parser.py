"""Al Kamel "analysis" CSV (the official WEC / ELMS / Le Mans lap chart) to chequered events.

The chart has one row per lap of every car, after the fact: it is not a live
feed, so this module reads a whole file and returns the whole session as
events, sorted by their ``at`` as a live producer would have sent them.

Reading (:func:`read_analysis`): ``;``-separated, an optional UTF-8 byte-order
mark, spaces around some header names, a trailing ``;`` (an empty last
column). Columns are found by name, so their order does not matter. Times are
``SS.sss``, ``M:SS.sss`` or ``H:MM:SS.sss``; ``ELAPSED`` may pass 24 hours
(``24:00:01.5`` or ``1:00:00:01.5``). A row that cannot be read is skipped and
reported in :attr:`AnalysisChart.skipped` with its line number.

Mapping (:func:`analysis_events`), for the session the caller names:

- the *start instant* is the session day (``day``) at the time of day
  ``HOUR - ELAPSED`` of the row with the smallest ``ELAPSED`` (modulo 24 h:
  ``HOUR`` wraps at midnight in 24-hour races), in ``time_zone``; every
  event's ``at`` is **start + ELAPSED** of its row, so ``HOUR``'s wrap never
  matters after that;
- ``SessionOpened`` with the caller's rules (default: the ``wec`` preset,
  whose classification is the one the series publishes), one
  ``EntryRegistered`` per car (class, ``GROUP`` as the sub-class, team,
  manufacturer, and a crew of the ``DRIVER_NAME`` seen in each
  ``DRIVER_NUMBER`` slot, by slot; the chart has no car model, so ``car`` is
  the manufacturer) and ``SessionStarted``, all at the start instant;
- a ``LapCompleted`` per row with lap time, sectors (when all three are
  present), driver and ``in_pit`` (``CROSSING_FINISH_LINE_IN_PIT == "B"``);
  a lap faster than the car's marked best (``LAP_IMPROVEMENT`` 2 or 3) was
  not counted by the timekeeper (deleted, typically for track limits): it has
  ``counts_for_best`` false, so it counts for distance, never as a best;
- ``PitIn`` at the in-lap's crossing; ``PitOut`` at the out-lap's start (the
  previous crossing) + its ``PIT_TIME``, kept before the out-lap ends;
- ``DriverChanged`` when ``DRIVER_NAME`` differs from the previous lap's, at
  the pit exit when the lap has a pit time, else just after the lap starts;
- ``FlagChanged`` at each crossing whose ``FLAG_AT_FL`` differs from the
  flag shown so far, in time order over all cars (``GF`` green, ``FCY`` full
  course yellow, ``SF`` safety car, ``RF`` red, ``YF`` yellow; others unknown);
- ``SessionFinished`` at the first ``FF`` crossing: the leader's; a race
  whose first rows show a flag other than green (``SF``: started behind the
  safety car) has that flag from the start instant;
- ``CarRetired`` (source ``chart``) at the last crossing of every car with no
  ``FF`` row, when the chart has any (a chart with none, a race ended under
  red or a live file, retires nobody).

``GROUP`` values are sub-classes (``P/A``: LMP2 Pro/Am) except ``H``, which
marks the hybrid Hypercars and is not classified apart.

Ids are derived from the chart (``<session tag>:lap-<number>-<lap>`` ..., see
:mod:`services.feeds.ids`), so reading a file twice gives the same ids.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from msgspec import Struct

from schemas import events
from services.classification.presets import preset_rules
from services.feeds.alkamel.options import AlKamelOptions
from services.feeds.common import FALLBACK_DAY, alnum, decode_text, local_epoch_ms, without_bom
from services.feeds.ids import event_id

DAY_MS = 86_400_000
FINISH_FLAG = "FF"
PIT_LANE_CROSSING = "B"
FLAGS = {
    "GF": events.Flag.GREEN,
    "FCY": events.Flag.FULL_COURSE_YELLOW,
    "SF": events.Flag.SAFETY_CAR,
    "SC": events.Flag.SAFETY_CAR,
    "RF": events.Flag.RED,
    "YF": events.Flag.YELLOW,
}
REQUIRED = ("NUMBER", "LAP_NUMBER", "ELAPSED")
MAX_CREW = 4
MARKED_BEST = (2, 3)
"""``LAP_IMPROVEMENT`` of the lap that counts as the car's best (3: also the session's fastest)."""
GROUPS = {"P/A": "Pro/Am", "H": None}
"""``GROUP`` values with a name of their own (``None``: not a sub-class); others are sub-classes as written."""

_TIME = re.compile(r"^\d+(?::\d+){0,3}(?:\.\d+)?$")


Getter = Callable[[str], str]
Emit = Callable[[str, int, events.EventBody], None]


class AnalysisError(ValueError):
    """A chart that cannot be read at all (no header, a required column missing)."""


class LapRow(Struct, frozen=True):
    """One row of the chart: one lap of one car."""

    line: int
    number: str
    lap: int
    elapsed_ms: int
    """Race time when the lap ended."""
    lap_ms: int | None
    driver_slot: int | None
    driver: str
    in_pit: bool
    """The lap ended in the pit lane (the in-lap)."""
    sectors_ms: tuple[int | None, ...]
    hour_ms: int | None
    """Time of day when the lap ended (wraps at midnight)."""
    pit_ms: int | None
    """On the out-lap: the time spent in the pit lane."""
    class_name: str
    team: str
    manufacturer: str
    flag: str
    lap_improvement: int = 0
    group: str = ""


class AnalysisChart(Struct, frozen=True):
    rows: list[LapRow]
    skipped: list[tuple[int, str]]
    """``(line number, reason)`` of every row that could not be read."""


# -- reading -----------------------------------------------------------------


def parse_time_ms(text: str) -> int | None:
    """``SS.sss``, ``M:SS.sss``, ``H:MM:SS.sss``, ``D:HH:MM:SS.sss`` (hours may exceed 24) to ms; blank -> None."""
    value = text.strip()
    if not value:
        return None
    if not _TIME.match(value):
        raise ValueError(f"{text!r} is not a time")
    clock, _, fraction = value.partition(".")
    parts = [int(p) for p in clock.split(":")]
    seconds = 0
    for unit, part in zip((1, 60, 3600, 86400), reversed(parts), strict=False):
        seconds += unit * part
    return seconds * 1000 + (int((fraction + "00")[:3]) if fraction else 0)


def _int(text: str) -> int | None:
    value = text.strip()
    return int(value) if value.lstrip("-").isdigit() else None


def read_analysis(source: str | Path | bytes) -> AnalysisChart:
    """Read a chart from a path, or from its bytes."""
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    reader = csv.reader(io.StringIO(decode_text(without_bom(data)[0])), delimiter=";")
    header = next(reader, None)
    if header is None:
        raise AnalysisError("empty analysis file")
    names = [name.strip().lstrip("\ufeff").upper() for name in header]
    missing = [name for name in REQUIRED if name not in names]
    if missing:
        raise AnalysisError(f"missing columns: {', '.join(missing)}")
    index = {name: i for i, name in enumerate(names) if name}
    rows: list[LapRow] = []
    skipped: list[tuple[int, str]] = []
    for line, values in enumerate(reader, start=2):
        if not any(value.strip() for value in values):
            continue

        def get(name: str, values: list[str] = values) -> str:
            i = index.get(name)
            return values[i].strip() if i is not None and i < len(values) else ""

        try:
            rows.append(_row(line, get))
        except ValueError as error:
            skipped.append((line, str(error)))
    return AnalysisChart(rows=rows, skipped=skipped)


def _row(line: int, get: Getter) -> LapRow:
    number = get("NUMBER")
    lap = _int(get("LAP_NUMBER"))
    elapsed = parse_time_ms(get("ELAPSED"))
    if not number:
        raise ValueError("no car number")
    if lap is None or lap < 1:
        raise ValueError(f"lap number {get('LAP_NUMBER')!r}")
    if elapsed is None:
        raise ValueError("no elapsed time")
    return LapRow(
        line=line,
        number=number,
        lap=lap,
        elapsed_ms=elapsed,
        lap_ms=parse_time_ms(get("LAP_TIME")),
        driver_slot=_int(get("DRIVER_NUMBER")),
        driver=get("DRIVER_NAME"),
        in_pit=get("CROSSING_FINISH_LINE_IN_PIT").upper() == PIT_LANE_CROSSING,
        sectors_ms=tuple(parse_time_ms(get(f"S{i}")) for i in (1, 2, 3)),
        hour_ms=parse_time_ms(get("HOUR")),
        pit_ms=parse_time_ms(get("PIT_TIME")),
        class_name=get("CLASS"),
        team=get("TEAM"),
        manufacturer=get("MANUFACTURER"),
        flag=get("FLAG_AT_FL").upper(),
        lap_improvement=_int(get("LAP_IMPROVEMENT")) or 0,
        group=get("GROUP"),
    )


# -- mapping -----------------------------------------------------------------

_RANK = {
    events.SessionOpened: 0,
    events.EntryRegistered: 1,
    events.SessionStarted: 2,
    events.FlagChanged: 3,
    events.PitOut: 4,
    events.DriverChanged: 5,
    events.LapCompleted: 6,
    events.PitIn: 7,
    events.SessionFinished: 8,
    events.CarRetired: 9,
}
"""Order of events at the same instant: a driver change after the pit exit it belongs to, the pit entry after
the in-lap that ends in the pit lane, the chequered flag after the leader's lap, a retirement last."""


def car_number(raw: str) -> str:
    """The chart's number as a chequered car number (``[A-Za-z0-9]{1,8}``; ``"007"`` stays ``"007"``)."""
    cleaned = alnum(raw)
    if not cleaned:
        raise ValueError(f"car number {raw!r} has no letters or digits")
    return cleaned


def start_time_of_day(rows: Iterable[LapRow]) -> int | None:
    """``HOUR - ELAPSED`` of the earliest row, modulo a day: the time of day of the start, in ms."""
    first = min((row for row in rows if row.hour_ms is not None), key=lambda row: row.elapsed_ms, default=None)
    if first is None or first.hour_ms is None:
        return None
    return (first.hour_ms - first.elapsed_ms) % DAY_MS


def analysis_events(
    chart: AnalysisChart, session: events.SessionRef, options: AlKamelOptions | None = None
) -> list[events.Event]:
    """The session's events from a chart, sorted by ``at`` (the rules are in the module docstring)."""
    options = options or AlKamelOptions()
    producer = options.producer
    zone = ZoneInfo(options.time_zone)
    rows = sorted(chart.rows, key=lambda row: (row.elapsed_ms, row.number, row.lap))
    start_tod = start_time_of_day(rows) or 0
    start = local_epoch_ms(options.day or FALLBACK_DAY, start_tod, zone)
    out: list[tuple[int, int, str, events.Event]] = []

    def emit(content_id: str, at: int, body: events.EventBody) -> None:
        event = events.Event(id=event_id(session, content_id), session=session, producer=producer, at=at, body=body)
        out.append((at, _RANK[type(body)], content_id, event))

    scheduled = datetime.fromtimestamp(start / 1000, zone).isoformat(timespec="seconds")
    opened = events.SessionOpened(
        name=options.name,
        kind=options.kind,
        scheduled_start=scheduled,
        time_zone=options.time_zone,
        length=options.length or events.SessionLength(),
        track=options.track,
        track_length_m=options.track_length_m,
        rules=options.rules or preset_rules("wec"),
    )
    emit("open", start, opened)
    emit("start", start, events.SessionStarted())

    by_car: dict[str, list[LapRow]] = {}
    for row in rows:
        by_car.setdefault(car_number(row.number), []).append(row)
    flagged = {number for number, laps in by_car.items() if any(row.flag == FINISH_FLAG for row in laps)}
    for number, laps in by_car.items():
        laps.sort(key=lambda row: row.lap)
        entry = _entry(number, laps)
        emit(f"e-{number}", start, entry)
        _car_events(number, laps, start, entry.crew[0].name, emit)
        if flagged and number not in flagged:
            retired = events.CarRetired(
                number=number, reason="did not take the chequered flag", source=events.RetirementSource.CHART
            )
            emit(f"ret-{number}", start + laps[-1].elapsed_ms, retired)

    current = events.Flag.GREEN
    first = next((row.flag for row in rows if row.flag), FINISH_FLAG)
    if first != FINISH_FLAG and FLAGS.get(first, events.Flag.UNKNOWN) is not current:
        current = FLAGS.get(first, events.Flag.UNKNOWN)
        emit(f"f-0-{current.value}", start, events.FlagChanged(flag=current))  # the race started under it
    for row in rows:
        if row.flag == FINISH_FLAG:
            emit("finish", start + row.elapsed_ms, events.SessionFinished())
            break
        flag = FLAGS.get(row.flag, events.Flag.UNKNOWN) if row.flag else current
        if flag is not current:
            emit(f"f-{row.elapsed_ms}-{flag.value}", start + row.elapsed_ms, events.FlagChanged(flag=flag))
            current = flag
    out.sort(key=lambda item: item[:3])
    return [event for *_, event in out]


def _entry(number: str, laps: list[LapRow]) -> events.EntryRegistered:
    slots: dict[int, str] = {}
    for row in laps:
        if row.driver:
            slots.setdefault(row.driver_slot if row.driver_slot is not None else len(slots) + 1, row.driver)
    crew = [events.Driver(name=slots[slot][:200]) for slot in sorted(slots)][:MAX_CREW] or [
        events.Driver(name=f"#{number}")
    ]
    first = laps[0]
    return events.EntryRegistered(
        number=number,
        class_name=first.class_name or "Unknown",
        team=first.team or "unknown",
        car=first.manufacturer or "unknown",
        manufacturer=first.manufacturer or "unknown",
        crew=crew,
        sub_class=GROUPS.get(first.group, first.group[:200]) or None,
    )


def _car_events(number: str, laps: list[LapRow], start: int, driver: str, emit: Emit) -> None:
    """A car's laps, pit stops and driver changes; ``driver`` is who the entry names first."""
    marked = [row.lap_ms for row in laps if row.lap_improvement in MARKED_BEST and row.lap_ms]
    counted_best = min(marked) if marked else 0  # a chart without marks (live, provisional) deletes nothing
    previous: LapRow | None = None
    for row in laps:
        lap_start = start + (previous.elapsed_ms if previous is not None else 0)
        crossing = start + row.elapsed_ms
        pit_out: int | None = None
        if row.pit_ms is not None and previous is not None:
            pit_out = min(lap_start + row.pit_ms, crossing - 1)
            emit(f"po-{number}-{row.lap}", pit_out, events.PitOut(number=number))
        if row.driver and row.driver[:200] != driver:
            at = pit_out if pit_out is not None else min(lap_start + 1, crossing)
            driver = row.driver[:200]
            emit(f"d-{number}-{row.lap}", at, events.DriverChanged(number=number, driver=driver))
        sectors = [ms for ms in row.sectors_ms if ms]
        if row.lap_ms:
            body = events.LapCompleted(
                number=number,
                lap=row.lap,
                lap_time_ms=row.lap_ms,
                driver=row.driver[:200] or None,
                sectors_ms=sectors if len(sectors) == len(row.sectors_ms) else [],
                in_pit=row.in_pit,
                counts_for_best=row.lap_ms >= counted_best,
            )
            emit(f"lap-{number}-{row.lap}", crossing, body)
        if row.in_pit:
            emit(f"pi-{number}-{row.lap}", crossing, events.PitIn(number=number))
        previous = row


def parse_analysis(
    source: str | Path | bytes, session: events.SessionRef, options: AlKamelOptions | None = None
) -> list[events.Event]:
    """Read a chart and map it: :func:`read_analysis` then :func:`analysis_events`."""
    return analysis_events(read_analysis(source), session, options)
