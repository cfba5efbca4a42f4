"""A session that settles on its own timing clock, cars not seen, and the rules of bests (lap 1, neutralised laps).

Judged on ``as_of``, the latest event instant folded: never a wall clock.
"""

from __future__ import annotations

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import events
from schemas.results import CarState, Classification, ResultStatus, SessionPhase
from tests.factory import SessionWriter, classify, drawn_laps, resumed

LAP = 100_000


def state_of(result: Classification, number: str) -> CarState:
    return next(car.state for car in result.cars if car.number == number)


def opened(w: SessionWriter, **rules: object) -> events.Event:
    return w.event(
        events.SessionOpened(
            name="R",
            kind=events.SessionKind.RACE,
            scheduled_start="2026-04-19T15:00:00+02:00",
            time_zone="Europe/Rome",
            length=events.SessionLength(time_ms=10 * LAP),
            rules=events.ClassificationRules(**rules),  # type: ignore[arg-type]
        )
    )


def start(w: SessionWriter, numbers: list[str], **rules: object) -> list[events.Event]:
    return [opened(w, **rules), *[w.entry(n) for n in numbers], w.event(events.SessionStarted(), 0)]


def laps(w: SessionWriter, number: str, count: int, offset: int = 0, lap_ms: int = LAP) -> list[events.Event]:
    return [w.lap(number, lap, lap * lap_ms + offset, lap_time_ms=lap_ms) for lap in range(1, count + 1)]


def merged(*runs: list[events.Event]) -> list[events.Event]:
    return sorted((e for run in runs for e in run), key=lambda e: e.at)


# -- after the chequered flag ----------------------------------------------------


def test_a_car_that_does_not_cross_within_the_slowest_lap_after_the_flag_is_stopped() -> None:
    """#1 shows the flag at 1,000 s (its lap 10); #2 last crossed at 950 s and never again. The finish window is the
    slowest lap of the session (#3's 120 s): until 1,120 s the session is finishing and #2 running; after it,
    #2 is stopped (classified on what it did: 9 laps) and the session finished."""
    w = SessionWriter()
    head = start(w, ["1", "2", "3"])
    one = laps(w, "1", 10)
    two = [w.lap("2", lap, lap * LAP - 50_000) for lap in range(1, 10)]
    three = laps(w, "3", 8, lap_ms=120_000)  # 8 x 120 s: last crossing at 960 s, before the flag
    race = head + merged(one, two, three)
    during = classify([*race, w.lap("3", 9, 1_080_000, lap_time_ms=120_000)])
    assert during.chequered_at == one[-1].at and during.phase is SessionPhase.FINISHING
    assert state_of(during, "2") is CarState.RUNNING
    after = classify(
        [*race, w.lap("3", 9, 1_080_000, lap_time_ms=120_000), w.event(events.PitIn(number="3"), 1_121_000)]
    )
    assert after.phase is SessionPhase.FINISHED
    assert state_of(after, "2") is CarState.STOPPED
    assert state_of(after, "3") is CarState.FINISHED
    two_row = next(car for car in after.cars if car.number == "2")
    assert (two_row.laps, two_row.took_flag, two_row.status) == (9, False, ResultStatus.CLASSIFIED)


def test_the_finish_window_is_a_rule() -> None:
    w = SessionWriter()
    race = start(w, ["1", "2"], finish_window_ms=30_000) + merged(laps(w, "1", 11), laps(w, "2", 9, offset=5_000))
    assert classify(race[:-1]).phase is SessionPhase.FINISHING  # up to #1's flag lap (10) at 1,000 s
    settled = classify(race)  # #1's lap 11 at 1,100 s: 100 s after the flag, beyond the 30 s window
    assert settled.phase is SessionPhase.FINISHED and state_of(settled, "2") is CarState.STOPPED


def test_a_stopped_car_that_crosses_after_all_takes_the_flag() -> None:
    w = SessionWriter()
    race = start(w, ["1", "2"], finish_window_ms=30_000) + merged(laps(w, "1", 11), laps(w, "2", 9, offset=5_000))
    late = classify([*race, w.lap("2", 10, 1_200_000, lap_time_ms=295_000)])
    assert state_of(late, "2") is CarState.FINISHED and late.phase is SessionPhase.FINISHED


