"""The contract: JSON Schema files are current, events round-trip, versions are additive."""

from __future__ import annotations

import re

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.events import (
    CAR_NUMBER_PATTERN,
    ID_PATTERN,
    SCHEMA_VERSION,
    SLUG_PATTERN,
    SessionRef,
    decode_event,
    encode_event,
)
from schemas.jsonschema import JSON_DIR, render
from tests.factory import SessionWriter


def test_checked_in_json_schema_is_current() -> None:
    stale = [name for name, content in render().items() if (JSON_DIR / name).read_bytes() != content]
    missing = sorted(set(render()) - {p.name for p in JSON_DIR.glob("*.json")})
    assert not stale and not missing, f"run 'chequered schemas' to regenerate: stale {stale}, missing {missing}"


def test_every_event_type_is_in_the_schema() -> None:
    schema = msgspec.json.decode((JSON_DIR / "event.schema.json").read_bytes())
    tags = {d["properties"]["type"]["enum"][0] for d in schema["$defs"].values() if "type" in d.get("properties", {})}
    assert {"session_opened", "entry_registered", "lap_completed", "pit_in", "pit_out", "driver_changed"} <= tags
    assert {"session_started", "line_crossing", "flag_changed", "car_retired", "session_finished"} <= tags


def test_event_round_trips() -> None:
    w = SessionWriter()
    for event in (w.opened(), w.entry("007"), w.lap("007", 3, 1234, sectors_ms=[400, 400, 434], in_pit=True)):
        assert decode_event(encode_event(event)) == event
        assert event.v == SCHEMA_VERSION


def test_an_event_without_later_optional_fields_still_decodes() -> None:
    """Additive versioning: a lap written before ``driver``/``sectors_ms``/``in_pit`` existed."""
    raw = {
        "id": "x1",
        "session": {"championship": "c", "event": "e", "session": "s"},
        "producer": "p",
        "at": 1,
        "v": SCHEMA_VERSION,
        "body": {"type": "lap_completed", "number": "7", "lap": 1, "lap_time_ms": 100_000},
    }
    event = decode_event(msgspec.json.encode(raw))
    assert event.body.sectors_ms == [] and event.body.driver is None  # type: ignore[union-attr]


@pytest.mark.parametrize("key", ["a.b", "a.b.c.d", "a.b.c d", "a.*.c", "a.>.c"])
def test_session_keys_must_be_three_subject_safe_tokens(key: str) -> None:
    with pytest.raises(msgspec.ValidationError):
        SessionRef.parse(key)


def test_car_numbers_are_strings_with_leading_zeros_kept() -> None:
    event = SessionWriter().entry("007")
    assert decode_event(encode_event(event)).body.number == "007"  # type: ignore[union-attr]


PATTERNS = {
    "championship": SLUG_PATTERN,
    "event": SLUG_PATTERN,
    "session": SLUG_PATTERN,
    "producer": SLUG_PATTERN,
    "number": CAR_NUMBER_PATTERN,
    "id": ID_PATTERN,
}


@given(
    st.sampled_from(sorted(PATTERNS)),
    st.one_of(
        st.text(max_size=140),
        st.from_regex(r"[A-Za-z0-9_-]{60,70}\n?", fullmatch=True),
        st.from_regex(r"[A-Za-z0-9]{6,10}\n?", fullmatch=True),
        st.from_regex(r"[A-Za-z0-9_.:-]{120,130}\n?", fullmatch=True),
    ),
)
def test_an_envelope_token_a_car_number_or_an_id_is_taken_exactly_when_it_matches_its_pattern(
    field: str, value: str
) -> None:
    """The session's tokens, the producer, the car's number and the id are checked by their Structs, not by a
    msgspec pattern (a regular expression each time): what decodes is still exactly what the pattern allows,
    the first time and every time after (a value seen before is not matched again)."""
    raw: dict[str, object] = {
        "id": "x1",
        "session": {"championship": "c", "event": "e", "session": "s"},
        "producer": "p",
        "at": 1,
        "body": {"type": "pit_in", "number": "7"},
    }
    where = {"number": "body", "championship": "session", "event": "session", "session": "session"}.get(field)
    if where is None:
        raw[field] = value
    else:
        raw[where] = {**raw[where], field: value}  # type: ignore[dict-item]
    data = msgspec.json.encode(raw)
    for _ in range(2):
        if re.fullmatch(PATTERNS[field], value):  # a newline after the token too: it could not be in a subject
            event = decode_event(data)
            holder = event if where is None else event.body if where == "body" else event.session
            assert getattr(holder, field) == value
        else:
            named = field if where is None else f"{where}.{field}"
            with pytest.raises(msgspec.ValidationError, match=f"^`{named}` must match regex"):
                decode_event(data)
