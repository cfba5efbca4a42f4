"""The fold's two feed corrections: a lap corrected by the timing system, and its scoreboard reported."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import events
from schemas.results import ClassifiedCar, Disagreement, DisagreementKind, encode_classification
from services.classification.fold import SessionFold, fold_log
from tests.factory import T0, SessionWriter, resumed, session_fold, small_race

LAP = 100_000


def car(state: SessionFold, number: str) -> ClassifiedCar:
    return next(c for c in state.classification().cars if c.number == number)


def board(
    w: SessionWriter,
    at: int,
    *rows: events.ScoreboardCar,
    reason: events.ScoreboardReason = events.ScoreboardReason.FIRST,
) -> events.Event:
    return w.event(events.ScoreboardReported(source="rmonitor", reason=reason, cars=list(rows)), at)


def row(number: str, laps: int, at: int, **fields: int) -> events.ScoreboardCar:
    return events.ScoreboardCar(number=number, laps=laps, total_ms=at, last_crossing=T0 + at, **fields)


def race(w: SessionWriter, kind: events.SessionKind = events.SessionKind.RACE) -> list[events.Event]:
    """Two cars, three laps each at 100 s (#2 0.5 s behind), the third lap of #1 a 99 s best."""
    log = [w.opened(kind), w.entry("1"), w.entry("2"), w.event(events.SessionStarted(), 0)]
    for lap in (1, 2, 3):
        log.append(w.lap("1", lap, lap * LAP - (1000 if lap == 3 else 0), LAP - (1000 if lap == 3 else 0)))
        log.append(w.lap("2", lap, lap * LAP + 500))
    return log


# -- lap corrected -----------------------------------------------------------------------------


def test_a_corrected_passing_replaces_the_laps_crossing_and_time() -> None:
    w = SessionWriter()
    log = race(w)
    log.append(
        w.event(events.LapCorrected(number="1", lap=3, crossing=T0 + 3 * LAP - 1003, lap_time_ms=98_997), 299_000)
    )
    state = session_fold(log)
    one = car(state, "1")
    assert (one.best_lap_ms, one.best_lap, one.last_lap_ms, one.total_time_ms) == (98_997, 3, 98_997, 298_997)
    fastest = state.classification().fastest_lap
    assert fastest is not None and fastest.ms == 98_997


def test_a_best_the_timing_system_revokes_is_no_best_and_comes_back_when_restored() -> None:
    w = SessionWriter()
    log = race(w)
    revoked = session_fold([*log, w.event(events.LapCorrected(number="1", lap=3, counts_for_best=False), 301_000)])
    assert (car(revoked, "1").best_lap, car(revoked, "1").best_lap_ms, car(revoked, "1").laps) == (1, LAP, 3)
    restored = [
        *log,
        w.event(events.LapCorrected(number="1", lap=3, counts_for_best=False), 301_000),
        w.event(events.LapCorrected(number="1", lap=3, counts_for_best=True), 302_000),
    ]
    assert car(session_fold(restored), "1").best_lap_ms == 99_000


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (events.LapCorrected(number="1", lap=4, lap_time_ms=90_000), "has no lap 4"),
        (events.LapCorrected(number="1", lap=2, crossing=T0 + 3 * LAP), "leaves its place"),
        (events.LapCorrected(number="1", lap=2, crossing=T0 + LAP - 1), "leaves its place"),
    ],
)
def test_a_correction_the_laps_cannot_take_is_refused_and_changes_nothing(
    body: events.LapCorrected, reason: str
) -> None:
    w = SessionWriter()
    log = race(w)
    before = encode_classification(session_fold(log).classification())
    projection = fold_log(enumerate(log, start=1))
    refused = projection.apply(len(log) + 1, w.event(body, 400_000))
    assert refused is not None and reason in refused.reason
    after = projection.sessions[w.session.key].classification()
    assert encode_classification(msgspec.structs.replace(after, last_seq=len(log))) == before


# -- scoreboard reported ------------------------------------------------------------------------


def test_a_car_never_seen_passing_takes_the_scoreboards_laps_position_and_best() -> None:
    w = SessionWriter()
    log = [*race(w), w.entry("3")]
    log.append(board(w, 310_000, row("3", 2, 250_000, position=3, best_lap=2, best_lap_ms=97_500)))
    three = car(session_fold(log), "3")
    assert (three.laps, three.scoreboard_laps, three.scoreboard_position) == (2, 2, 3)
    assert (three.best_lap, three.best_lap_ms, three.last_lap_ms) == (2, 97_500, 97_500)  # its last lap, known
    assert three.disagreements == []
    fastest = session_fold(log).classification().fastest_lap
    assert fastest is not None and fastest.number == "3"