def test_the_session_without_any_flag_crossing_pending_is_finished_at_once() -> None:
    w = SessionWriter()
    race = start(w, ["1", "2"]) + merged(laps(w, "1", 10), laps(w, "2", 7))
    race.append(w.event(events.CarRetired(number="2"), 750_000))
    result = classify(race)
    assert result.phase is SessionPhase.FINISHED
    assert [(car.number, car.state) for car in result.cars] == [("1", CarState.FINISHED), ("2", CarState.RETIRED)]


# -- while the race runs -------------------------------------------------------------


def test_a_car_not_seen_for_three_of_its_laps_shows_stopped() -> None:
    w = SessionWriter()
    race = start(w, ["1", "2"], not_seen_laps=3) + merged(laps(w, "1", 9), laps(w, "2", 5))
    assert classify(race[: len(race) - 1]).phase is SessionPhase.RUNNING
    assert state_of(classify(race[:-1]), "2") is CarState.RUNNING  # #1's lap 8 at 800 s: 300 s since #2's last
    assert state_of(classify(race), "2") is CarState.STOPPED  # #1's lap 9 at 900 s: 400 s > 3 x 100 s
    in_pit = classify([*race[:-1], w.event(events.PitIn(number="2"), 520_000), race[-1]])
    assert state_of(in_pit, "2") is CarState.IN_PIT  # in the pit lane: not lost on the circuit


def test_nobody_is_stopped_under_a_red_flag() -> None:
    w = SessionWriter()
    race = start(w, ["1", "2"]) + merged(laps(w, "1", 5), laps(w, "2", 5, offset=10))
    race += [
        w.event(events.FlagChanged(flag=events.Flag.RED), 550_000),
        w.event(events.FlagChanged(flag=events.Flag.RED, sector=2), 1_500_000),
    ]
    assert {car.state for car in classify(race).cars} == {CarState.RUNNING}


def test_a_leader_stopped_on_the_circuit_does_not_hold_back_the_chequered_flag() -> None:
    """#1 leads by two laps and stops on the circuit at 600 s; when time is up (1,000 s), #2, running, is the leader
    that takes the flag, and the session can finish."""
    w = SessionWriter()
    race = start(w, ["1", "2"]) + merged(laps(w, "1", 12, lap_ms=50_000), laps(w, "2", 11))
    result = classify(race)
    assert result.chequered_at == w.lap("2", 99, 10 * LAP).at
    assert state_of(result, "1") is CarState.STOPPED


def test_the_session_is_judged_on_its_own_clock_not_the_wall_clock() -> None:
    """The same log folds to the same bytes whenever it is folded: nothing reads the time of day."""
    w = SessionWriter()
    race = start(w, ["1", "2"]) + merged(laps(w, "1", 11), laps(w, "2", 4))
    assert msgspec.json.encode(classify(race)) == msgspec.json.encode(classify(list(race)))


# -- bests ------------------------------------------------------------------------


def test_laps_under_the_safety_car_are_bests_only_where_the_rules_say_so() -> None:
    """#1's lap 3 (95 s) ran while the safety car came out: under a rule excluding neutralised laps its best is
    lap 2; otherwise lap 3."""

    def race(**rules: object) -> Classification:
        w = SessionWriter()
        log = start(w, ["1"], **rules)
        log += [w.lap("1", 1, 100_000), w.lap("1", 2, 198_000, lap_time_ms=98_000)]
        log += [
            w.event(events.FlagChanged(flag=events.Flag.SAFETY_CAR), 250_000),
            w.lap("1", 3, 293_000, lap_time_ms=95_000),
        ]
        log += [
            w.event(events.FlagChanged(flag=events.Flag.GREEN), 300_000),
            w.lap("1", 4, 400_000, lap_time_ms=100_000),
        ]
        return classify(log)

    assert race().cars[0].best_lap == 3
    excluded = race(neutralised_laps_count_for_best=False).cars[0]
    assert (excluded.best_lap, excluded.best_lap_ms) == (2, 98_000)


