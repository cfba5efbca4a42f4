"""JSON Schema components shared by the OpenAPI and AsyncAPI documents, generated from the msgspec Structs."""

from __future__ import annotations

from typing import Any

import msgspec

from schemas.analysis import CarAnalysis, ChartMessage, ChartSeries, DocumentsIndex, SessionAnalysis
from schemas.calendar import Calendars, CalendarView, LiveNow, NextEvent
from schemas.events import Event
from schemas.ingest import DeadLetter, IngestReply, RejectedEvent
from schemas.results import Classification, ClassifiedCar, HourlyClassification, RaceControlMessages
from schemas.standings import Contenders, LiveStandings, Standings
from services.gateway.graphics_data import MessageRow, SessionRow, TowerRow
from services.gateway.messages import ApiError, Grid, Health, PageStandings, Palette, Sessions, StreamMessage

API_VERSION = "1.0.0"
"""Version of the gateway's interface (the documents' ``info.version``)."""
REF = "#/components/schemas/{name}"

NAMED_UNIONS: dict[str, Any] = {
    "StreamMessage": StreamMessage,
    "IngestReply": IngestReply,
    "ChartMessage": ChartMessage,
}
"""Unions msgspec inlines; named here so both documents can refer to them."""
TYPES: list[Any] = [
    Sessions,
    Classification,
    ClassifiedCar,
    HourlyClassification,
    Grid,
    Health,
    ApiError,
    Event,
    RejectedEvent,
    DeadLetter,
    Standings,
    LiveStandings,
    PageStandings,
    RaceControlMessages,
    Palette,
    TowerRow,
    SessionRow,
    MessageRow,
    Contenders,
    SessionAnalysis,
    CarAnalysis,
    ChartSeries,
    DocumentsIndex,
    Calendars,
    CalendarView,
    NextEvent,
    LiveNow,
    *NAMED_UNIONS.values(),
]


def ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(name=name)}


def schemas() -> dict[str, Any]:
    """Every component schema by name, the named unions included."""
    top, components = msgspec.json.schema_components(TYPES, ref_template=REF)
    named = dict(zip(TYPES, top, strict=True))
    for name, union in NAMED_UNIONS.items():
        components[name] = named[union]
    return dict(sorted(components.items()))
