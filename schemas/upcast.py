"""Upcasting: events written with an older schema version are brought to the current one when read.

Each upcaster takes the raw JSON object of version N and returns version N+1;
:func:`upcast` chains them. Logs are never rewritten: the stream keeps what was
written, and every reader sees the current contract.

History:
- v1 → v2: ``session_opened`` carried ``duration_ms``/``laps`` at its top level,
  now one ``length`` object; ``lap_completed`` named its sector times ``sectors``,
  now ``sectors_ms``. The first v1 events already had the v2 shape: they are
  only relabelled.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Raw = dict[str, Any]


def _v1_to_v2(event: Raw) -> Raw:
    body = dict(event.get("body") or {})
    if body.get("type") == "session_opened" and "length" not in body:  # early v1 events already had it
        body["length"] = {"time_ms": body.pop("duration_ms", None), "laps": body.pop("laps", None)}
    elif body.get("type") == "lap_completed" and "sectors" in body:
        body["sectors_ms"] = body.pop("sectors")
    return {**event, "body": body, "v": 2}


UPCASTERS: dict[int, Callable[[Raw], Raw]] = {1: _v1_to_v2}
"""Version N -> the function that turns an N event into an N+1 event."""


def upcast(event: Raw, to_version: int) -> Raw:
    """The raw event brought up to ``to_version``; unknown newer versions are left for the decoder to refuse."""
    version = int(event.get("v", 1))
    while version < to_version:
        if version not in UPCASTERS:
            raise ValueError(f"no schema version {version}: the first is 1")
        event = UPCASTERS[version](event)
        version = int(event["v"])
    return event
