"""What a run's name says: the kind of session, and the session token a feed that follows a weekend gives it.

Pure. The kind is read word by word, and the *last* word that names a kind decides, as the last noun does in
English: "Race Practice 2" is a practice, "Test Race" a race, "GTO/GTU Qualifying" a qualifying, "Saturday 8
Hour" a race. A name with no such word says nothing (``None``): the feed's own order decides then (see
:class:`~services.feeds.rmonitor.mapper.RMonitorMapper`).
"""

from __future__ import annotations

import re

from schemas.events import SessionKind

_WORDS = re.compile(r"[a-z0-9]+")
_KIND_OF_WORD = {
    **dict.fromkeys(
        ("qualifying", "qualification", "quali", "qual", "q1", "q2", "q3", "superpole", "pole", "shootout"),
        SessionKind.QUALIFYING,
    ),
    **dict.fromkeys(
        ("practice", "practise", "test", "testing", "warmup", "warm", "fp1", "fp2", "fp3", "fp4", "free"),
        SessionKind.PRACTICE,
    ),
    **dict.fromkeys(
        ("race", "races", "hour", "hours", "hr", "hrs", "heat", "feature", "sprint", "final", "enduro", "endurance"),
        SessionKind.RACE,
    ),
}
_HOURS = re.compile(r"^\d+h$")
TOKEN_LENGTH = 48
"""Characters of a run name kept in a session token (which has at most 64)."""


def kind_of(name: str) -> SessionKind | None:
    """The kind the last kind word of ``name`` names; ``None`` when no word names one."""
    kind = None
    for word in _WORDS.findall(name.casefold()):
        found = SessionKind.RACE if _HOURS.match(word) else _KIND_OF_WORD.get(word)
        kind = found or kind
    return kind


def slug(name: str) -> str:
    """``Saturday 8 Hour`` -> ``saturday-8-hour``: letters and digits, words joined by ``-``, cut to a token."""
    return "-".join(_WORDS.findall(name.casefold()))[:TOKEN_LENGTH].strip("-")


def session_token(name: str, run: int | None, part: int = 1) -> str:
    """The session token of a run: its name's slug and its number (two runs of one name, Saturday's and Sunday's
    "Race", stay apart, also when the feed is restarted), ``-2``, ``-3``... for the parts a lost reset split it
    into."""
    stem = slug(name) or "run"
    token = f"{stem}-{run}" if run is not None else stem
    return token if part == 1 else f"{token}-{part}"
