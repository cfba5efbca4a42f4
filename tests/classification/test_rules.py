"""Classification rules stewards sign: race end, statuses, decisions, flags, pits, bests, qualifying, time travel."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from schemas import events
from schemas.results import Classification, DecisionState, ResultStatus, SessionPhase
from services.classification.fold import Refused, fold_log, fold_until
from tests.factory import T0, SessionWriter, classify, session_fold

LAP = 100_000


def numbers(result: Classification) -> list[str]:
    return [c.number for c in result.cars]


def car(result: Classification, number: str):  # type: ignore[no-untyped-def]
    return next(c for c in result.cars if c.number == number)


def opened(
    w: SessionWriter, *, kind: events.SessionKind = events.SessionKind.RACE, laps: int | None = None, **rules: object
) -> events.Event:
    return w.opened(kind, 10 * LAP, laps=laps, rules=events.ClassificationRules(**rules))  # type: ignore[arg-type]


def race(
    w: SessionWriter, cars: dict[str, int], *, classes: dict[str, str] | None = None, **rules: Any
) -> list[events.Event]:
    """Cars with the given lap counts; car n crosses n*10 ms after the leader on each lap. No flag yet."""
    log = [opened(w, **rules), *[w.entry(n, (classes or {}).get(n, "Pro")) for n in cars]]
    log.append(w.event(events.SessionStarted(), 0))
    for lap in range(1, max(cars.values()) + 1):
        log += [w.lap(n, lap, lap * LAP + i * 10) for i, (n, total) in enumerate(cars.items()) if lap <= total]
    return log


def penalty(
    w: SessionWriter, number: str, decision: str, kind: events.PenaltyKind, at: int = 0, **kw: int
) -> events.Event:
    return w.event(events.PenaltyIssued(number=number, decision=decision, kind=kind, **kw), at)  # type: ignore[arg-type]


# -- race end ------------------------------------------------------------------


def test_time_certain_race_the_leaders_first_crossing_after_time_shows_the_flag() -> None:
    w = SessionWriter()
    log = race(w, {"1": 11, "2": 11, "3": 10})  # 10 laps of 100 s = the 1000 s race time
    result = classify(log)
    assert result.chequered_at == w.lap("1", 99, 10 * LAP).at
    assert [c.laps for c in result.cars] == [10, 10, 10]  # lap 11 came after each car's flag
    assert all(c.took_flag for c in result.cars) and result.phase is SessionPhase.FINISHED


def test_lap_count_race_ends_when_the_leader_completes_the_distance() -> None:
    w = SessionWriter()
    log = race(w, {"1": 6, "2": 6}, laps=5)
    result = classify(log)
    assert result.chequered_at == w.lap("1", 99, 5 * LAP).at
    assert [c.laps for c in result.cars] == [5, 5]


def test_race_control_flag_overrides_the_inferred_one() -> None:
    w = SessionWriter()
    log = race(w, {"1": 4, "2": 4})
    log.append(w.event(events.SessionFinished(), 3 * LAP))
    result = classify(log)
    assert [c.laps for c in result.cars] == [3, 4 - 1]
    assert result.chequered_at == w.lap("1", 99, 3 * LAP).at


def test_must_take_flag() -> None:
    w = SessionWriter()
    log = race(w, {"1": 3, "2": 3}, must_take_flag=True)
    log.append(w.event(events.SessionFinished(), 3 * LAP))  # car 2 crossed lap 3 after the flag: it took it
    log.append(w.event(events.CarRetired(number="2"), 3 * LAP + 500))
    assert car(classify(log), "2").status is ResultStatus.CLASSIFIED
    w2 = SessionWriter()
    log = race(w2, {"1": 3, "2": 2}, must_take_flag=True)
    log.append(w2.event(events.SessionFinished(), 3 * LAP))
    log.append(w2.event(events.ResultsDeclared(status=events.ResultsStatus.PROVISIONAL), 4 * LAP))
    assert car(classify(log), "2").status is ResultStatus.NOT_CLASSIFIED


# -- statuses ------------------------------------------------------------------


@pytest.mark.parametrize(("laps", "status"), [(71, ResultStatus.CLASSIFIED), (70, ResultStatus.NOT_CLASSIFIED)])
def test_seventy_percent_of_101_laps_rounds_up_to_71(laps: int, status: ResultStatus) -> None:
    w = SessionWriter()
    log = [opened(w, laps=101), w.entry("1"), w.entry("2"), w.event(events.SessionStarted(), 0)]
    log += [w.lap("1", n, n * LAP) for n in range(1, 102)]
    log += [w.lap("2", n, n * LAP + 50) for n in range(1, laps + 1)]
    log.append(w.event(events.ResultsDeclared(status=events.ResultsStatus.PROVISIONAL), 200 * LAP))
    assert car(classify(log), "2").status is status


def test_share_is_configurable() -> None:
    w = SessionWriter()
    log = race(w, {"1": 11, "2": 7}, min_distance_pct=75)  # the winner's 10 laps: 75 % needs 8
    log.append(w.event(events.ResultsDeclared(status=events.ResultsStatus.PROVISIONAL), 20 * LAP))
    assert car(classify(log), "2").status is ResultStatus.NOT_CLASSIFIED
    w = SessionWriter()
    log = race(w, {"1": 11, "2": 7}, min_distance_pct=70)
    log.append(w.event(events.ResultsDeclared(status=events.ResultsStatus.PROVISIONAL), 20 * LAP))
    assert car(classify(log), "2").status is ResultStatus.CLASSIFIED


def test_group_order_classified_then_nc_dnf_then_dns_then_dsq_then_excluded() -> None:
    w = SessionWriter()
    log = race(w, {"1": 11, "2": 11, "3": 11, "4": 2, "5": 3, "6": 0, "7": 9})
    log += [
        w.event(events.CarRetired(number="5", reason="gearbox"), 4 * LAP),
        w.event(events.CarRetired(number="7", reason="accident"), 9 * LAP + 100),
        penalty(w, "1", "D1", events.PenaltyKind.DISQUALIFICATION, 20 * LAP),
        penalty(w, "2", "D2", events.PenaltyKind.EXCLUSION, 20 * LAP),
    ]
    result = classify(log)
    assert [(c.number, c.status) for c in result.cars] == [
        ("3", ResultStatus.CLASSIFIED),
        ("7", ResultStatus.CLASSIFIED),  # retired, but covered the distance
        ("5", ResultStatus.DID_NOT_FINISH),
        ("4", ResultStatus.NOT_CLASSIFIED),
        ("6", ResultStatus.DID_NOT_START),
        ("1", ResultStatus.DISQUALIFIED),
        ("2", ResultStatus.EXCLUDED),
    ]


def test_retired_cars_not_classified_where_the_rules_say_so() -> None:
    w = SessionWriter()
    log = race(w, {"1": 11, "7": 9}, retired_classified=False)
    log.append(w.event(events.CarRetired(number="7"), 9 * LAP + 100))
    assert car(classify(log), "7").status is ResultStatus.DID_NOT_FINISH


def test_statuses_are_running_until_the_flag() -> None:
    w = SessionWriter()
    result = classify(race(w, {"1": 3, "2": 1}))
    assert {c.status for c in result.cars} == {ResultStatus.RUNNING}


# -- decisions -----------------------------------------------------------------


def test_time_penalty_reorders_cars_on_the_same_lap_and_is_explained() -> None:
    w = SessionWriter()
    log = race(w, {"1": 11, "2": 11})
    base = classify(log)
    assert numbers(base) == ["1", "2"]
    log.append(penalty(w, "1", "12", events.PenaltyKind.TIME, 30 * LAP, time_ms=5_000))
    result = classify(log)
    assert numbers(result) == ["2", "1"]
    one = car(result, "1")
    assert one.penalty_time_ms == 5_000 and one.total_time_ms == car(base, "1").total_time_ms + 5_000  # type: ignore[operator]
    assert [(d.decision, d.state, d.time_ms) for d in one.decisions] == [("12", DecisionState.APPLIED, 5_000)]
    assert one.gap == msgspec.convert({"ms": 5_000 - 10}, type(one.gap))


def test_drive_through_pending_served_or_converted() -> None:
    w = SessionWriter()
    log = race(w, {"1": 5, "2": 5})
    log.append(penalty(w, "1", "DT1", events.PenaltyKind.DRIVE_THROUGH, 5 * LAP, time_ms=30_000))
    assert car(classify(log), "1").decisions[0].state is DecisionState.PENDING
    converted = [*log, w.lap("1", 6, 10 * LAP + 1), w.lap("2", 6, 10 * LAP + 2)]
    result = classify(converted)
    assert result.chequered_at is not None and numbers(result) == ["2", "1"]
    assert car(result, "1").decisions[0].state is DecisionState.CONVERTED
    served = [*log, w.event(events.PenaltyServed(number="1", decision="DT1"), 6 * LAP), w.lap("1", 6, 10 * LAP + 1)]
    served.append(w.lap("2", 6, 10 * LAP + 2))
    result = classify(served)
    assert numbers(result) == ["1", "2"] and car(result, "1").decisions[0].state is DecisionState.SERVED


def test_lap_deduction_and_position_drop() -> None:
    w = SessionWriter()
    log = race(w, {"1": 11, "2": 11, "3": 11, "4": 11})
    result = classify([*log, penalty(w, "1", "L1", events.PenaltyKind.LAP_DEDUCTION, 20 * LAP, laps=1)])
    assert numbers(result) == ["2", "3", "4", "1"] and car(result, "1").laps == 9
    result = classify([*log, penalty(w, "1", "P1", events.PenaltyKind.POSITION_DROP, 20 * LAP, positions=2)])
    assert numbers(result) == ["2", "3", "1", "4"]
    result = classify([*log, penalty(w, "3", "P2", events.PenaltyKind.POSITION_DROP, 20 * LAP, positions=5)])
    assert numbers(result) == ["1", "2", "4", "3"]  # not beyond the classified cars


def test_deleted_lap_is_no_longer_a_best_and_withdrawal_restores_it() -> None:
    w = SessionWriter()
    log = [opened(w), w.entry("1"), w.event(events.SessionStarted(), 0)]
    log += [w.lap("1", 1, 99_000, lap_time_ms=99_000, sectors_ms=[33_000, 33_000, 33_000])]
    log += [w.lap("1", 2, 199_500, lap_time_ms=100_500, sectors_ms=[33_500, 33_500, 33_500])]
    before = classify(log)
    assert (car(before, "1").best_lap, before.fastest_lap.lap) == (1, 1)  # type: ignore[union-attr]
    deleted = [*log, w.event(events.LapDeleted(number="1", decision="TL1", lap=1, reason="track limits T4"), 200_000)]
    result = classify(deleted)
    one = car(result, "1")
    assert (one.best_lap, one.best_lap_ms, one.best_sectors_ms) == (2, 100_500, [33_500, 33_500, 33_500])
    assert one.laps == 2 and one.decisions[0].lap == 1
    withdrawn = [*deleted, w.event(events.DecisionWithdrawn(decision="TL1", reason="appeal upheld"), 300_000)]
    assert classify(withdrawn).cars == before.cars


def test_a_lap_not_counted_for_bests_counts_for_distance_only() -> None:
    w = SessionWriter()
    log = [opened(w), w.entry("1"), w.entry("2"), w.event(events.SessionStarted(), 0)]
    log += [w.lap("1", 1, 98_000, lap_time_ms=98_000, sectors_ms=[32_000, 33_000, 33_000], counts_for_best=False)]
    log += [w.lap("1", 2, 198_500, lap_time_ms=100_500, sectors_ms=[33_500, 33_500, 33_500])]
    log += [w.lap("2", 1, 99_000, lap_time_ms=99_000), w.lap("2", 2, 199_000, lap_time_ms=100_000)]
    result = classify(log)
    one = car(result, "1")
    assert (one.laps, one.best_lap, one.best_lap_ms, one.best_sectors_ms) == (2, 2, 100_500, [33_500, 33_500, 33_500])
    assert result.fastest_lap is not None and (result.fastest_lap.number, result.fastest_lap.ms) == ("2", 99_000)
    assert [c.number for c in result.cars] == ["1", "2"]


def test_penalty_applied_then_withdrawn_gives_back_the_original_result() -> None:
    w = SessionWriter()
    log = race(w, {"1": 11, "2": 11, "3": 10})
    log.append(w.event(events.ResultsDeclared(status=events.ResultsStatus.PROVISIONAL), 20 * LAP))
    original = classify(log)
    for kind, kw in ((events.PenaltyKind.TIME, {"time_ms": 60_000}), (events.PenaltyKind.DISQUALIFICATION, {})):
        penalised = [*log, penalty(w, "1", f"X{kind.value}", kind, 30 * LAP, **kw)]
        assert classify(penalised).cars != original.cars
        withdrawn = [*penalised, w.event(events.DecisionWithdrawn(decision=f"X{kind.value}"), 40 * LAP)]
        assert msgspec.json.encode(classify(withdrawn).cars) == msgspec.json.encode(original.cars)


def test_a_penalty_hours_after_the_finish_gives_the_same_result_as_in_order() -> None:
    w = SessionWriter()
    log = race(w, {"1": 11, "2": 11})
    early = penalty(w, "1", "E1", events.PenaltyKind.TIME, 5 * LAP, time_ms=5_000)
    in_order = [*log[:10], early, *log[10:]]
    late = [*log, msgspec.structs.replace(early, at=early.at + 4 * 3_600_000)]
    assert classify(in_order).cars == classify(late).cars


def test_results_declared_provisional_then_final() -> None:
    w = SessionWriter()
    log = race(w, {"1": 11})
    assert classify(log).results is None
    log.append(w.event(events.ResultsDeclared(status=events.ResultsStatus.PROVISIONAL), 20 * LAP))
    assert classify(log).results is events.ResultsStatus.PROVISIONAL
    log.append(w.event(events.ResultsDeclared(status=events.ResultsStatus.FINAL), 30 * LAP))
    assert classify(log).results is events.ResultsStatus.FINAL


def test_withdrawing_an_unknown_decision_is_refused() -> None:
    w = SessionWriter()
    projection = fold_log(enumerate(race(w, {"1": 1}), start=1))
    refused = projection.apply(100, w.event(events.DecisionWithdrawn(decision="nope")))
    assert refused == Refused(seq=100, reason=f"no decision nope in force in {w.session.key}")


# -- flags ---------------------------------------------------------------------


def test_time_under_each_flag() -> None:
    w = SessionWriter()
    log = race(w, {"1": 5})
    log[6:6] = [
        w.event(events.FlagChanged(flag=events.Flag.FULL_COURSE_YELLOW), 100_000),
        w.event(events.FlagChanged(flag=events.Flag.GREEN), 160_000),
    ]
    log.insert(9, w.event(events.FlagChanged(flag=events.Flag.SAFETY_CAR), 250_000))
    log.insert(11, w.event(events.FlagChanged(flag=events.Flag.GREEN), 330_000))
    result = classify(log)
    under = {t.flag: t.ms for t in result.time_under_flags}
    assert under[events.Flag.FULL_COURSE_YELLOW] == 60_000 and under[events.Flag.SAFETY_CAR] == 80_000
    assert under[events.Flag.GREEN] == result.as_of - w.lap("1", 9, 0).at - 140_000
    assert [p.flag for p in result.flag_periods] == [
        events.Flag.GREEN,
        events.Flag.FULL_COURSE_YELLOW,
        events.Flag.GREEN,
        events.Flag.SAFETY_CAR,
        events.Flag.GREEN,
    ]


def test_race_suspended_and_not_resumed_is_classified_as_it_stood_at_the_red_flag() -> None:
    w = SessionWriter()
    log = race(w, {"1": 4, "2": 4})
    log.insert(-4, w.event(events.FlagChanged(flag=events.Flag.RED), 3 * LAP - 5))  # before lap 3 of both cars
    log.append(w.event(events.SessionFinished(), 5 * LAP))
    result = classify(log)
    assert result.suspended and result.phase is SessionPhase.FINISHED
    assert [c.laps for c in result.cars] == [2, 2]  # laps completed under red do not count
    assert {c.status for c in result.cars} == {ResultStatus.CLASSIFIED}


def test_suspended_then_resumed_counts_every_lap() -> None:
    w = SessionWriter()
    log = race(w, {"1": 4})
    log.insert(-2, w.event(events.FlagChanged(flag=events.Flag.RED), 3 * LAP - 5))
    log.insert(-1, w.event(events.FlagChanged(flag=events.Flag.GREEN), 3 * LAP + 5))
    log.append(w.event(events.SessionFinished(), 5 * LAP))
    result = classify(log)
    assert not result.suspended and result.cars[0].laps == 4


# -- pits and stints ----------------------------------------------------------


def test_stops_stints_drive_times_and_laps_since_pit() -> None:
    w = SessionWriter()
    log = [opened(w), w.entry("1", driver="Ann"), w.event(events.SessionStarted(), 0)]
    log += [w.lap("1", 1, 100_000, driver="Ann"), w.lap("1", 2, 200_000, driver="Ann", in_pit=True)]
    log += [
        w.event(events.PitIn(number="1"), 195_000),
        w.event(events.DriverChanged(number="1", driver="Bob"), 210_000),
    ]
    log += [w.event(events.PitOut(number="1"), 255_000)]
    log += [w.lap("1", 3, 330_000, driver="Bob"), w.lap("1", 4, 430_000, driver="Bob")]
    one = classify(log).cars[0]
    assert one.pit_stops == 1 and one.stops[0].lap == 2 and one.stops[0].lane_ms == 60_000
    assert one.pit_time_ms == 60_000 and one.laps_since_pit == 2
    assert [(s.driver, s.from_lap, s.laps, s.time_ms) for s in one.stints] == [
        ("Ann", 1, 2, 195_000),
        ("Bob", 3, 2, 175_000),
    ]
    assert [(d.driver, d.ms) for d in one.drive_times] == [("Ann", 195_000), ("Bob", 175_000)]


# -- sectors and bests ---------------------------------------------------------


def test_personal_session_and_class_bests_and_the_ideal_lap() -> None:
    w = SessionWriter()
    log = [opened(w), w.entry("1", "Pro"), w.entry("2", "Am"), w.event(events.SessionStarted(), 0)]
    log += [
        w.lap("1", 1, 100_000, lap_time_ms=100_000, sectors_ms=[30_000, 35_000, 35_000]),
        w.lap("2", 1, 101_000, lap_time_ms=101_000, sectors_ms=[31_000, 34_000, 36_000]),
        w.lap("1", 2, 199_000, lap_time_ms=99_000, sectors_ms=[31_000, 33_000, 35_000]),
        w.lap("2", 2, 303_000, lap_time_ms=102_000, sectors_ms=[30_500, 35_000, 36_500]),
    ]
    result = classify(log)
    one, two = car(result, "1"), car(result, "2")
    assert one.best_sectors_ms == [30_000, 33_000, 35_000] and one.ideal_lap_ms == 98_000
    assert one.last_lap_personal_best and one.last_lap_session_best
    assert not two.last_lap_personal_best and two.best_lap == 1
    assert result.best_sectors_ms == [30_000, 33_000, 35_000]
    assert result.fastest_lap is not None and (result.fastest_lap.number, result.fastest_lap.ms) == ("1", 99_000)
    assert [(b.class_name, b.number, b.ms) for b in result.class_fastest_laps] == [
        ("Am", "2", 101_000),
        ("Pro", "1", 99_000),
    ]


# -- qualifying ----------------------------------------------------------------


def test_qualifying_by_best_lap_ties_to_who_set_it_first() -> None:
    w = SessionWriter()
    log = [opened(w, kind=events.SessionKind.QUALIFYING), w.entry("1"), w.entry("2"), w.entry("3")]
    log.append(w.event(events.SessionStarted(), 0))
    log += [
        w.lap("1", 1, 100_000, lap_time_ms=100_000),
        w.lap("2", 1, 99_000, lap_time_ms=99_000),
        w.lap("1", 2, 199_500, lap_time_ms=99_000),  # equal time, set later
        w.lap("1", 3, 300_000, lap_time_ms=100_500),
    ]
    result = classify(log)
    assert numbers(result) == ["2", "1", "3"]
    assert car(result, "1").gap == msgspec.convert({"ms": 0}, type(car(result, "1").gap))
    assert car(result, "3").qualifying_ms is None


def test_sro_qualifying_by_the_average_of_the_drivers_best_laps() -> None:
    w = SessionWriter()
    log = [
        opened(
            w,
            kind=events.SessionKind.QUALIFYING,
            qualifying=events.QualifyingFormat.AVERAGE_OF_DRIVERS,
            drivers_for_average=2,
        )
    ]
    log += [w.entry("1"), w.entry("2"), w.event(events.SessionStarted(), 0)]
    log += [
        w.lap("1", 1, 100_000, lap_time_ms=98_000, driver="A1"),  # the quickest single lap...
        w.lap("1", 2, 200_000, lap_time_ms=103_001, driver="B1"),
        w.lap("2", 1, 100_500, lap_time_ms=99_500, driver="A2"),
        w.lap("2", 2, 200_500, lap_time_ms=100_500, driver="B2"),
    ]
    result = classify(log)
    assert numbers(result) == ["2", "1"]  # ...but the slower average
    assert [c.qualifying_ms for c in result.cars] == [100_000, 100_500]  # 201_001 / 2 floored


# -- time travel ---------------------------------------------------------------


def test_time_travel_by_instant_and_by_sequence() -> None:
    w = SessionWriter()
    log = race(w, {"1": 11, "2": 11})
    pairs = list(enumerate(log, start=1))
    at_five = fold_until(pairs, at=w.lap("1", 1, 5 * LAP + 50).at).sessions[w.session.key].classification()
    assert [c.laps for c in at_five.cars] == [5, 5] and at_five.phase is SessionPhase.RUNNING
    by_seq = fold_until(pairs, seq=4 + 2 * 3).sessions[w.session.key].classification()  # 4 events before lap 1
    assert [c.laps for c in by_seq.cars] == [3, 3] and by_seq.last_seq == 10
    end = fold_until(pairs, seq=len(pairs)).sessions[w.session.key].classification()
    assert msgspec.json.encode(end) == msgspec.json.encode(classify(log))


def test_a_correction_of_an_early_lap_reaches_the_stints_already_built() -> None:
    """Stints that are over are built once; a correction of one of their laps (or a lap a scoreboard places
    before them) must still show, as a fresh fold of the same log shows it."""
    w = SessionWriter()
    log = [opened(w), w.entry("1"), w.event(events.SessionStarted(), 0)]
    log += [w.lap("1", 1, LAP), w.lap("1", 2, 2 * LAP), w.event(events.PitOut(number="1"), 2 * LAP + 30_000)]
    log += [w.lap("1", 3, 3 * LAP), w.lap("1", 4, 4 * LAP), w.event(events.PitOut(number="1"), 4 * LAP + 30_000)]
    log += [w.lap("1", 5, 5 * LAP)]
    state = session_fold(log)
    before = state.classification()
    assert [s.time_ms for s in car(before, "1").stints] == [2 * LAP, 2 * LAP - 30_000, LAP - 30_000]
    correction = w.event(events.LapCorrected(number="1", lap=4, crossing=T0 + 4 * LAP - 7), 5 * LAP + 1)
    state.apply(len(log) + 1, correction)
    after = state.classification()
    assert msgspec.json.encode(after) == msgspec.json.encode(classify([*log, correction]))
    assert car(after, "1").stints[1].time_ms == 2 * LAP - 30_000 - 7
