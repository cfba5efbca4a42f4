"""Ingest's pure rules: plausible instants, laps that move forward in time, repeats and conflicts, versions,
configurations, reply subjects. Property tests hold ingest to the fold: what ingest accepts, the fold applies."""

from __future__ import annotations

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.events import (
    MAX_INSTANT,
    SCHEMA_VERSION,
    ChampionshipConfigured,
    DecisionWithdrawn,
    Event,
    LapCompleted,
    LapDeleted,
    PenaltyIssued,
    PenaltyKind,
    PenaltyServed,
    SessionRef,
    encode_event,
)
from schemas.ingest import RejectCode, Rejected
from services.classification.fold import ClassificationProjection
from services.ingest.rules import (
    BEFORE_OPENING_MS,
    DECISION_WINDOW_MS,
    TRACK_GAP_MS,
    IngestLedger,
    decode_submission,
    fingerprint,
    reply_problem,
)
from tests.factory import SessionWriter

HOUR = 3_600_000
YEAR_3000 = 32_503_680_000_000


def folds_whatever_ingest_admits(events: list[Event]) -> None:
    """Every event ingest's ledger admits (in order, as stored), the fold applies without refusing it."""
    ledger = IngestLedger()
    projection = ClassificationProjection()
    for seq, event in enumerate(events, start=1):
        if ledger.check(event) is not None:
            continue
        ledger.admit(event, seq, fingerprint(encode_event(event)))
        assert projection.apply(seq, event) is None, event


def ledger_of(*events: Event) -> IngestLedger:
    ledger = IngestLedger()
    for seq, event in enumerate(events, start=1):
        assert ledger.check(event) is None, event
        ledger.admit(event, seq, fingerprint(encode_event(event)))
    return ledger


def opened_with_a_car() -> tuple[SessionWriter, IngestLedger]:
    w = SessionWriter()
    return w, ledger_of(w.opened(), w.entry("7"))


def judged(data: bytes, w: SessionWriter) -> Event | Rejected:
    return decode_submission(f"chequered.ingest.{w.session.key}", data)


def test_a_lap_dated_in_the_year_3000_is_refused_before_anything_is_stored() -> None:
    """It ended a time-certain race for good: the leader's 'first crossing after the time'."""
    w, _ = opened_with_a_car()
    lap = {**msgspec.to_builtins(w.lap("7", 1, 0)), "at": YEAR_3000}
    refused = judged(msgspec.json.encode(lap), w)
    assert isinstance(refused, Rejected) and refused.code is RejectCode.MALFORMED
    assert f"<= {MAX_INSTANT}" in refused.reason and "$.at" in refused.reason


def test_timing_far_after_the_session_is_implausible() -> None:
    w, ledger = opened_with_a_car()
    started = w.event(LapCompleted(number="7", lap=1, lap_time_ms=100_000), 3 * HOUR)
    ledger.admit(started, 3, fingerprint(encode_event(started)))
    late = w.lap("7", 2, 3 * HOUR + TRACK_GAP_MS + 1)
    refused = ledger.check(late)
    assert isinstance(refused, Rejected) and refused.code is RejectCode.IMPLAUSIBLE
    assert "more than 48 h after the latest timing" in refused.reason and "check the timing clock" in refused.reason
    assert ledger.check(w.lap("7", 2, 3 * HOUR + TRACK_GAP_MS)) is None


def test_nothing_long_before_the_opening() -> None:
    w, ledger = opened_with_a_car()
    refused = ledger.check(w.lap("7", 1, -BEFORE_OPENING_MS - 1))
    assert isinstance(refused, Rejected) and refused.code is RejectCode.IMPLAUSIBLE
    assert "more than 48 h before session" in refused.reason


def test_decisions_may_come_months_later_but_not_years() -> None:
    """An appeal is decided months after the race; a decision dated years later is a clock fault."""
    w, ledger = opened_with_a_car()

    def penalty(at: int, decision: str) -> Event:
        body = PenaltyIssued(number="7", decision=decision, kind=PenaltyKind.TIME, time_ms=5000)
        return w.event(body, at)

    assert ledger.check(penalty(DECISION_WINDOW_MS, "D1")) is None
    refused = ledger.check(penalty(DECISION_WINDOW_MS + 1, "D2"))
    assert isinstance(refused, Rejected) and refused.code is RejectCode.IMPLAUSIBLE and "400 days" in refused.reason


