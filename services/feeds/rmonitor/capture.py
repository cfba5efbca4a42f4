"""Reading RMonitor capture files, mapping lines to events, and the pace at which to replay captures.

A capture is what a TCP client wrote to disk: the raw lines, sometimes with
``##YYYY-MM-DD HH:MM:SS.mmm`` stamps (the UTC wall-clock time at which the
following records arrived). :func:`read_capture` gives ``(line number,
arrival, line)`` for every record line; :func:`parse_lines` parses such lines
and never stops on a bad one: it counts it in :class:`ReadStats`, logs it with
its line number and goes on. :func:`map_lines` parses and maps them: the path
of every feed (the live client, the capture player, :func:`map_capture`).
The pace of a replay is :mod:`~services.feeds.rmonitor.pace`'s (pure).

Encoding: RMonitor is cp1252. A file that starts with a UTF-8 byte-order mark
was written by a UTF-8 tool, so it is read as UTF-8 (falling back to cp1252
for a line that is not valid UTF-8); the mark itself is dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, NamedTuple

from schemas.events import Event, SessionRef
from schemas.ingest import RejectCode
from services.feeds.common import decode_text, without_bom
from services.feeds.rmonitor.mapper import Notice
from services.feeds.rmonitor.options import RMonitorOptions
from services.feeds.rmonitor.pace import Line
from services.feeds.rmonitor.parser import ArrivalMark, ParseError, RMonitorRecord, parse_arrival, parse_line
from services.feeds.rmonitor.weekend import WeekendMapper

log = logging.getLogger(__name__)

MAX_LOGGED_ERRORS = 100
"""Errors kept in :attr:`ReadStats.errors`; the count goes on beyond it."""
MAX_LINE_BYTES = 65_536
"""Bytes of a line read from a capture; the rest of a longer line is dropped (it is a bad line anyway)."""
MAX_QUEUED_ASIDE = 10_000
"""Records kept aside waiting for the shell to store them; beyond it they are counted and logged only."""
MAX_ASIDE_TEXT = 500
"""Characters of a line kept aside with its notice."""


def _bounded(file: BinaryIO) -> Iterator[bytes]:
    """The file's lines, each cut to :data:`MAX_LINE_BYTES` (the rest of a longer line is read and dropped):
    memory stays bounded whatever the file holds."""
    while raw := file.readline(MAX_LINE_BYTES):
        if len(raw) == MAX_LINE_BYTES and not raw.endswith(b"\n"):
            while (rest := file.readline(MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
                pass
            raw += b"\n"
        yield raw


def _raw_lines(path: Path) -> Iterator[tuple[int, str, bool]]:
    """``(line number, text without terminator, terminated)`` for every line of the file."""
    with path.open("rb") as file:
        utf8 = False
        for number, raw in enumerate(_bounded(file), start=1):
            if number == 1:
                raw, utf8 = without_bom(raw)
            terminated = raw.endswith(b"\n")
            text = decode_text(raw.rstrip(b"\r\n"), utf8=utf8)
            if "\r" in text:  # a file with bare CR terminators: one physical line, many records
                for part in text.split("\r"):
                    yield number, part, terminated
            else:
                yield number, text, terminated


class KeptAside(NamedTuple):
    """A line the feed did not map, and why: what operations see of it in the rejects stream."""

    line: int
    code: RejectCode
    reason: str
    text: str
    """The line itself (cut to :data:`MAX_ASIDE_TEXT` characters)."""
    session: SessionRef | None = None
    """The session it belonged to (None: the feed's current one)."""


@dataclass
class ReadStats:
    """What a read of a capture skipped, and why."""

    lines: int = 0
    """Record lines seen (blank and ``##`` lines not counted)."""
    records: int = 0
    """Lines parsed to a known record."""
    unknown: int = 0
    """Lines of a record type this reader ignores."""
    skipped: int = 0
    """Lines that could not be parsed (each one logged with its line number)."""
    errors: list[tuple[int, str]] = field(default_factory=list)
    """``(line number, reason)`` of the first :data:`MAX_LOGGED_ERRORS` skipped lines."""
    truncated_last_line: bool = False
    """The file ended without a line terminator and that last line could not be parsed."""
    unterminated_line: int | None = None
    """The number of the file's last line when it has no terminator (noted by :func:`read_capture`)."""
    kept_aside: int = 0
    """Records parsed but kept aside by the mapper (absurd values, unknown cars, ...), each logged."""
    disagreements: int = 0
    """Times the passings and the timing system's scoreboard came to disagree, each logged."""
    aside: list[KeptAside] = field(default_factory=list)
    """Skipped and kept-aside lines not yet taken by the shell (:meth:`take_aside`), at most
    :data:`MAX_QUEUED_ASIDE`."""

    def skip(self, number: int, reason: str, text: str = "") -> None:
        self.skipped += 1
        if number == self.unterminated_line:
            self.truncated_last_line = True  # only the last line of a file can lack its terminator
        if len(self.errors) < MAX_LOGGED_ERRORS:
            self.errors.append((number, reason))
        log.warning("rmonitor line %d skipped: %s", number, reason)
        self._queue(KeptAside(number, RejectCode.MALFORMED, reason, text[:MAX_ASIDE_TEXT]))

    def set_aside(self, number: int, notice: Notice, text: str, session: SessionRef | None) -> None:
        """A record the mapper kept aside (or, with no code, something to say in the log)."""
        if notice.code is None:
            log.warning("rmonitor line %d: %s", number, notice.reason)
            return
        if notice.code is RejectCode.SCOREBOARD_DISAGREES:
            self.disagreements += 1
            log.warning("rmonitor line %d: %s", number, notice.reason)
        else:
            self.kept_aside += 1
            log.warning("rmonitor line %d kept aside (%s): %s", number, notice.code.value, notice.reason)
        self._queue(KeptAside(number, notice.code, notice.reason, text[:MAX_ASIDE_TEXT], session))

    def _queue(self, item: KeptAside) -> None:
        if len(self.aside) < MAX_QUEUED_ASIDE:
            self.aside.append(item)

    def take_aside(self) -> list[KeptAside]:
        taken, self.aside = self.aside, []
        return taken


def read_capture(path: str | Path, stats: ReadStats | None = None) -> Iterator[Line]:
    """Every non-blank record line as ``(line number, arrival, line)``.

    ``arrival`` is the UTC epoch seconds of the last ``##`` stamp before the
    line, or ``None`` in captures without stamps. The ``##`` lines themselves
    are consumed here, not yielded. A last line without its terminator is noted
    in ``stats`` (before it is yielded), so that skipping it marks
    :attr:`ReadStats.truncated_last_line`.
    """
    arrival: float | None = None
    for number, text, terminated in _raw_lines(Path(path)):
        stripped = text.strip()
        if not stripped:
            continue
        if stripped.startswith("##"):
            stamp = parse_arrival(stripped)
            if stamp is not None:
                arrival = stamp
                continue
        if not terminated and stats is not None:
            stats.unterminated_line = number
        yield number, arrival, text


def parse_lines(
    lines: Iterable[Line], stats: ReadStats | None = None
) -> Iterator[tuple[int, float | None, RMonitorRecord]]:
    """Parse ``(line number, arrival, line)`` triples; bad lines are counted in ``stats`` and skipped."""
    stats = stats if stats is not None else ReadStats()
    for number, arrival, line in lines:
        record = _parse(number, line, stats)
        if record is not None:
            yield number, arrival, record


def _parse(number: int, line: str, stats: ReadStats) -> RMonitorRecord | None:
    stats.lines += 1
    try:
        record = parse_line(line)
    except ParseError as error:
        stats.skip(number, error.reason, line)
        return None
    if record is None:
        stats.unknown += 1
        return None
    if isinstance(record, ArrivalMark):
        return None
    stats.records += 1
    return record


def read_records(
    path: str | Path, stats: ReadStats | None = None
) -> Iterator[tuple[int, float | None, RMonitorRecord]]:
    """Read and parse a capture file: ``(line number, arrival, record)`` for every readable record."""
    stats = stats if stats is not None else ReadStats()
    yield from parse_lines(read_capture(path, stats), stats)


# -- mapping -----------------------------------------------------------------


def map_lines(mapper: WeekendMapper, lines: Iterable[Line], stats: ReadStats) -> list[Event]:
    """Parse and map ``(line number, arrival, line)`` triples; bad lines are counted in ``stats``, logged, skipped,
    and so are records the mapper keeps aside (with their reasons).

    A record the mapper fails on is skipped the same way (with its traceback in the log): one record must not
    end a live session's timing.
    """
    events: list[Event] = []
    for number, arrival, line in lines:
        record = _parse(number, line, stats)
        if record is None:
            continue
        try:
            events.extend(mapper.feed(record, arrival))
        except Exception as error:
            log.exception("rmonitor line %d: the mapper failed on %r", number, record)
            stats.skip(number, f"mapper failed: {error!r}", line)
        for session, notice in mapper.take_notices():
            stats.set_aside(number, notice, line, session)
    return events


def map_feed(mapper: WeekendMapper, path: str | Path) -> MappedCapture:
    """Read a capture file to the end and map it, as the capture player does without waits."""
    stats = ReadStats()
    events = map_lines(mapper, read_capture(path, stats), stats) + mapper.flush()
    for session, notice in mapper.take_notices():
        stats.set_aside(stats.lines, notice, "", session)
    return MappedCapture(events=events, mapper=mapper, read=stats)


@dataclass
class MappedCapture:
    """A capture read and mapped: the events, the mapper (for its side tables) and the read statistics."""

    events: list[Event]
    mapper: WeekendMapper
    read: ReadStats = field(default_factory=ReadStats)


def map_capture(path: str | Path, session: SessionRef, options: RMonitorOptions | None = None) -> MappedCapture:
    """A capture file mapped into one session."""
    return map_feed(WeekendMapper.one_session(session, options), path)
