"""Schema evolution: a log written in schema v1 is upcast when read and folds to the same result."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from schemas.events import SCHEMA_VERSION, Event, decode_event, encode_event
from schemas.results import encode_classification
from schemas.upcast import UPCASTERS, upcast
from services.classification.fold import fold_log
from tests.classification.test_rules import LAP, race
from tests.factory import SessionWriter, classify


def as_v1(event: Event) -> bytes:
    """Write an event as a v1 producer did (the inverse of the v1 -> v2 upcaster)."""
    raw: dict[str, Any] = msgspec.to_builtins(event)
    body = raw["body"]
    if body["type"] == "session_opened":
        length = body.pop("length")
        body["duration_ms"], body["laps"] = length["time_ms"], length["laps"]
    elif body["type"] == "lap_completed":
        body["sectors"] = body.pop("sectors_ms")
    raw["v"] = 1
    return msgspec.json.encode(raw)


def test_every_version_below_the_current_has_an_upcaster() -> None:
    assert sorted(UPCASTERS) == list(range(1, SCHEMA_VERSION))


def test_a_v1_log_folds_to_the_same_classification_as_the_current_one() -> None:
    w = SessionWriter()
    events = race(w, {"1": 11, "2": 11, "3": 9})
    events += [w.lap("1", 12, 12 * LAP, sectors_ms=[30_000, 30_000, 40_000])]
    old_log = [as_v1(e) for e in events]
    assert all(b'"v":1' in line for line in old_log)
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(old_log[0], type=Event)  # a v1 session_opened is not a v2 event...
    read_back = [decode_event(line) for line in old_log]  # ...until it is upcast
    assert read_back == events
    current = classify(events)
    upcast_fold = fold_log(enumerate(read_back, start=1)).sessions[w.session.key].classification()
    assert encode_classification(upcast_fold) == encode_classification(current)


def test_an_invalid_old_event_reports_the_current_schema_error() -> None:
    raw = msgspec.json.decode(encode_event(SessionWriter().lap("7", 1, 1)))
    raw["v"], raw["body"]["lap_time_ms"] = 1, -5
    with pytest.raises(msgspec.ValidationError, match="lap_time_ms"):
        decode_event(msgspec.json.encode(raw))


def test_a_v1_event_already_in_the_current_shape_keeps_its_content() -> None:
    opened = SessionWriter().opened()
    raw = msgspec.to_builtins(opened)
    raw["v"] = 1
    assert decode_event(msgspec.json.encode(raw)) == opened  # its length survives the upcast


def test_upcast_leaves_current_events_alone() -> None:
    raw = msgspec.to_builtins(SessionWriter().opened())
    assert upcast(raw, SCHEMA_VERSION) == raw


def test_a_version_that_never_existed_is_refused_with_the_schema_reason() -> None:
    raw = msgspec.to_builtins(SessionWriter().opened())
    raw["v"] = 0
    with pytest.raises(msgspec.ValidationError, match=r"\$\.v"):
        decode_event(msgspec.json.encode(raw))
