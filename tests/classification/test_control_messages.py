"""The race-control feed: flags, penalties, decisions, retirements and results, as the fold announces them."""

from __future__ import annotations

from schemas import events
from schemas.results import MESSAGES_IN_VALUE, MessageKind, encode_classification
from services.classification.control_messages import REASON_CHARS, seconds
from tests.factory import SessionWriter, resumed, session_fold

LAP = 100_000


def race_with_race_control(w: SessionWriter) -> list[events.Event]:
    log = [w.opened(time_ms=3 * LAP), w.entry("7"), w.entry("8"), w.event(events.SessionStarted(), 0)]
    log += [w.lap("7", 1, LAP), w.lap("8", 1, LAP + 500)]
    log.append(w.event(events.FlagChanged(flag=events.Flag.YELLOW, sector=2), LAP + 10_000))
    log.append(w.event(events.FlagChanged(flag=events.Flag.GREEN, sector=2), LAP + 20_000))
    log.append(w.event(events.FlagChanged(flag=events.Flag.FULL_COURSE_YELLOW), LAP + 30_000))
    log.append(
        w.event(events.FlagChanged(flag=events.Flag.FULL_COURSE_YELLOW), LAP + 31_000)
    )  # already out: nothing new
    log.append(w.event(events.FlagChanged(flag=events.Flag.GREEN), LAP + 60_000))
    penalty = events.PenaltyIssued(
        number="8", decision="D1", kind=events.PenaltyKind.DRIVE_THROUGH, reason="unsafe release"
    )
    log.append(w.event(penalty, LAP + 70_000))
    log.append(w.event(events.PenaltyServed(number="8", decision="D1"), LAP + 90_000))
    log.append(w.event(events.LapDeleted(number="7", decision="D2", lap=1, reason="track limits T4"), LAP + 95_000))
    log.append(
        w.event(events.PenaltyIssued(number="7", decision="D3", kind=events.PenaltyKind.TIME, time_ms=5_000), 2 * LAP)
    )
    log.append(w.event(events.DecisionWithdrawn(decision="D3", reason="appeal upheld"), 2 * LAP + 1))
    log += [w.lap("7", 2, 2 * LAP + 10), w.lap("8", 2, 2 * LAP + 600)]
    log.append(w.event(events.CarRetired(number="8", reason="gearbox"), 2 * LAP + 50_000))
    log.append(w.lap("7", 3, 3 * LAP + 20))  # the distance is done: the leader takes the flag
    log.append(w.event(events.SessionFinished(), 3 * LAP + 20))  # race control shows it too: said once
    log.append(w.event(events.ResultsDeclared(status=events.ResultsStatus.PROVISIONAL), 4 * LAP))
    return log


def test_the_feed_of_a_race() -> None:
    w = SessionWriter()
    log = race_with_race_control(w)
    state = session_fold(log)
    assert [(m.kind, m.text) for m in state.messages] == [
        (MessageKind.STARTED, "Green flag: race started"),
        (MessageKind.FLAG, "Yellow flag in sector 2"),
        (MessageKind.FLAG, "Sector 2 clear"),
        (MessageKind.FLAG, "Full course yellow"),
        (MessageKind.FLAG, "Green flag"),
        (MessageKind.PENALTY, "#8: drive-through penalty (unsafe release) [D1]"),
        (MessageKind.PENALTY_SERVED, "#8 served its drive-through [D1]"),
        (MessageKind.LAP_DELETED, "#7: lap 1 time deleted (track limits T4) [D2]"),
        (MessageKind.PENALTY, "#7: 5 s time penalty [D3]"),
        (MessageKind.DECISION_WITHDRAWN, "#7: decision D3 withdrawn (appeal upheld)"),
        (MessageKind.RETIRED, "#8 retired (gearbox)"),
        (MessageKind.CHEQUERED, "Chequered flag"),
        (MessageKind.RESULTS, "Provisional results declared"),
    ]
    by_seq = dict(enumerate(log, start=1))
    assert all(by_seq[m.seq].at == m.at for m in state.messages), "each at its event's timing-clock instant"
    withdrawn = state.messages[9]
    assert (withdrawn.number, withdrawn.decision) == ("7", "D3")
    value = state.classification()
    assert value.messages == state.messages[-MESSAGES_IN_VALUE:]
    assert value.message_count == len(state.messages)


def test_the_feed_survives_a_snapshot() -> None:
    w = SessionWriter()
    log = race_with_race_control(w)
    for cut in range(1, len(log)):
        restored, whole = resumed(log, cut)
        assert restored.messages == whole.messages
        assert encode_classification(restored.classification()) == encode_classification(whole.classification())


def test_a_refused_event_announces_nothing() -> None:
    w = SessionWriter()
    log = [w.opened(), w.entry("7"), w.event(events.SessionStarted(), 0)]
    log.append(w.event(events.PenaltyServed(number="7", decision="nope"), 1_000))  # no such penalty: refused
    log.append(w.event(events.DecisionWithdrawn(decision="nope"), 2_000))  # refused
    state = session_fold(log)
    assert [m.kind for m in state.messages] == [MessageKind.STARTED]


def test_every_penalty_reads_as_the_stewards_write_it() -> None:
    w = SessionWriter()
    log = [w.opened(), w.entry("7"), w.event(events.SessionStarted(), 0)]
    kinds = [
        (events.PenaltyKind.TIME, {"time_ms": 2_500}, "#7: 2.5 s time penalty [P0]"),
        (events.PenaltyKind.STOP_AND_GO, {"time_ms": 10_000}, "#7: 10 s stop-and-go penalty [P1]"),
        (events.PenaltyKind.LAP_DEDUCTION, {"laps": 1}, "#7: 1 lap deducted [P2]"),
        (events.PenaltyKind.LAP_DEDUCTION, {"laps": 3}, "#7: 3 laps deducted [P3]"),
        (events.PenaltyKind.POSITION_DROP, {"positions": 2}, "#7: dropped 2 positions [P4]"),
        (events.PenaltyKind.DISQUALIFICATION, {}, "#7 disqualified [P5]"),
        (events.PenaltyKind.EXCLUSION, {}, "#7 excluded [P6]"),
    ]
    for i, (kind, amounts, _) in enumerate(kinds):
        log.append(w.event(events.PenaltyIssued(number="7", decision=f"P{i}", kind=kind, **amounts), 1_000 + i))  # type: ignore[arg-type]
    log.append(w.event(events.CarRetired(number="7", reason="x" * 5_000, source=events.RetirementSource.CHART), 9_000))
    state = session_fold(log)
    assert [m.text for m in state.messages[1:-1]] == [text for _, _, text in kinds]
    retired = state.messages[-1].text
    assert retired.endswith("…) (from the lap chart)") and len(retired) < REASON_CHARS + 40
    assert [seconds(ms) for ms in (5_000, 2_500, 90_000, 1)] == ["5 s", "2.5 s", "90 s", "0.001 s"]
