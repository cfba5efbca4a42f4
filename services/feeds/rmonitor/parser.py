"""RMonitor lines to typed records.

RMonitor (the MYLAPS Orbits "scoreboard" output) is a stream of text lines,
each a ``$``-prefixed, comma-separated record with strings in double quotes.
:func:`parse_line` turns one line into one typed, immutable record; it knows
nothing about sessions or events (that is :mod:`services.feeds.rmonitor.mapper`).

Tolerance rules, all from real captures (``docs/feeds.md``):

- unknown record types give ``None`` and extra trailing fields are ignored, so
  a newer Orbits or a vendor extension never breaks the reader;
- a known record that cannot be read (missing fields, a time that is not a
  time, unbalanced quotes from a truncated last line) raises
  :class:`ParseError` with a reason; the reader counts and logs it and goes on;
- flags are normalised (``"Green "``, ``"GREEN"``, ``"green"`` are the same)
  and a flag nobody knows (``Purple``) is :attr:`FeedFlag.UNKNOWN`, never an
  error; an empty flag is :attr:`FeedFlag.NONE` ("no flag shown");
- placeholders become ``None``: a ``$G`` total of ``00:59:59.999`` (or zero)
  with empty laps means "no passing yet", a ``$H`` best lap of 0 /
  ``00:00:00.000`` means "no best yet", laps-to-go 9999 means "no lap limit";
- ``$I`` dates come in several forms (``27 Jan 09``, ``01/27/2009``,
  ``0/0/0000``...): unreadable ones give ``date=None`` and keep the raw text;
- ``##YYYY-MM-DD HH:MM:SS.mmm`` lines (arrival wall-clock stamps some capture
  tools write before a record) parse to :class:`ArrivalMark`.

Times are integer milliseconds. RMonitor times are durations or times of day
(``HH:MM:SS[.sss]``); they are never instants, which the mapper has to build.
"""

from __future__ import annotations

import csv
import enum
import re
from collections.abc import Callable
from datetime import UTC, date, datetime

from msgspec import Struct


