"""Data for titling software: a classification as flat rows, and those rows as JSON, XML or CSV.

Pure: a :class:`~schemas.results.Classification` in, bytes out. vMix data
sources read JSON as an array of row objects, or XML; most titlers read CSV.
Every view is a list of flat rows of one Struct (the documented shape): text
as a screen shows it (gaps, lap times, labels) beside the numbers it came from.
Gaps include time penalties, as the order does; a gap that includes one ends
with ``*`` (the same mark as the terminal tower and the page).
"""

from __future__ import annotations

import csv
import enum
import io
import re
from collections.abc import Sequence
from typing import Any
from xml.etree import ElementTree

import msgspec
from msgspec import Struct

from schemas.results import Classification, ClassifiedCar, Gap, SessionPhase
from services.classification.control_messages import FLAG_WORDS
from services.classification.labels import status_word
from services.classification.palette import class_swatches
from services.classification.timefmt import (
    format_clock,
    format_laptime,
    format_seconds,
    penalty_gap,
    session_clock,
    since_start,
)

TIMING_TEXT = re.compile(r"[+-][0-9:. a-z*]*")
"""Gaps, intervals and penalties (``+12.345``, ``+1 lap``, ``+5 s``): CSV cells that may start with + or -."""


class View(enum.StrEnum):
    TOWER = "tower"
    """Every car (or a class's, ``?class=``), in order."""
    LEADERS = "leaders"
    """The leader of each class."""
    SESSION = "session"
    """One row: the session, its flag and clock."""
    MESSAGES = "messages"
    """The latest race-control messages, newest first."""


class Format(enum.StrEnum):
    JSON = "json"
    XML = "xml"
    CSV = "csv"


MEDIA_TYPES = {Format.JSON: "application/json", Format.XML: "application/xml", Format.CSV: "text/csv; charset=utf-8"}


class TowerRow(Struct, frozen=True, kw_only=True):
    """One car, as a tower graphic shows it."""

    position: int
    """Overall."""
    class_position: int
    number: str
    class_name: str = msgspec.field(name="class")
    class_colour: str
    """``#RRGGBB`` of the class (the page's and the terminal tower's)."""
    class_text_colour: str
    """Black or white: the text colour on ``class_colour``."""
    team: str
    driver: str
    car: str
    laps: int
    gap: str
    """To the leader (of the class with ``?class=``): ``+12.345``, ``+1 lap``; empty for the leader."""
    interval: str
    """To the car ahead (in the class with ``?class=``)."""
    gap_ms: int | None
    """The gap in ms when it is a time."""
    laps_down: int
    last_lap: str
    best_lap: str
    last_lap_ms: int | None
    best_lap_ms: int | None
    pit_stops: int
    state: str
    """running, in_pit, out_lap, retired, finished, stopped, not_started."""
    status: str
    """running, classified, nc, dnf, dns, dsq, excluded."""
    label: str
    """What the tower shows beside the car: PIT, OUT, RET, STOP, NC, DNF, ... (empty while running)."""
    penalty: str
    """Time penalties included in the gaps, e.g. ``+5 s`` (empty for none)."""


class SessionRow(Struct, frozen=True, kw_only=True):
    """The session, as a clock or flag graphic shows it (one row)."""

    session: str
    name: str
    kind: str
    phase: str
    flag: str
    flag_text: str
    """GREEN FLAG, SAFETY CAR, ... as the page's banner says it."""
    elapsed: str
    """Race time at the latest event, ``H:MM:SS``."""
    remaining: str
    """Time left (time-certain sessions) or laps left (lap-count races), empty otherwise."""
    leader_number: str
    leader_driver: str
    leader_laps: int
    fastest_lap: str
    fastest_lap_number: str
    results: str
    """Empty while live; provisional or final."""
    seq: int


class MessageRow(Struct, frozen=True, kw_only=True):
    """A race-control message, as a ticker shows it."""

    seq: int
    elapsed: str
    """Race time when it happened, ``H:MM:SS`` (empty before the start)."""
    kind: str
    number: str
    text: str


def _gap_ms(gap: Gap | None) -> int | None:
    return gap.ms if gap is not None and not gap.laps else None