def test_a_lap_that_ends_before_the_previous_one_is_refused_and_the_right_one_still_taken() -> None:
    """Ingest took it, the fold then dead-lettered it, and lap 2 could never be sent again (its number was used)."""
    w, ledger = opened_with_a_car()
    first = w.lap("7", 1, 200_000)
    ledger.admit(first, 3, fingerprint(encode_event(first)))
    backwards = w.lap("7", 2, 150_000)
    refused = ledger.check(backwards)
    assert isinstance(refused, Rejected) and refused.code is RejectCode.IMPLAUSIBLE
    assert "ends at" in refused.reason and "before its lap 1 ended" in refused.reason
    assert ledger.check(w.lap("7", 2, 300_000)) is None


def test_a_schema_version_from_the_future_is_refused() -> None:
    w = SessionWriter()
    raw = msgspec.to_builtins(w.opened())
    for body in ({**raw, "v": SCHEMA_VERSION + 1}, {**raw, "v": SCHEMA_VERSION + 1, "new_field": 1}):
        refused = judged(msgspec.json.encode(body), w)
        assert isinstance(refused, Rejected) and refused.code is RejectCode.UNSUPPORTED_VERSION
        assert f"schema version {SCHEMA_VERSION + 1} is newer" in refused.reason


def test_a_points_configuration_the_engine_cannot_use_is_refused_with_its_field() -> None:
    session = SessionRef.championship_of("champ")
    body = ChampionshipConfigured(toml="v = 1\nchampionship = 3\n", source="bad.toml")
    config = Event(id="c1", session=session, producer="ops", at=1, body=body)
    refused = IngestLedger().check(config)
    assert isinstance(refused, Rejected) and refused.code is RejectCode.INVALID_CONFIG
    assert refused.reason.startswith("bad.toml: $.championship: Expected `str`, got `int`")


@given(st.text(max_size=40))
def test_ingest_answers_only_to_inboxes(reply: str) -> None:
    problem = reply_problem(reply)
    is_inbox = reply.startswith("_INBOX.") and len(reply) > len("_INBOX.") and reply[len("_INBOX.")] != "."
    assert (problem is None) == is_inbox
    assert problem is None or problem.code is RejectCode.REPLY_NOT_INBOX


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["1", "2"]), st.integers(0, 5), st.integers(-HOUR, HOUR), st.booleans())
def test_the_same_id_is_a_duplicate_exactly_when_the_content_is_the_same(
    number: str, lap: int, shift: int, same: bool
) -> None:
    """The ledger keeps a 64-bit digest of each stored event's canonical encoding: the id again with the same
    content is a repeat, with any other content (another instant, another lap) a conflict."""
    w = SessionWriter()
    stored = w.lap(number, lap + 1, HOUR)
    again = stored if same else w.event(LapCompleted(number=number, lap=lap + 1, lap_time_ms=100_000), HOUR + shift)
    again = msgspec.structs.replace(again, id=stored.id)
    ledger = IngestLedger()
    ledger.admit(stored, 9, fingerprint(encode_event(stored)))
    known = ledger.known(again.session.key, again.msg_id)
    assert known is not None and known[0] == 9
    assert (known[1] == fingerprint(encode_event(again))) == (encode_event(again) == encode_event(stored))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["1", "2", "3"]), st.integers(1, 6), st.integers(-4 * HOUR, 60 * HOUR)),
        max_size=30,
    )
)
def test_whatever_ingest_accepts_the_fold_applies(laps: list[tuple[str, int, int]]) -> None:
    """Laps in any order, numbers and instants, some going back in time or days away: every lap ingest lets
    through, the fold takes (a lap the fold refused after ingest stored it could never be corrected)."""
    w = SessionWriter()
    events = [w.opened(), *(w.entry(n) for n in ("1", "2", "3"))]
    events += [w.lap(number, lap, at) for number, lap, at in laps]
    folds_whatever_ingest_admits(events)


def test_free_text_is_bounded_so_no_event_can_bloat_a_read_model() -> None:
    """Two penalties with a 600 kB reason made the classification larger than any message."""
    w, _ = opened_with_a_car()
    body = PenaltyIssued(number="7", decision="D1", kind=PenaltyKind.TIME, time_ms=5000, reason="x" * 600_000)
    refused = judged(encode_event(w.event(body)), w)
    assert isinstance(refused, Rejected) and refused.code is RejectCode.MALFORMED
    assert "length <= 1024" in refused.reason and "$.body.reason" in refused.reason


