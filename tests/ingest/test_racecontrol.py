"""Race control from the command line, and the recorder, against a real nats-server."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nats.aio.client import Client

from schemas.events import (
    AdjustmentKind,
    CarRetired,
    ClassificationRules,
    DecisionWithdrawn,
    Event,
    EventBody,
    Flag,
    FlagChanged,
    LapDeleted,
    PenaltyIssued,
    PenaltyKind,
    PenaltyServed,
    PointsAdjusted,
    SessionRef,
    SessionStarted,
    TableKind,
)
from services.broker.connection import connect
from services.broker.reader import read_events
from services.classification.fold import ClassificationProjection
from services.cli import main
from services.ingest import racecontrol
from services.ingest.client import Producer
from services.ingest.racecontrol import (
    InputError,
    SessionView,
    as_stored,
    default_instant,
    judge,
    parse_duration_ms,
    penalty,
    race_control_body,
    race_control_event,
)
from services.ingest.service import IngestService
from services.ops.racelog import read_log
from tests.factory import T0, SessionWriter, small_race

T = TypeVar("T")


def run_ingest(nats_url: str, coroutine_factory: Callable[[Client], Awaitable[T]]) -> T:
    async def go() -> T:
        ingest = IngestService(nats_url)
        await ingest.start()
        nc = await connect(nats_url, "t")
        try:
            return await coroutine_factory(nc)
        finally:
            await nc.close()
            await ingest.stop()

    return asyncio.run(go())


@pytest.mark.parametrize(
    ("text", "ms"),
    [("5s", 5000), ("30", 30_000), ("1:05.250", 65_250), ("250ms", 250), ("2.5s", 2500), ("1:00:00", 3_600_000)],
)
def test_durations(text: str, ms: int) -> None:
    assert parse_duration_ms(text) == ms


@pytest.mark.parametrize("text", ["banana", "", "-5s", "nan", "inf", "0", "5 s", "1:5", "25:00:00", "1e3", "5sec"])
def test_an_amount_that_does_not_read_is_refused_with_a_message(text: str) -> None:
    with pytest.raises(InputError, match=r"not a time|at most 24 hours|more than 0"):
        parse_duration_ms(text)


def test_penalty_amounts_go_where_the_kind_says() -> None:
    assert penalty("7", "D1", "time", "5s", "").time_ms == 5000
    assert penalty("7", "D2", "lap-deduction", "2", "").laps == 2
    assert penalty("7", "D3", "position_drop", "3", "").positions == 3
    assert penalty("7", "D4", "disqualification", None, "").kind is PenaltyKind.DISQUALIFICATION
    with pytest.raises(InputError, match="takes no amount"):
        penalty("7", "D5", "exclusion", "3", "")
    with pytest.raises(InputError, match="not a number of laps"):
        penalty("7", "D6", "lap-deduction", "two", "")


@pytest.mark.parametrize("typed", ["drive-through", "drive_through", "Drive-Through"])
def test_one_spelling_on_the_line_and_the_stored_one_accepted(typed: str) -> None:
    assert penalty("7", "D1", typed, "30s", "").kind is PenaltyKind.DRIVE_THROUGH
    assert "drive-through" in racecontrol.PENALTY_KINDS and "safety-car" in racecontrol.FLAGS
    body = race_control_body("flag", flag="Safety_Car")
    assert isinstance(body, FlagChanged) and body.flag is Flag.SAFETY_CAR
    with pytest.raises(InputError, match="one of time, drive-through, stop-and-go"):
        penalty("7", "D1", "drive-thru", "30s", "")


def test_fields_the_schema_refuses_are_refused_before_sending() -> None:
    with pytest.raises(InputError, match="retire"):
        race_control_body("retire", number="#7")
    with pytest.raises(InputError, match="delete-lap"):
        race_control_body("delete-lap", number="7", decision="D 12", lap=3)
    with pytest.raises(InputError, match="delete-lap"):
        race_control_body("delete-lap", number="7", decision="D12", lap=0)


# -- judged against the session ------------------------------------------------------------------------------


def view_of(events: list[Event], last_stored: tuple[int, int] | None = None) -> SessionView:
    return SessionView.of(events[0].session, list(enumerate(events, start=1)), last_stored)


def judged(view: SessionView, body: EventBody, at: int | None = None) -> str | None:
    assert view.latest_at is not None
    return judge(race_control_event(view.session, body, view.latest_at if at is None else at), view)


def test_inputs_the_session_contradicts_are_refused_with_the_reason() -> None:
    w = SessionWriter()
    log = small_race(w, cars=3, laps=4)
    view = view_of(log)
    assert judged(view, CarRetired(number="9")) == f"car #9 is not registered in {w.session.key} (cars: 1, 2, 3)"
    deleted = judged(view, LapDeleted(number="2", decision="D1", lap=5))
    assert deleted == f"car #2 has no lap 5 in {w.session.key}: its laps run 1 to 4"
    assert judged(view, LapDeleted(number="2", decision="D1", lap=4)) is None
    withdrawn = judged(view, DecisionWithdrawn(decision="D9"))
    assert withdrawn == f"no decision D9 in force in {w.session.key} (in force: none)"
    assert judged(view, penalty("1", "D2", "time", None, "")) == "a time penalty needs its time, e.g. time 5s"
    assert "needs the time it converts to" in str(judged(view, penalty("1", "D2", "stop-and-go", None, "")))
    assert judged(view, penalty("1", "D2", "stop-and-go", "40s", "")) is None
    served = judged(view, PenaltyServed(number="1", decision="D2"))
    assert served == f"car #1 has no drive-through or stop-and-go D2 to serve in {w.session.key}"


def test_decision_numbers_are_not_reused() -> None:
    w = SessionWriter()
    first = race_control_event(w.session, penalty("1", "D1", "time", "5s", ""), T0 + 500_000)
    log = [*small_race(w, cars=2, laps=4), first]
    view = view_of(log)
    assert judged(view, penalty("1", "D1", "time", "5s", "")) is None  # the same command again: a duplicate
    again = judged(view, penalty("2", "D1", "time", "10s", ""))
    assert again is not None and again.startswith("penaltyissued-D1 is already stored with other content")
    lap = judged(view, LapDeleted(number="2", decision="D1", lap=3))
    assert (
        lap
        == f"decision D1 is already in force in {w.session.key} (on car #1): a new decision needs a new document number"
    )
    withdrawal = race_control_event(w.session, DecisionWithdrawn(decision="D1"), T0 + 600_000)
    view = view_of([*log, withdrawal])
    assert judged(view, DecisionWithdrawn(decision="D1")) is None  # a repeat
    assert judged(view, penalty("1", "D1", "time", "5s", "")) == (
        "decision D1 was withdrawn: a new decision needs a new document number"
    )


def test_a_repeat_without_an_instant_is_the_input_as_stored() -> None:
    """In a live session the default instant is now, a new one each time: the same command run again must still be
    the stored event (ingest answers a duplicate), not the same decision at another instant (a conflict)."""
    w = SessionWriter()
    first = race_control_event(w.session, penalty("1", "D1", "time", "5s", ""), T0 + 500_000)
    view = view_of([*small_race(w, cars=2, laps=4), first])
    again = race_control_event(w.session, penalty("1", "D1", "time", "5s", ""), T0 + 530_000)
    assert as_stored(again, view) == first
    other = race_control_event(w.session, penalty("1", "D1", "time", "10s", ""), T0 + 530_000)
    assert as_stored(other, view) == other  # another decision under the same number: judge refuses it


def test_the_rules_give_the_conversion_time_of_a_pit_lane_penalty() -> None:
    w = SessionWriter()
    rules = ClassificationRules(drive_through_ms=35_000)
    opened = w.event(msgspec.structs.replace(w.opened().body, rules=rules))  # type: ignore[arg-type]
    view = view_of([opened, w.entry("1"), w.event(SessionStarted())])
    body = race_control_body("penalty", number="1", decision="D1", kind="drive-through", rules=view.rules)
    assert isinstance(body, PenaltyIssued) and body.time_ms == 35_000
    assert judged(view, body) is None
    assert "needs the time" in str(judged(view, penalty("1", "D2", "stop-and-go", None, "", view.rules)))


def test_an_instant_far_outside_the_session_is_refused() -> None:
    w = SessionWriter()
    view = view_of(small_race(w, cars=2, laps=3))
    assert view.latest_at is not None and view.first_at is not None
    later = judged(view, FlagChanged(flag=Flag.RED), at=view.latest_at + 5255 * 3_600_000)
    assert later is not None and "5,255.0 h after the session's latest event" in later
    earlier = judged(view, FlagChanged(flag=Flag.RED), at=view.first_at - 2 * 86_400_000)
    assert earlier is not None and "before the session's first event" in earlier
    assert judged(view, FlagChanged(flag=Flag.RED), at=view.latest_at + 20 * 3_600_000) is None  # the next morning


def test_without_an_instant_a_replayed_session_keeps_its_own_clock_and_a_live_one_takes_now() -> None:
    w = SessionWriter()
    log = small_race(w, cars=2, laps=3)
    latest = max(e.at for e in log)
    now = latest + 5255 * 3_600_000
    assert default_instant(view_of(log, (latest, now - 3_600_000)), now) == latest  # stored long after: a replay
    assert default_instant(view_of(log), now) == latest  # unknown: taken for a replay
    assert default_instant(view_of(log, (latest, latest + 1_500)), latest + 30_000) == latest + 30_000  # live
    assert default_instant(SessionView(w.session), now) == now  # nothing yet


def test_points_decisions_are_judged_in_the_championships_session() -> None:
    w = SessionWriter(session=SessionRef.championship_of("tseries"))
    adjusted = PointsAdjusted(
        decision="P1", kind=AdjustmentKind.DEDUCTION, table=TableKind.DRIVERS, competitor="Ann", points=5
    )
    view = view_of([w.event(adjusted)])
    assert judged(view, DecisionWithdrawn(decision="P1")) is None
    refused = judged(view, DecisionWithdrawn(decision="P2"))
    assert refused == "no points decision P2 in force in tseries._championship.points (in force: P1)"


INPUT = st.one_of(
    st.builds(lambda n, d, lap: ("delete-lap", {"number": n, "decision": d, "lap": lap}),
              st.sampled_from(["1", "2", "9"]), st.sampled_from(["D1", "D2", "D3"]), st.integers(1, 6)),
    st.builds(lambda n, d, k, a: ("penalty", {"number": n, "decision": d, "kind": k, "amount": a}),
              st.sampled_from(["1", "2", "9"]), st.sampled_from(["D1", "D2", "D3"]),
              st.sampled_from(racecontrol.PENALTY_KINDS), st.sampled_from([None, "5s", "2", "banana"])),
    st.builds(lambda d: ("withdraw", {"decision": d}), st.sampled_from(["D1", "D2", "D3"])),
    st.builds(lambda n: ("retire", {"number": n}), st.sampled_from(["1", "2", "9"])),
)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(inputs=st.lists(INPUT, max_size=8))
def test_what_race_control_lets_through_the_fold_takes(inputs: list[tuple[str, dict[str, Any]]]) -> None:
    """Any sequence of inputs: each one judge lets through is folded without a refusal (never dead-lettered)."""
    w = SessionWriter()
    log = small_race(w, cars=2, laps=4)
    for step, (what, fields) in enumerate(inputs):
        view = view_of(log)
        try:
            body = race_control_body(what, **fields, rules=view.rules)
        except InputError:
            continue
        event = race_control_event(w.session, body, T0 + 500_000 + step)
        if judge(event, view) is None and event.msg_id not in view.stored:
            projection = ClassificationProjection()
            for seq, stored in enumerate([*log, event], start=1):
                assert projection.apply(seq, stored) is None, (what, fields)
            log.append(event)


def test_publish_is_idempotent_and_rejections_are_explained(nats_url: str, tmp_path: Path) -> None:
    w = SessionWriter()

    def start_session(nc):  # type: ignore[no-untyped-def]
        return Producer(nc).send_all(small_race(w, cars=2, laps=2))

    run_ingest(nats_url, start_session)
    key = w.session.key
    ingest_running = ["--nats", nats_url]

    def publish(*args: str) -> int:
        async def go(nc):  # type: ignore[no-untyped-def]
            return await asyncio.to_thread(main, ["publish", key, *ingest_running, *args])

        return int(run_ingest(nats_url, go))

    issued = ("penalty", "1", "D7", "time", "5s", "--reason", "unsafe release")
    assert publish("--at", str(T0 + 500_000), *issued) == 0
    assert publish("--at", str(T0 + 500_000), *issued) == 0  # the same command again: a duplicate
    assert publish("--at", str(T0 + 900_000), *issued) == 1  # D7 again, another instant: a conflict, not stored
    assert publish("--at", "1776603700000", "flag", "safety_car") == 0
    assert publish("--at", str(T0 + 600_000), "retire", "99") == 1  # no such car: rejected, with the reason
    stored = run_ingest(nats_url, lambda nc: read_events(nc.jetstream(), key))
    penalties = [e for _, e in stored if e.producer == "race-control" and type(e.body).__name__ == "PenaltyIssued"]
    assert len(penalties) == 1 and penalties[0].id == "penaltyissued-D7"

    out = tmp_path / "race.jsonl.gz"
    assert main(["record", key, "--out", str(out), "--nats", nats_url]) == 0
    assert [e.id for e in read_log(out)] == [e.id for _, e in stored]