def tower_rows(classification: Classification, class_name: str | None = None) -> list[TowerRow]:
    """The cars in order, every one or those of ``class_name`` (gaps then within the class)."""
    swatches = class_swatches(car.class_name for car in classification.cars)
    rows = []
    leader: ClassifiedCar | None = None
    ahead: ClassifiedCar | None = None
    for car in classification.cars:
        if class_name is not None and car.class_name != class_name:
            continue
        gap, interval = (car.gap, car.interval) if class_name is None else (car.class_gap, car.class_interval)
        swatch = swatches[car.class_name]
        rows.append(
            TowerRow(
                position=car.position,
                class_position=car.class_position,
                number=car.number,
                class_name=car.class_name,
                class_colour=swatch.colour,
                class_text_colour=swatch.text,
                team=car.team,
                driver=car.driver or "",
                car=car.car,
                laps=car.laps,
                gap=penalty_gap(gap, car, leader),
                interval=penalty_gap(interval, car, ahead),
                gap_ms=_gap_ms(gap),
                laps_down=gap.laps if gap is not None else 0,
                last_lap=format_laptime(car.last_lap_ms),
                best_lap=format_laptime(car.best_lap_ms),
                last_lap_ms=car.last_lap_ms,
                best_lap_ms=car.best_lap_ms,
                pit_stops=car.pit_stops,
                state=car.state.value,
                status=car.status.value,
                label=status_word(car),
                penalty=f"+{format_seconds(car.penalty_time_ms)}" if car.penalty_time_ms else "",
            )
        )
        leader = leader or car
        ahead = car
    return rows


def leader_rows(classification: Classification) -> list[TowerRow]:
    """The leader of each class, in the order of the classification."""
    seen: set[str] = set()
    leaders = []
    for row in tower_rows(classification):
        if row.class_name not in seen:
            seen.add(row.class_name)
            leaders.append(row)
    return leaders


def _clock(ms: int | None) -> str:
    return "" if ms is None else format_clock(ms)


def session_rows(classification: Classification) -> list[SessionRow]:
    c = classification
    elapsed = session_clock(c)
    leader = c.cars[0] if c.cars else None
    remaining = ""
    if c.phase in (SessionPhase.RUNNING, SessionPhase.SCHEDULED):
        if c.length_laps is not None:
            remaining = f"{max(0, c.length_laps - (leader.laps if leader else 0))} laps"
        elif c.length_ms is not None:
            remaining = format_clock(c.length_ms - (elapsed or 0))
    flag_text = "SUSPENDED" if c.suspended else FLAG_WORDS[c.flag].upper()
    return [
        SessionRow(
            session=c.session.key,
            name=c.name,
            kind=c.kind.value,
            phase=c.phase.value,
            flag=c.flag.value,
            flag_text=flag_text,
            elapsed=_clock(elapsed),
            remaining=remaining,
            leader_number=leader.number if leader else "",
            leader_driver=(leader.driver or "") if leader else "",
            leader_laps=leader.laps if leader else 0,
            fastest_lap=format_laptime(c.fastest_lap.ms) if c.fastest_lap else "",
            fastest_lap_number=c.fastest_lap.number if c.fastest_lap else "",
            results=c.results.value if c.results else "",
            seq=c.last_seq,
        )
    ]


def message_rows(classification: Classification) -> list[MessageRow]:
    return [
        MessageRow(
            seq=m.seq,
            elapsed=_clock(since_start(classification.started_at, m.at)),
            kind=m.kind.value,
            number=m.number or "",
            text=m.text,
        )
        for m in reversed(classification.messages)
    ]


def rows_of(view: View, classification: Classification, class_name: str | None) -> Sequence[Struct]:
    if view is View.TOWER:
        return tower_rows(classification, class_name)
    if view is View.LEADERS:
        return leader_rows(classification)
    if view is View.SESSION:
        return session_rows(classification)
    return message_rows(classification)


ROW_TYPES: dict[View, type[Struct]] = {
    View.TOWER: TowerRow,
    View.LEADERS: TowerRow,
    View.SESSION: SessionRow,
    View.MESSAGES: MessageRow,
}
"""The Struct of each view's rows: its fields are the documented columns, in order."""


XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
"""Characters XML 1.0 cannot carry, even escaped (a feed's noise): left out of XML."""


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def csv_cell(value: Any) -> str:
    """A CSV cell that no spreadsheet runs as a formula: text a feed supplied (a team called ``=HYPERLINK(...)``)
    is quoted with a leading ``'``."""
    text = _text(value)
    if text[:1] in ("=", "@", "\t", "\r") or (text[:1] in ("+", "-") and not TIMING_TEXT.fullmatch(text)):
        return "'" + text
    return text


def render(view: View, rows: Sequence[Struct], fmt: Format, classification: Classification) -> bytes:
    """``rows`` as JSON (an array of row objects), XML (``<view><row>`` with a child element per field) or CSV
    (a header line, then a line per row)."""
    if fmt is Format.JSON:
        return msgspec.json.encode(rows)
    fields = [f.encode_name for f in msgspec.structs.fields(ROW_TYPES[view])]
    plain = [msgspec.to_builtins(row) for row in rows]
    if fmt is Format.CSV:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(fields)
        for row in plain:
            writer.writerow([csv_cell(row[name]) for name in fields])
        return out.getvalue().encode()
    root = ElementTree.Element(view.value, session=classification.session.key, seq=str(classification.last_seq))

    for row in plain:
        element = ElementTree.SubElement(root, "row")
        for name in fields:
            ElementTree.SubElement(element, name).text = XML_FORBIDDEN.sub("", _text(row[name]))
    xml: bytes = ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)
    return xml
