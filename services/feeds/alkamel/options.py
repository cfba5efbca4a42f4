"""How an Al Kamel analysis chart maps to a session: one options Struct (a chart says neither its day nor its
session's name, kind, length or rules)."""

from __future__ import annotations

from datetime import date

from msgspec import Struct

from schemas.events import ClassificationRules, SessionKind, SessionLength


class AlKamelOptions(Struct, frozen=True, kw_only=True):
    """``day`` and ``time_zone`` place the chart's times of day (2000-01-01 without ``day``); ``rules`` default to
    the ``wec`` preset, whose classification is the one the series publishes."""

    producer: str = "alkamel"
    name: str = "Race"
    kind: SessionKind = SessionKind.RACE
    day: date | None = None
    time_zone: str = "UTC"
    length: SessionLength | None = None
    track: str | None = None
    track_length_m: int | None = None
    rules: ClassificationRules | None = None
