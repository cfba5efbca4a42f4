"""Fuzzing the ingest path and both feed adapters: no crash, every rejection explained."""

from __future__ import annotations

import msgspec
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from schemas.events import Event, encode_event
from schemas.ingest import Rejected
from services.classification.fold import ClassificationProjection
from services.feeds.alkamel.parser import AnalysisError, read_analysis
from services.feeds.rmonitor.parser import ParseError, parse_line
from services.ingest.rules import IngestLedger, decode_submission, fingerprint
from tests.factory import SessionWriter

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=6),
    max_leaves=20,
)


def mutated_events() -> st.SearchStrategy[bytes]:
    """Valid events with one field replaced by something arbitrary: close to right, which finds more."""
    w = SessionWriter()
    samples = [w.opened(), w.entry("7"), w.lap("7", 3, 1000, sectors_ms=[1, 2, 3]), w.lap("8", 1, 5)]

    @st.composite
    def build(draw: st.DrawFn) -> bytes:
        raw = msgspec.to_builtins(draw(st.sampled_from(samples)))
        target = raw["body"] if draw(st.booleans()) else raw
        target[draw(st.sampled_from(sorted(target)))] = draw(json_values)
        return msgspec.json.encode(raw)

    return build()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=200), json_values.map(msgspec.json.encode), mutated_events()))
@example(b'"\x80"')  # a JSON string of bad UTF-8: the upcast's second decode raised UnicodeDecodeError
def test_ingest_judges_anything_without_crashing_and_says_why(data: bytes) -> None:
    w = SessionWriter()
    ledger = IngestLedger()
    for seq, event in enumerate([w.opened(), w.entry("7")], start=1):
        ledger.admit(event, seq, fingerprint(encode_event(event)))
    decoded = decode_submission(f"chequered.ingest.{w.session.key}", data)
    if isinstance(decoded, Rejected):
        assert decoded.reason.strip()
        return
    problem = ledger.check(decoded)
    assert problem is None or problem.reason.strip()


@settings(max_examples=300, deadline=None)
@given(mutated_events())
def test_the_fold_refuses_with_a_reason_or_applies(data: bytes) -> None:
    projection = ClassificationProjection()
    w = SessionWriter()
    subject = f"chequered.events.{w.session.key}"
    for seq, event in enumerate([w.opened(), w.entry("7")], start=1):
        projection.apply_raw(seq, subject, encode_event(event))
    _, refused = projection.apply_raw(10, subject, data)
    assert refused is None or refused.reason.strip()


rmonitor_lines = st.one_of(
    st.text(max_size=120),
    st.builds(
        lambda record, fields: record + ",".join(fields),
        st.sampled_from(
            ["$F,", "$A,", "$COMP,", "$B,", "$C,", "$E,", "$G,", "$H,", "$I,", "$J,", "$COR,", "$L,", "##"]
        ),
        st.lists(st.one_of(st.text(max_size=12), st.from_regex(r'"?[0-9:.]{0,12}"?', fullmatch=True)), max_size=9),
    ),
)


@settings(max_examples=500, deadline=None)
@given(rmonitor_lines)
def test_rmonitor_lines_parse_or_raise_a_parse_error_with_a_reason(line: str) -> None:
    try:
        parse_line(line)
    except ParseError as error:
        assert str(error).strip()


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.lists(st.text(alphabet=st.characters(exclude_characters=";\r\n"), max_size=10), max_size=30), max_size=5
    )
)
def test_alkamel_csv_reads_or_raises_an_analysis_error(rows: list[list[str]]) -> None:
    header = "NUMBER; DRIVER_NUMBER; LAP_NUMBER; LAP_TIME; CROSSING_FINISH_LINE_IN_PIT; ELAPSED; HOUR; CLASS;"
    body = "\n".join(";".join(row) + ";" for row in rows)
    try:
        read_analysis(("\ufeff" + header + "\n" + body).encode("utf-8", "surrogatepass"))
    except AnalysisError as error:
        assert str(error).strip()


def test_a_valid_event_is_not_rejected() -> None:
    """The fuzz tests above would pass vacuously if everything were rejected."""
    w = SessionWriter()
    decoded = decode_submission(f"chequered.ingest.{w.session.key}", encode_event(w.opened()))
    assert isinstance(decoded, Event)