def test_laps_after_the_last_passing_are_laps_from_the_scoreboard_and_passings_go_on() -> None:
    w = SessionWriter()
    log = race(w)  # #2 seen to lap 3; the scoreboard then says 6, its best 98 s on lap 5
    log.append(
        board(w, 640_000, row("2", 6, 600_500, best_lap=5, best_lap_ms=98_000), reason=events.ScoreboardReason.GAP)
    )
    log.append(w.lap("2", 7, 700_500))
    two = car(session_fold(log), "2")
    assert (two.laps, two.scoreboard_laps, two.best_lap, two.best_lap_ms, two.last_lap_ms) == (7, 3, 5, 98_000, LAP)
    assert two.last_crossing == T0 + 700_500
    assert car(session_fold(log), "2").disagreements == []


def test_where_passings_and_scoreboard_disagree_the_passings_stay_and_the_car_is_marked() -> None:
    w = SessionWriter()
    log = [*race(w), board(w, 310_000, row("1", 2, 200_000, best_lap=1, best_lap_ms=LAP))]
    one = car(session_fold(log), "1")
    assert (one.laps, one.best_lap_ms, one.scoreboard_laps) == (3, 99_000, 0)
    assert one.disagreements == [
        Disagreement(what=DisagreementKind.LAPS, ours=3, scoreboard=2),
        Disagreement(what=DisagreementKind.BEST_LAP, ours=99_000, scoreboard=LAP),
    ]
    agreeing = [*log, board(w, 320_000, row("1", 3, 299_000, best_lap=3, best_lap_ms=99_000))]
    assert car(session_fold(agreeing), "1").disagreements == []


def test_a_passing_that_arrives_after_the_scoreboard_fills_its_lap() -> None:
    w = SessionWriter()
    log = [*race(w), board(w, 400_000, row("2", 4, 400_500))]
    log.append(w.event(events.LapCorrected(number="2", lap=4, lap_time_ms=LAP, counts_for_best=True), 401_000))
    two = car(session_fold(log), "2")
    assert (two.laps, two.scoreboard_laps, two.last_lap_ms) == (4, 0, LAP)


def test_a_scoreboard_naming_an_unknown_car_is_refused_whole() -> None:
    w = SessionWriter()
    projection = fold_log(enumerate(race(w), start=1))
    refused = projection.apply(100, board(w, 310_000, row("2", 5, 500_000), row("99", 1, 100_000)))
    assert refused is not None and "#99" in refused.reason
    assert car(projection.sessions[w.session.key], "2").laps == 3


def test_qualifying_orders_by_the_scoreboards_best_for_cars_it_did_not_see() -> None:
    w = SessionWriter()
    log = [*race(w, events.SessionKind.QUALIFYING), w.entry("3")]
    log.append(board(w, 310_000, row("3", 4, 300_000, best_lap=2, best_lap_ms=98_000)))
    assert [c.number for c in session_fold(log).classification().cars] == ["3", "1", "2"]


# -- snapshots ----------------------------------------------------------------------------------


@st.composite
def corrected_races(draw: st.DrawFn) -> list[events.Event]:
    """A small race with scoreboards and corrections at random places (some refused: the fold must agree)."""
    w = SessionWriter()
    log = small_race(w, cars=draw(st.integers(1, 4)), laps=draw(st.integers(1, 5)))
    for _ in range(draw(st.integers(0, 6))):
        number = str(draw(st.integers(1, 4)))
        lap = draw(st.integers(1, 8))
        at = draw(st.integers(0, 900_000))
        if draw(st.booleans()):
            fields = {"best_lap": draw(st.integers(1, lap)), "best_lap_ms": draw(st.integers(90_000, 110_000))}
            fields["position"] = draw(st.integers(1, 4))
            body: events.LapCorrected | events.ScoreboardReported = events.ScoreboardReported(
                source="test", reason=events.ScoreboardReason.UPDATE, cars=[row(number, lap, lap * LAP + 9, **fields)]
            )
        else:
            body = events.LapCorrected(number=number, lap=lap, lap_time_ms=draw(st.integers(90_000, 110_000)))
        log.insert(draw(st.integers(len(log) // 2, len(log))), w.event(body, at))
    return log


@settings(max_examples=100, deadline=None)
@given(corrected_races(), st.data())
def test_snapshot_then_rest_equals_the_whole_fold_with_scoreboards(
    log: list[events.Event], data: st.DataObject
) -> None:
    # an event refused by the whole fold too is skipped (the projection skips it there)
    restored, whole = resumed(log, data.draw(st.integers(1, len(log))), skip_refused=True)
    assert encode_classification(restored.classification()) == encode_classification(whole.classification())