def test_lap_one_is_a_best_only_where_the_rules_say_so() -> None:
    w = SessionWriter()
    log = [*start(w, ["1"]), w.lap("1", 1, 90_000, lap_time_ms=90_000), w.lap("1", 2, 190_000)]
    assert classify(log).cars[0].best_lap == 1
    w = SessionWriter()
    log = [*start(w, ["1"], lap_one_counts_for_best=False), w.lap("1", 1, 90_000, lap_time_ms=90_000)]
    log.append(w.lap("1", 2, 190_000))
    assert classify(log).cars[0].best_lap == 2


def test_a_flag_shown_at_the_same_instant_replaces_the_one_before() -> None:
    """A race started behind the safety car: the green of ``session_started`` was never out."""
    w = SessionWriter()
    log = [*start(w, ["1"]), w.event(events.FlagChanged(flag=events.Flag.SAFETY_CAR), 0), w.lap("1", 1, LAP)]
    log.append(w.event(events.FlagChanged(flag=events.Flag.GREEN), LAP))
    result = classify(log)
    began = result.started_at
    assert began is not None
    periods = [(p.flag, p.start - began, None if p.end is None else p.end - began) for p in result.flag_periods]
    assert periods == [(events.Flag.SAFETY_CAR, 0, LAP), (events.Flag.GREEN, LAP, None)]


# -- crews and sub-classes ----------------------------------------------------------


def test_the_crew_and_its_categories_reach_the_read_model() -> None:
    w = SessionWriter()
    entry = w.entry("7")
    assert isinstance(entry.body, events.EntryRegistered)
    result = classify([opened(w), entry, w.event(events.SessionStarted(), 0)])
    assert result.cars[0].crew == entry.body.crew


CLASSES = ("Pro", "Am")
CUPS = (None, "Gold", "Silver")


@st.composite
def cup_races(draw: st.DrawFn) -> list[events.Event]:
    """1-10 GT3 cars in two classes, each in a cup or none, with their own lap times, merged in time order; the
    chequered flag or not."""
    w = SessionWriter()
    cars = draw(st.integers(1, 10))
    log = [opened(w)]
    for n in range(1, cars + 1):
        entry = w.entry(str(n), draw(st.sampled_from(CLASSES)))
        assert isinstance(entry.body, events.EntryRegistered)
        cup = draw(st.sampled_from(CUPS))
        log.append(msgspec.structs.replace(entry, body=msgspec.structs.replace(entry.body, sub_class=cup)))
    log.append(w.event(events.SessionStarted(), 0))
    log += drawn_laps(draw, w, cars, st.lists(st.integers(90_000, 130_000), max_size=12))
    if draw(st.booleans()):
        log.append(w.event(events.SessionFinished(), 600_000))
        log.append(w.event(events.ResultsDeclared(status=events.ResultsStatus.PROVISIONAL), 2_000_000))
    return log


@settings(max_examples=150, deadline=None)
@given(cup_races())
def test_sub_class_positions_count_up_in_the_class_order(log: list[events.Event]) -> None:
    result = classify(log)
    for cls in CLASSES:
        for cup in CUPS:
            group = [c for c in result.cars if c.class_name == cls and c.sub_class == cup]
            positions = [c.sub_class_position for c in group]
            assert positions == ([None] * len(group) if cup is None else list(range(1, len(group) + 1)))
            if group and cup is not None:
                assert group[0].sub_class_gap is None and group[0].sub_class_interval is None
    for ref in result.sub_class_fastest_laps:
        group = [c for c in result.cars if c.class_name == ref.class_name and c.sub_class == ref.sub_class]
        assert ref.ms == min(c.best_lap_ms for c in group if c.best_lap_ms is not None)


@settings(max_examples=100, deadline=None)
@given(cup_races(), st.data())
def test_a_snapshot_keeps_what_settling_and_bests_need(log: list[events.Event], data: st.DataObject) -> None:
    restored, whole = resumed(log, data.draw(st.integers(1, len(log))))
    assert msgspec.json.encode(restored.classification()) == msgspec.json.encode(whole.classification())