class ParseError(ValueError):
    """A line that looks like a record but cannot be read; ``reason`` says why."""

    def __init__(self, reason: str, line: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.line = line


class FeedFlag(enum.StrEnum):
    """The flag of an ``$F`` heartbeat, normalised."""

    NONE = "none"
    """Blank: no session running (before the start, after the end)."""
    GREEN = "green"
    YELLOW = "yellow"
    RED = "red"
    FINISH = "finish"
    UNKNOWN = "unknown"
    """A value this reader does not know (``Purple`` from other flag hardware)."""


_FLAGS = {
    "": FeedFlag.NONE,
    "green": FeedFlag.GREEN,
    "yellow": FeedFlag.YELLOW,
    "red": FeedFlag.RED,
    "finish": FeedFlag.FINISH,
    "checkered": FeedFlag.FINISH,
    "chequered": FeedFlag.FINISH,
}


def normalise_flag(raw: str) -> FeedFlag:
    """``"Green "``, ``"GREEN"``, ``"green"`` -> GREEN; blank -> NONE; anything else -> UNKNOWN."""
    return _FLAGS.get(raw.strip().casefold(), FeedFlag.UNKNOWN)


# -- records -----------------------------------------------------------------


class Record(Struct, frozen=True):
    """Base of every parsed line."""


class ArrivalMark(Record, frozen=True, tag="##"):
    """A ``##YYYY-MM-DD HH:MM:SS.mmm`` line: when the following records arrived (UTC epoch seconds)."""

    at: float


class Heartbeat(Record, frozen=True, tag="$F"):
    """``$F``: sent every second while the scoreboard runs."""

    laps_to_go: int | None
    """``None`` for 9999 (no lap limit) or a blank field."""
    time_to_go_ms: int | None
    time_of_day_ms: int | None
    race_time_ms: int | None
    """Race time since the first green; can be negative after a clock reset (``00:00:-47`` was seen)."""
    flag: FeedFlag
    flag_raw: str


class Competitor(Record, frozen=True, tag="$A"):
    """``$A``: a competitor; a driver change shows only as a new ``$A``/``$COMP`` with other names."""

    registration: str
    number: str
    transponder: str
    first_name: str
    last_name: str
    nationality: str
    class_number: int | None


class CompetitorExt(Record, frozen=True, tag="$COMP"):
    """``$COMP``: the extended competitor record (class number third, plus additional data)."""

    registration: str
    number: str
    class_number: int | None
    first_name: str
    last_name: str
    nationality: str
    additional: str


class RunInfo(Record, frozen=True, tag="$B"):
    """``$B``: the run (session) number and name; run 95 is an idle placeholder in some installs."""

    run: int
    description: str


class ClassInfo(Record, frozen=True, tag="$C"):
    class_number: int
    description: str


class Setting(Record, frozen=True, tag="$E"):
    """``$E``: ``TRACKNAME`` or ``TRACKLENGTH`` (and whatever else an install sends)."""

    name: str
    value: str


class RacePosition(Record, frozen=True, tag="$G"):
    """``$G``: the timing software's own running order."""

    position: int
    registration: str
    laps: int | None
    """``None`` when blank: no passing yet."""
    total_ms: int | None
    """``None`` for the ``00:59:59.999`` / zero placeholders."""


class PracticePosition(Record, frozen=True, tag="$H"):
    """``$H``: order by best lap (practice and qualifying)."""

    position: int
    registration: str
    best_lap: int | None
    best_ms: int | None


class Init(Record, frozen=True, tag="$I"):
    """``$I``: the scoreboard was (re-)initialised; clear it."""

    time_of_day_ms: int | None
    date: date | None
    date_raw: str


class Passing(Record, frozen=True, tag="$J"):
    """``$J``: a passing of the start/finish line."""

    registration: str
    lap_ms: int
    """0 when the passing has no lap time (the first crossing after the start)."""
    total_ms: int
    """Race time of the passing."""


class CorrectedFinish(Record, frozen=True, tag="$COR"):
    registration: str
    number: str
    laps: int | None
    total_ms: int | None
    correction_ms: int | None


class TimelineCrossing(Record, frozen=True, tag="$L"):
    """``$L`` (IMSA extension): a crossing of a named timeline, with its own date and time of day.

    Timeline names: ``SFT`` start/finish on track, ``SFP`` start/finish in the
    pit lane, ``PIT``/``PIP`` pit in, ``POT``/``POP`` pit out.
    """

    number: str
    timeline: str
    name: str
    date: date | None
    time_of_day_ms: int
    driver_id: int | None = None
    class_name: str | None = None


RMonitorRecord = (
    ArrivalMark
    | Heartbeat
    | Competitor
    | CompetitorExt
    | RunInfo
    | ClassInfo
    | Setting
    | RacePosition
    | PracticePosition
    | Init
    | Passing
    | CorrectedFinish
    | TimelineCrossing
)


# -- field readers -----------------------------------------------------------

_DAY_MS = 86_400_000
MAX_RUN = 999_999
MAX_RECORD = 2_000
"""Characters of the longest record read; a longer line (noise, a broken feed) is a bad line."""
_NO_PASSING_MS = 3_599_999
"""``00:59:59.999``: Orbits' "no time" placeholder in ``$G`` and ``$H``."""

_TIME = re.compile(r"^([+-]?)(-?\d+(?::-?\d+){0,3})(?:\.(\d+))?$")
_ARRIVAL = re.compile(r"^##\s*(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2}(?:\.\d+)?)\s*$")


def parse_time_ms(text: str) -> int:
    """``HH:MM:SS.sss`` (also ``M:SS.sss``, ``SS.sss``, more than 24 hours, a sign) to milliseconds.

    Components may carry their own minus sign (``00:00:-47``: a race clock
    reset below zero): the value is the plain sum, so it comes out negative.
    """
    value = text.strip()
    match = _TIME.match(value)
    if match is None:
        raise ParseError(f"{text!r} is not a time")
    sign, clock, fraction = match.groups()
    total = 0
    for part in clock.split(":"):
        total = total * 60 + int(part) if total >= 0 else total * 60 - int(part)
    ms = total * 1000
    if fraction:
        frac = int((fraction + "00")[:3])
        ms = ms + frac if ms >= 0 else ms - frac
    return -ms if sign == "-" else ms


def _time_or_none(text: str) -> int | None:
    return parse_time_ms(text) if text.strip() else None


def _int(text: str, what: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ParseError(f"{what} {text!r} is not a number") from None


def _int_or_none(text: str, what: str) -> int | None:
    return _int(text, what) if text.strip() else None


_DATE_FORMATS = ("%d %b %y", "%d %b %Y", "%m/%d/%Y", "%m/%d/%y", "%Y-%m-%d", "%d.%m.%Y", "%Y/%m/%d")


def parse_date(text: str) -> date | None:
    """The ``$I``/``$L`` date in the forms seen in the wild; ``None`` when unreadable (``0/0/0000``)."""
    value = " ".join(text.split())
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(value, fmt).date()
        except ValueError:
            continue
    return None


def _fields(line: str, count: int, record: str) -> list[str]:
    """Split a record into at least ``count`` fields after the tag (extra fields are kept, then ignored)."""
    if len(line) > MAX_RECORD:
        raise ParseError(f"{record}: {len(line):,} characters, more than a record has ({MAX_RECORD:,})")
    if line.count('"') % 2:
        raise ParseError(f"{record}: unbalanced quotes (truncated line?)")
    fields = next(csv.reader([line], skipinitialspace=True))[1:]
    if len(fields) < count:
        raise ParseError(f"{record}: {len(fields)} fields, at least {count} expected")
    return fields


def _text(value: str) -> str:
    return value.strip()


# -- one parser per record type ----------------------------------------------


def _time_of_day(text: str) -> int | None:
    """A time of day, ``00:00:00`` to ``23:59:59.999``; anything else (``99:99:99``) is not one."""
    ms = _time_or_none(text)
    if ms is not None and not 0 <= ms < _DAY_MS:
        raise ParseError(f"time of day {text.strip()!r} is not a time of day")
    return ms


def _heartbeat(line: str) -> Heartbeat:
    f = _fields(line, 5, "$F")
    laps = _int_or_none(f[0], "laps to go")
    return Heartbeat(
        laps_to_go=None if laps == 9999 else laps,
        time_to_go_ms=_time_or_none(f[1]),
        time_of_day_ms=_time_of_day(f[2]),
        race_time_ms=_time_or_none(f[3]),
        flag=normalise_flag(f[4]),
        flag_raw=f[4].strip(),
    )


def _competitor(line: str) -> Competitor:
    f = _fields(line, 7, "$A")
    return Competitor(
        registration=_text(f[0]),
        number=_text(f[1]),
        transponder=_text(f[2]),
        first_name=_text(f[3]),
        last_name=_text(f[4]),
        nationality=_text(f[5]),
        class_number=_int_or_none(f[6], "class number"),
    )


def _competitor_ext(line: str) -> CompetitorExt:
    f = _fields(line, 6, "$COMP")
    return CompetitorExt(
        registration=_text(f[0]),
        number=_text(f[1]),
        class_number=_int_or_none(f[2], "class number"),
        first_name=_text(f[3]),
        last_name=_text(f[4]),
        nationality=_text(f[5]),
        additional=_text(f[6]) if len(f) > 6 else "",
    )


def _run(line: str) -> RunInfo:
    f = _fields(line, 2, "$B")
    run = _int(f[0], "run number")
    if not 0 <= run <= MAX_RUN:
        raise ParseError(f"$B: run number {run} is out of range")
    return RunInfo(run=run, description=_text(f[1]))


def _class(line: str) -> ClassInfo:
    f = _fields(line, 2, "$C")
    return ClassInfo(class_number=_int(f[0], "class number"), description=_text(f[1]))


def _setting(line: str) -> Setting:
    f = _fields(line, 2, "$E")
    return Setting(name=_text(f[0]).upper(), value=_text(f[1]))


def _placeholder_time(text: str) -> int | None:
    ms = _time_or_none(text)
    return None if ms in (None, 0, _NO_PASSING_MS) else ms


def _race_position(line: str) -> RacePosition:
    f = _fields(line, 4, "$G")
    laps = _int_or_none(f[2], "laps")
    total = _placeholder_time(f[3])
    if laps is None:
        total = None
    return RacePosition(position=_int(f[0], "position"), registration=_text(f[1]), laps=laps, total_ms=total)


def _practice_position(line: str) -> PracticePosition:
    f = _fields(line, 4, "$H")
    best = _placeholder_time(f[3])
    lap = _int_or_none(f[2], "best lap")
    return PracticePosition(
        position=_int(f[0], "position"),
        registration=_text(f[1]),
        best_lap=lap if lap and best is not None else None,
        best_ms=best,
    )


def _init(line: str) -> Init:
    f = _fields(line, 2, "$I")
    try:
        tod = _time_of_day(f[0])
    except ParseError:
        tod = None  # a reset is a reset, whatever time it says it was
    return Init(time_of_day_ms=tod or None, date=parse_date(f[1]), date_raw=_text(f[1]))


def _passing(line: str) -> Passing:
    f = _fields(line, 3, "$J")
    registration = _text(f[0])
    if not registration:
        raise ParseError("$J: empty registration number")
    lap = _time_or_none(f[1]) or 0
    total = _time_or_none(f[2])
    if total is None:
        raise ParseError("$J: empty total time")
    if lap < 0:
        raise ParseError(f"$J: negative lap time {f[1]!r}")
    return Passing(registration=registration, lap_ms=lap, total_ms=total)


def _corrected(line: str) -> CorrectedFinish:
    f = _fields(line, 5, "$COR")
    return CorrectedFinish(
        registration=_text(f[0]),
        number=_text(f[1]),
        laps=_int_or_none(f[2], "laps"),
        total_ms=_placeholder_time(f[3]),
        correction_ms=_time_or_none(f[4]),
    )


def _timeline(line: str) -> TimelineCrossing:
    f = _fields(line, 5, "$L")
    tod = _time_of_day(f[4])
    if tod is None:
        raise ParseError("$L: empty time")
    return TimelineCrossing(
        number=_text(f[0]),
        timeline=_text(f[1]).upper(),
        name=_text(f[2]).upper(),
        date=parse_date(f[3]),
        time_of_day_ms=tod,
        driver_id=_int_or_none(f[5], "driver id") if len(f) > 5 else None,
        class_name=(_text(f[6]) or None) if len(f) > 6 else None,
    )


_PARSERS: dict[str, Callable[[str], RMonitorRecord]] = {
    "$F": _heartbeat,
    "$A": _competitor,
    "$COMP": _competitor_ext,
    "$B": _run,
    "$C": _class,
    "$E": _setting,
    "$G": _race_position,
    "$H": _practice_position,
    "$I": _init,
    "$J": _passing,
    "$COR": _corrected,
    "$L": _timeline,
}


def parse_arrival(line: str) -> float | None:
    """The UTC epoch seconds of a ``##YYYY-MM-DD HH:MM:SS.mmm`` line, or ``None`` if it is not one.

    The stamps are UTC: in the captures they are exactly the circuit's local
    ``$F`` time of day plus its UTC offset.
    """
    match = _ARRIVAL.match(line.strip())
    if match is None:
        return None
    stamp = datetime.fromisoformat(f"{match.group(1)}T{match.group(2)}").replace(tzinfo=UTC)
    return stamp.timestamp()


def parse_line(line: str) -> RMonitorRecord | None:
    """Parse one line; ``None`` for a blank line or a record type this reader does not know.

    Raises :class:`ParseError` for a line that should be a record and is not.
    A leading byte-order mark and the line terminator are tolerated.
    """
    text = line.lstrip("\ufeff").strip("\r\n\x00 ")
    if not text:
        return None
    if text.startswith("##"):
        arrival = parse_arrival(text)
        if arrival is None:
            raise ParseError("unreadable ## arrival stamp", line)
        return ArrivalMark(at=arrival)
    if not text.startswith("$"):
        raise ParseError("not an RMonitor record (no leading $)", line)
    tag = text.split(",", 1)[0].strip().upper()
    parser = _PARSERS.get(tag)
    if parser is None:
        return None
    try:
        return parser(text)
    except ParseError as error:
        error.line = line
        raise
    except csv.Error as error:
        raise ParseError(f"{tag}: {error}", line) from None