def inconsistent(ledger: IngestLedger, event: Event) -> str:
    refused = ledger.check(event)
    assert isinstance(refused, Rejected) and refused.code is RejectCode.INCONSISTENT, refused
    return refused.reason


def test_decisions_are_consistent_whoever_sends_them() -> None:
    """Held at ingest for every producer (a race-control application too, not only ``chequered publish``): the
    fold would otherwise dead-letter them, or take a re-used number for a new decision."""
    w, ledger = opened_with_a_car()
    for event in (w.lap("7", 1, 100_000), w.lap("7", 2, 200_000)):
        ledger.admit(event, 9, fingerprint(encode_event(event)))
    assert "cannot be deleted" in inconsistent(ledger, w.event(LapDeleted(number="7", decision="D1", lap=3), 250_000))
    drive_through = w.event(
        PenaltyIssued(number="7", decision="D2", kind=PenaltyKind.DRIVE_THROUGH, time_ms=30_000), 250_000
    )
    time = w.event(PenaltyIssued(number="7", decision="D3", kind=PenaltyKind.TIME, time_ms=5_000), 250_000)
    for event in (w.event(LapDeleted(number="7", decision="D1", lap=2), 250_000), drive_through, time):
        assert ledger.check(event) is None
        ledger.admit(event, 10, fingerprint(encode_event(event)))
    reused = w.event(PenaltyIssued(number="7", decision="D1", kind=PenaltyKind.TIME, time_ms=5_000), 260_000)
    assert "already exists" in inconsistent(ledger, reused)
    assert "nothing to serve" in inconsistent(ledger, w.event(PenaltyServed(number="7", decision="D3"), 260_000))
    assert "no decision D9" in inconsistent(ledger, w.event(DecisionWithdrawn(decision="D9"), 260_000))
    served = w.event(PenaltyServed(number="7", decision="D2"), 260_000)
    assert ledger.check(served) is None
    withdrawn = w.event(DecisionWithdrawn(decision="D3"), 270_000)
    assert ledger.check(withdrawn) is None
    ledger.admit(withdrawn, 11, fingerprint(encode_event(withdrawn)))
    assert "withdrawn" in inconsistent(ledger, w.event(DecisionWithdrawn(decision="D3"), 280_000))
    again = w.event(PenaltyIssued(number="7", decision="D3", kind=PenaltyKind.TIME, time_ms=9_000), 280_000)
    assert "(withdrawn)" in inconsistent(ledger, again)


DECISION = st.sampled_from(["D1", "D2", "D3"])
DECISION_INPUTS = st.one_of(
    st.builds(
        lambda n, d, k: PenaltyIssued(number=n, decision=d, kind=k, time_ms=10_000),
        st.sampled_from(["1", "2"]),
        DECISION,
        st.sampled_from([PenaltyKind.TIME, PenaltyKind.DRIVE_THROUGH, PenaltyKind.LAP_DEDUCTION]),
    ),
    st.builds(
        lambda n, d, lap: LapDeleted(number=n, decision=d, lap=lap),
        st.sampled_from(["1", "2"]),
        DECISION,
        st.integers(1, 4),
    ),
    st.builds(lambda n, d: PenaltyServed(number=n, decision=d), st.sampled_from(["1", "2"]), DECISION),
    st.builds(lambda d: DecisionWithdrawn(decision=d), DECISION),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(DECISION_INPUTS, st.sampled_from(["lap1", "lap2"])), max_size=25))
def test_whatever_decisions_ingest_accepts_the_fold_applies(inputs: list[object]) -> None:
    """Decisions, serves, withdrawals and deletions in any order, mixed with laps: every one ingest lets through,
    the fold takes."""
    w = SessionWriter()
    events = [w.opened(), w.entry("1"), w.entry("2")]
    laps = {"1": 0, "2": 0}
    for step, item in enumerate(inputs, start=1):
        if isinstance(item, str):
            number = item[-1]
            laps[number] += 1
            events.append(w.lap(number, laps[number], step * 100_000))
        else:
            events.append(w.event(item, step * 100_000))  # type: ignore[arg-type]
    folds_whatever_ingest_admits(events)
