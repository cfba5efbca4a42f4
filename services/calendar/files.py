"""Calendar files: a season written in local time (TOML or YAML), or an iCalendar file, as a ``calendar_published``.

Pure: the caller reads the bytes. A TOML or YAML file gives each round its
circuit's IANA zone and each session its local start and end at the circuit::

    name = "GT Sprint Cup 2025"
    championship = "sprint-2025"      # optional; checked against where it is published

    [[rounds]]
    event = "lausitzring"             # the event token of its sessions' timing keys
    name = "Lausitzring"
    circuit = "Lausitzring, Klettwitz"
    time_zone = "Europe/Berlin"
    first_day = 2025-05-23            # optional, with last_day: the round's days at the circuit
    last_day = 2025-05-25

    [[rounds.sessions]]
    session = "race-1"                # sprint-2025.lausitzring.race-1
    name = "Race 1"
    kind = "race"                     # practice | qualifying | race
    points = "points"                 # none | points | pole
    start = 2025-05-24T15:00:00       # local time at the circuit
    end = 2025-05-24T16:00:00
    # cancelled = true

Every error names the file, the field and what is wrong, all at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path, PurePath
from typing import Annotated

import msgspec
from msgspec import Meta, Struct

from schemas.events import (
    CalendarPublished,
    NonEmpty,
    PointsRole,
    ScheduledRound,
    ScheduledSession,
    SessionKind,
    Slug,
    ZoneName,
)
from services.calendar.ics import from_ics
from services.calendar.local import CalendarError, scheduled_instant
from services.calendar.schedule import canonical, problems
from services.standings.config import located
from services.structs import carried

EXAMPLES = Path(__file__).parent / "examples"
"""The example calendars shipped with chequered (``gt-endurance-2026.toml``, ``sprint-2025.toml``)."""
SUFFIXES = (".toml", ".yaml", ".yml", ".ics")


class CalendarFileError(CalendarError):
    """A file that is no calendar; ``problems`` are ``where: what is wrong``."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(f"{source}: {problem}" for problem in problems))


class FileSession(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    session: Slug
    name: NonEmpty
    kind: SessionKind
    start: datetime
    end: datetime
    """Local time at the circuit; an offset only to say which of the hour the clocks repeat."""
    points: PointsRole = PointsRole.NONE
    cancelled: bool = False


class FileRound(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    event: Slug
    name: NonEmpty
    circuit: NonEmpty
    time_zone: ZoneName
    sessions: Annotated[list[FileSession], Meta(max_length=64)] = []
    first_day: date | None = None
    last_day: date | None = None


class CalendarFile(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: NonEmpty
    rounds: Annotated[list[FileRound], Meta(max_length=100)]
    championship: Slug | None = None


@dataclass(frozen=True)
class Decoded:
    season: CalendarPublished
    skipped: list[str] = field(default_factory=list)
    """What an iCalendar file held that is no session (an all-day event, a summary naming no session), and why."""


def decode_calendar(data: bytes, source: str, championship: str | None = None) -> Decoded:
    """A calendar file's season, checked; ``source`` is the file's name (its suffix says the format) and
    ``championship`` where it is to be published (a file naming another championship is refused)."""
    suffix = PurePath(source).suffix.lower()
    name = PurePath(source).name
    if suffix == ".ics":
        try:
            decoded = Decoded(*from_ics(data, name))
        except CalendarError as error:
            raise CalendarFileError(source, str(error).split("\n")) from None
    elif suffix in SUFFIXES:
        decoded = Decoded(_from_file(data, source, suffix, championship))
    else:
        raise CalendarFileError(source, [f"$: give a {', '.join(SUFFIXES)} file"])
    try:  # what the schema says of every field (slugs, lengths, years), as ingest will judge the event
        msgspec.convert(msgspec.to_builtins(decoded.season), CalendarPublished)
    except msgspec.ValidationError as error:
        raise CalendarFileError(source, [located(str(error))]) from None
    if found := problems(decoded.season):
        raise CalendarFileError(source, found)
    return decoded


def _from_file(data: bytes, source: str, suffix: str, championship: str | None) -> CalendarPublished:
    try:
        if suffix == ".toml":
            raw = msgspec.toml.decode(data, type=CalendarFile)
        else:
            raw = msgspec.yaml.decode(data, type=CalendarFile)
    except msgspec.ValidationError as error:
        problem = located(str(error))
        if ": Expected `date" in problem:
            problem += " (write it unquoted, as 2025-05-24T15:00:00 or 2025-05-24)"
        raise CalendarFileError(source, [problem]) from None
    except (msgspec.DecodeError, UnicodeDecodeError) as error:
        raise CalendarFileError(source, [f"$: not valid {suffix[1:].upper()}: {error}"]) from None
    found: list[str] = []
    if championship is not None and raw.championship not in (None, championship):
        found.append(f"$.championship: the file is the calendar of {raw.championship}, not of {championship}")
    rounds = []
    for i, round_ in enumerate(raw.rounds):
        sessions = []
        for j, session in enumerate(round_.sessions):
            times = []
            for name, local in (("start", session.start), ("end", session.end)):
                try:
                    times.append(scheduled_instant(local, round_.time_zone))
                except CalendarError as error:
                    found.append(f"$.rounds[{i}].sessions[{j}].{name}: {error}")
            if len(times) == 2:
                sessions.append(carried(ScheduledSession, session, start=times[0], end=times[1]))
        rounds.append(carried(ScheduledRound, round_, sessions=sessions))
    if found:
        raise CalendarFileError(source, found)
    return canonical(CalendarPublished(name=raw.name, rounds=rounds, source=PurePath(source).name))
