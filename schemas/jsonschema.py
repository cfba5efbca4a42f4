"""Generate the JSON Schema of every message into ``schemas/json/``.

Run ``chequered schemas`` (or ``make schemas``) after changing a Struct; a test
fails while the checked-in files are stale.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from schemas.analysis import ChartMessage, DocumentsIndex, SessionAnalysis
from schemas.calendar import SeasonCalendar
from schemas.events import Event
from schemas.ingest import DeadLetter, IngestReply, RejectedEvent
from schemas.results import Classification
from schemas.standings import ChampionshipConfig, LiveStandings, Standings

JSON_DIR = Path(__file__).parent / "json"

MESSAGES: dict[str, Any] = {
    "event": Event,
    "ingest-reply": IngestReply,
    "rejected-event": RejectedEvent,
    "dead-letter": DeadLetter,
    "classification": Classification,
    "standings": Standings,
    "live-standings": LiveStandings,
    "championship-config": ChampionshipConfig,
    "analysis": SessionAnalysis,
    "chart-message": ChartMessage,
    "documents-index": DocumentsIndex,
    "season-calendar": SeasonCalendar,
}


def render() -> dict[str, bytes]:
    """File name to content, deterministic (sorted keys, trailing newline)."""
    out: dict[str, bytes] = {}
    for name, type_ in MESSAGES.items():
        schema = msgspec.json.schema(type_)
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["title"] = name
        text = msgspec.json.format(msgspec.json.encode(schema, order="sorted"), indent=2)
        out[f"{name}.schema.json"] = text + b"\n"
    return out


def write(directory: Path = JSON_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in render().items():
        path = directory / name
        path.write_bytes(content)
        written.append(path)
    return written
