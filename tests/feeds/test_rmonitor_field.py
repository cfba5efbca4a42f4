"""How real RMonitor feeds behave over a weekend (docs/feeds.md), each behaviour in a capture generated here,
mapped as ``chequered feed`` maps it (:class:`WeekendMapper`) and folded."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.events import (
    EntryRegistered,
    Event,
    LapCompleted,
    LapCorrected,
    ScoreboardReason,
    ScoreboardReported,
    SessionKind,
    SessionOpened,
    SessionRef,
    SessionStarted,
    encode_event,
)
from schemas.ingest import MAX_EVENT_BYTES, RejectCode
from schemas.results import Classification, ClassifiedCar, Disagreement, DisagreementKind
from services.classification.fold import ClassificationProjection
from services.feeds.rmonitor.capture import ReadStats, map_lines, parse_lines
from services.feeds.rmonitor.naming import kind_of, session_token
from services.feeds.rmonitor.options import RMonitorOptions
from services.feeds.rmonitor.weekend import WeekendMapper
from tests.feeds.captures import Run, beat, best, clock, comp, passing, position
from tests.feeds.reference import differences, last_rows
from tests.feeds.typed import of

ZONE = "Europe/Paris"
DAY = date(2025, 6, 1)
NINE, TWO = 9 * 3600, 14 * 3600
CARS = {"7": [100.0, 98.5, 99.0], "8": [101.0, 100.2, 100.4], "9": [104.0, 103.0, 102.5]}


def weekend(**options: object) -> WeekendMapper:
    return WeekendMapper("club", "round1", msgspec.structs.replace(RMonitorOptions(time_zone=ZONE), **options))


def feed(lines: list[str], mapper: WeekendMapper | None = None) -> tuple[list[Event], WeekendMapper, ReadStats]:
    mapper = mapper or weekend()
    stats = ReadStats()
    events = map_lines(mapper, [(i, None, line) for i, line in enumerate(lines, 1)], stats) + mapper.flush()
    for session, notice in mapper.take_notices():
        stats.set_aside(len(lines), notice, "", session)
    return events, mapper, stats


def results(events: list[Event]) -> dict[str, Classification]:
    """The classification of every session, the fold having refused none of the events."""
    projection = ClassificationProjection()
    assert [refused for seq, event in enumerate(events, 1) if (refused := projection.apply(seq, event))] == []
    return {key: state.classification() for key, state in projection.sessions.items()}


def cars(result: Classification) -> dict[str, ClassifiedCar]:
    return {car.number: car for car in result.cars}


def local(seconds: float, day: date = DAY) -> int:
    midnight = datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(ZONE))
    return int(midnight.timestamp() * 1000) + round(seconds * 1000)


# -- a weekend in one connection --------------------------------------------------------------------------


def test_a_weekend_on_one_connection_is_a_session_per_run_and_scratch_runs_make_nothing() -> None:
    practice = Run(12, "Race Practice 2", NINE, CARS, practice=True)
    qualifying = Run(13, "GTO/GTU Qualifying", NINE + 3600, CARS, practice=True)
    race = Run(14, "Sunday Race", TWO, CARS)
    scratch = ['$B,95,"Sunday Race"', beat(NINE + 3000, 0, "      ")]
    events, mapper, _ = feed([*practice.lines(), *scratch, *qualifying.lines(), *scratch, *race.lines(), *scratch])
    keys = [s.session for s in mapper.sessions]
    assert keys == ["race-practice-2-12", "gto-gtu-qualifying-13", "sunday-race-14"]
    opened = {e.session.session: e.body for e in events if isinstance(e.body, SessionOpened)}
    assert {key: (o.name, o.kind) for key, o in opened.items()} == {
        "race-practice-2-12": ("Race Practice 2", SessionKind.PRACTICE),
        "gto-gtu-qualifying-13": ("GTO/GTU Qualifying", SessionKind.QUALIFYING),
        "sunday-race-14": ("Sunday Race", SessionKind.RACE),
    }
    classified = results(events)
    assert [c.number for c in classified["club.round1.race-practice-2-12"].cars] == ["7", "8", "9"]
    assert {n: (c.laps, c.best_lap_ms) for n, c in cars(classified["club.round1.sunday-race-14"]).items()} == {
        "7": (3, 98_500),
        "8": (3, 100_200),
        "9": (3, 102_500),
    }
    assert mapper.stats.sessions == 3


def test_a_reset_mid_session_with_the_same_run_is_the_same_session() -> None:
    race = Run(14, "Sunday Race", TWO, CARS)
    lines = race.lines()
    middle = lines.index(passing("8", 100.2, race.crossings()[7][0])) + 2
    resend = ['$I,"14:03:30","0/0/0000"', *race.entries()[1:], position(1, "7", 2, 200.5)]
    events, mapper, _ = feed([*lines[:middle], *resend, *lines[middle:]])
    assert [s.session for s in mapper.sessions] == ["sunday-race-14"]
    assert {n: c.laps for n, c in cars(results(events)["club.round1.sunday-race-14"]).items()} == dict.fromkeys(CARS, 3)


def test_a_lost_reset_starts_a_new_session_and_says_so() -> None:
    """The second race's ``$I`` and ``$B`` never arrived: its clock starts again from zero."""
    first = Run(14, "Sunday Race", TWO, CARS).lines()
    second = [line for line in Run(14, "Sunday Race", TWO + 900, CARS).lines() if not line.startswith(("$I", "$B"))]
    events, mapper, stats = feed([*first, *second])
    assert [s.session for s in mapper.sessions] == ["sunday-race-14", "sunday-race-14-2"]
    assert mapper.stats.lost_resets == 1
    for result in results(events).values():
        assert {n: c.laps for n, c in cars(result).items()} == dict.fromkeys(CARS, 3)
    assert stats.kept_aside == 0  # said in the log, not a rejection


def test_a_fixed_session_ends_at_a_lost_reset() -> None:
    first = Run(14, "Sunday Race", TWO, CARS).lines()
    second = [line for line in Run(14, "Sunday Race", TWO + 900, CARS).lines() if not line.startswith(("$I", "$B"))]
    session = SessionRef("club", "round1", "race")
    events, mapper, _ = feed([*first, *second], WeekendMapper.one_session(session, RMonitorOptions(time_zone=ZONE)))
    assert len(of(events, SessionOpened)) == 1
    assert {n: c.laps for n, c in cars(results(events)[session.key]).items()} == dict.fromkeys(CARS, 3)
    assert mapper.stats.ignored > 0


def test_run_follows_one_run_only() -> None:
    practice = Run(12, "Practice", NINE, CARS, practice=True)
    race = Run(14, "Sunday Race", TWO, CARS)
    events, mapper, _ = feed([*practice.lines(), *race.lines()], weekend(run=14))
    assert [s.session for s in mapper.sessions] == ["sunday-race-14"]
    assert {e.session.session for e in events} == {"sunday-race-14"}


# -- the start of a practice ---------------------------------------------------------------------------------


def test_crossings_before_the_green_are_no_laps_and_make_no_nine_second_best() -> None:
    """Cars leave the pits before the green (total time zero), cross again after it with no lap time: their first
    timed lap is the first complete lap after the green."""
    practice = Run(12, "Free Practice", NINE, CARS, practice=True, pre_green=True, offset=9.0)
    events, _, _ = feed(practice.lines())
    laps = of(events, LapCompleted)
    assert [(e.body.number, e.body.lap) for e in laps if e.body.lap == 1] == [("7", 1), ("8", 1), ("9", 1)]
    result = results(events)["club.round1.free-practice-12"]
    assert {n: (c.laps, c.best_lap_ms, c.best_lap) for n, c in cars(result).items()} == {
        "7": (3, 98_500, 2),
        "8": (3, 100_200, 2),
        "9": (3, 102_500, 3),
    }
    assert result.fastest_lap is not None and result.fastest_lap.ms == 98_500


def test_an_untimed_passing_is_a_lap_but_never_a_best() -> None:
    lines = Run(12, "Practice", NINE, {"7": [100.0, 50.0]}, practice=True).lines()
    lines = [passing("7", 0, 152.0) if line == passing("7", 50.0, 152.0) else line for line in lines]
    events, _, _ = feed(lines)
    (seven,) = results(events).values()
    assert (seven.cars[0].laps, seven.cars[0].best_lap_ms) == (2, 100_000)
    assert [e.body.counts_for_best for e in of(events, LapCompleted)] == [True, False]


# -- corrections -------------------------------------------------------------------------------------------


def test_a_corrected_passing_and_a_corrected_finish_give_what_the_scoreboard_shows() -> None:
    race = Run(14, "Sunday Race", TWO, {"7": [100.0, 98.5], "8": [101.0, 100.2]})
    crossings = race.crossings()
    seven_2 = next(t for t, reg, lap in crossings if reg == "7" and lap == 98.5)
    race.extra = {
        int(seven_2) + 3: [passing("7", 98.497, seven_2 - 0.003), best(1, "7", 2, 98.497)],
        int(seven_2) + 5: ['$COR,"8","8",2,"' + clock(crossings[-1][0] + 30) + '","+00:00:30.000"'],
    }
    events, _, _ = feed(race.lines())
    corrections = [e.body for e in of(events, LapCorrected)]
    assert [(c.number, c.lap, c.lap_time_ms) for c in corrections] == [("7", 2, 98_497), ("8", 2, None)]
    assert corrections[1].reason == "corrected finish (+0:00:30.000)"
    result = cars(results(events)["club.round1.sunday-race-14"])
    assert (result["7"].best_lap_ms, result["7"].total_time_ms) == (98_497, round((seven_2 - 0.003) * 1000))
    assert result["8"].total_time_ms == round((crossings[-1][0] + 30) * 1000)


def test_a_best_the_timing_system_revokes_is_followed() -> None:
    race = Run(14, "Sunday Race", TWO, {"7": [100.0, 98.5, 99.0]})
    race.extra = {300: [best(1, "7", 3, 99.0)]}  # Orbits no longer counts lap 2's 1:38.500
    events, _, _ = feed(race.lines())
    (revoked,) = [e.body for e in of(events, LapCorrected)]
    assert (revoked.lap, revoked.counts_for_best) == (2, False)
    seven = results(events)["club.round1.sunday-race-14"].cars[0]
    assert (seven.best_lap, seven.best_lap_ms, seven.laps) == (3, 99_000, 3)


# -- what no line may do -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "code", "reason"),
    [
        ('$J,"7","00:01:40.000","99999999:00:00.000"', RejectCode.OUT_OF_BOUNDS, "total time"),
        ('$J,"7","00:00:00.001","00:03:21.000"', RejectCode.OUT_OF_BOUNDS, "lap time 0:00:00.001"),
        ('$J,"7","00:00:31.000","00:03:22.000"', RejectCode.OUT_OF_BOUNDS, "under 33 %"),
        ('$J,"7","-00:01:40.000","00:03:21.000"', RejectCode.MALFORMED, "negative lap time"),
        ('$F,9999,"00:00:00","99:99:99","00:03:20","Green "', RejectCode.MALFORMED, "not a time of day"),
        ('$F,9999,"00:26:40","03:00:00","00:03:20","Green "', RejectCode.OUT_OF_BOUNDS, "jumps from"),
        ("$A," + '"x' * 500_000 + '"', RejectCode.MALFORMED, "characters, more than a record has"),
        ("\x00\xff\xfe garbage \x1b[2J", RejectCode.MALFORMED, "no leading $"),
    ],
)
def test_a_bad_line_is_kept_aside_with_its_number_and_the_lines_after_it_go_on(
    bad: str, code: RejectCode, reason: str
) -> None:
    race = Run(14, "Sunday Race", TWO, CARS)
    clean, _, _ = feed(race.lines())
    race.extra = {200: [bad]}
    lines = race.lines()
    events, _, stats = feed(lines)
    (aside,) = [item for item in stats.take_aside()]
    assert (aside.line, aside.code) == (lines.index(bad) + 1, code)
    assert reason in aside.reason
    assert len(aside.text) <= 500
    assert events == clean  # every event, stamped as without the bad line


def test_a_time_of_day_confirmed_by_the_race_clock_is_a_hole_not_a_jump() -> None:
    """A capture with a hole: the race clock moved as much as the time of day, which is taken."""
    race = Run(14, "Sunday Race", TWO, CARS)
    lines = race.lines()
    hole = [line for line in lines if not (line.startswith("$F") and ',"14:01:' in line)]
    events, _, stats = feed(hole)
    clean, _, _ = feed(lines)
    assert stats.kept_aside == 0
    assert [e for e in events if not e.id.split(":")[1].startswith("f-")] == [
        e for e in clean if not e.id.split(":")[1].startswith("f-")
    ]


def test_a_car_seen_before_its_entry_waits_for_it() -> None:
    race = Run(14, "Sunday Race", TWO, CARS)
    lines = [line for line in race.lines() if '"9"' not in line or not line.startswith(("$A", "$COMP"))]
    late = comp("9", "Driver", "Number9", 1, "FRA", "Team 9")
    at = [i for i, line in enumerate(lines) if line.startswith('$J,"9"')][1] + 2  # after its first lap
    events, _, stats = feed([*lines[:at], *late, *lines[at:]])
    nine = [e.body for e in of(events, EntryRegistered) if e.body.number == "9"]
    assert [(e.team, e.class_name) for e in nine] == [("Team 9", "GT3")]  # no placeholder first
    assert stats.kept_aside == 0
    assert cars(results(events)["club.round1.sunday-race-14"])["9"].laps == 3


def test_a_car_never_announced_is_registered_as_unknown_after_a_minute_and_said_so() -> None:
    race = Run(14, "Sunday Race", TWO, {**CARS, "44": [99.0, 99.0, 99.0]})
    lines = [line for line in race.lines() if not line.startswith(('$A,"44"', '$COMP,"44"'))]
    events, _, stats = feed(lines)
    forty_four = [e for e in of(events, EntryRegistered) if e.body.number == "44"]
    assert [(e.body.team, e.body.class_name) for e in forty_four] == [("unknown", "Unknown")]
    (aside,) = stats.take_aside()
    assert aside.code is RejectCode.UNKNOWN_CAR and "'44'" in aside.reason
    first_lap = next(e for e in of(events, LapCompleted) if e.body.number == "44")
    assert forty_four[0].at <= first_lap.at  # registered before its laps, which kept their times
    assert cars(results(events)["club.round1.sunday-race-14"])["44"].laps == 3


# -- days and kinds ------------------------------------------------------------------------------------------


def test_the_day_comes_from_the_feed_not_from_a_recorders_stamps_of_the_evening_before() -> None:
    """A recorder whose clock says the evening before (its UTC date) still gives the session's own day."""
    race = Run(14, "Sunday Race", NINE, CARS, date="0/0/0000")
    lines = race.lines()
    evening_before = datetime(2025, 5, 31, 21, 30, tzinfo=UTC).timestamp()  # 23:30 in Paris, before 09:00
    mapper = weekend()
    stats = ReadStats()
    events = map_lines(mapper, [(i, evening_before + i, line) for i, line in enumerate(lines, 1)], stats)
    start = next(e for e in events if isinstance(e.body, SessionStarted))
    assert start.at == local(NINE)


def test_times_of_day_past_midnight_roll_the_day() -> None:
    race = Run(14, "Night Race", 86_400 - 150, CARS)
    events, _, _ = feed(race.lines())
    laps = of(events, LapCompleted)
    assert laps[-1].at - laps[0].at == round((race.crossings()[-1][0] - race.crossings()[3][0]) * 1000)
    assert laps[-1].at > local(86_400)


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("Race Practice 2", SessionKind.PRACTICE),
        ("GTO/GTU Qualifying", SessionKind.QUALIFYING),
        ("Saturday 8 Hour", SessionKind.RACE),
        ("Test Race", SessionKind.RACE),
        ("Test Session 4", SessionKind.PRACTICE),
        ("6H of Spa", SessionKind.RACE),
        ("Warm-up", SessionKind.PRACTICE),
        ("GP1/GP2/GP3", None),
    ],
)
def test_the_kind_from_the_run_names_words(name: str, kind: SessionKind | None) -> None:
    assert kind_of(name) is kind


@pytest.mark.parametrize(("practice", "kind"), [(True, SessionKind.PRACTICE), (False, SessionKind.RACE)])
def test_a_name_that_says_nothing_leaves_the_kind_to_the_feeds_order(practice: bool, kind: SessionKind) -> None:
    laps = {"7": [100.0, 100.0, 100.0], "8": [99.0, 99.0], "9": [105.0, 105.0, 105.0]}
    events, _, _ = feed(Run(20, "GP1/GP2/GP3", NINE, laps, practice=practice).lines())
    assert [e.body.kind for e in of(events, SessionOpened)] == [kind]


def test_kind_and_name_given_override_the_run() -> None:
    events, mapper, _ = feed(Run(14, "Sunday Race", TWO, CARS).lines(), weekend(name="Qualifying 1"))
    assert [(e.body.name, e.body.kind) for e in of(events, SessionOpened)] == [("Qualifying 1", SessionKind.QUALIFYING)]
    assert [s.session for s in mapper.sessions] == ["qualifying-1-14"]
    events, _, _ = feed(Run(14, "Qualifying", TWO, CARS).lines(), weekend(kind=SessionKind.RACE))
    assert [(e.body.name, e.body.kind) for e in of(events, SessionOpened)] == [("Qualifying", SessionKind.RACE)]


def test_session_tokens() -> None:
    assert session_token("Saturday 8 Hour", 67) == "saturday-8-hour-67"
    assert session_token("", 5) == "run-5"
    assert session_token("Sunday Race", 14, 2) == "sunday-race-14-2"
    assert len(session_token("x" * 500, 999_999, 99)) <= 64


# -- joined late, with holes ---------------------------------------------------------------------------------

LATE = Run(14, "Sunday Race", TWO, {"7": [100.0] * 6, "8": [101.5] * 6, "9": [103.0] * 5, "10": [99.0, 98.5]})
LATE.extra = {450: LATE.resend(450)}  # the install resets mid-race and re-sends its whole scoreboard
WHOLE = LATE.lines()


@st.composite
def cuts(draw: st.DrawFn) -> list[str]:
    """The race's lines from a random point on (the entries and the start gone), with a random hole."""
    start = draw(st.integers(0, len(WHOLE) * 3 // 4))
    hole_at = draw(st.integers(start, len(WHOLE)))
    return WHOLE[start:hole_at] + WHOLE[hole_at + draw(st.integers(0, 300)) :]


@settings(max_examples=60, deadline=None)
@given(cuts())
def test_any_cut_of_a_capture_ends_with_the_laps_of_the_whole_or_marks_the_difference(lines: list[str]) -> None:
    """Each car ends with the laps the whole capture gives it, unless the car is marked as disagreeing with the
    scoreboard or the cut never showed its final count (its last lap's passing and rows fell in the hole); and the
    read model says how many of its laps are the scoreboard's."""
    whole = {car.number: car.laps for result in results(feed(WHOLE)[0]).values() for car in result.cars}
    events, _, _ = feed(lines)
    rows = last_rows(record for _, _, record in parse_lines((i, None, line) for i, line in enumerate(lines, 1)))
    cut = {car.number: car for result in results(events).values() for car in result.cars}
    for number, laps in whole.items():
        shown = (rows[number].laps if number in rows else None) == laps
        car = cut.get(number)
        if car is None:
            assert not shown, number
            continue
        assert car.laps == laps or car.disagreements or not shown, car
        seen = {e.body.lap for e in of(events, LapCompleted) if e.body.number == number}
        assert car.laps - car.scoreboard_laps == len({lap for lap in seen if lap <= car.laps})


def test_a_capture_joined_mid_race_shows_every_car_with_the_scoreboards_laps_and_bests() -> None:
    """Joined after #10 stopped: the scoreboard the install re-sends at its reset shows it, as on the wall."""
    lines = WHOLE[len(WHOLE) * 3 // 5 :]
    events, _, stats = feed(lines)
    ((_, result),) = results(events).items()
    rows = last_rows(record for _, _, record in parse_lines((i, None, line) for i, line in enumerate(lines, 1)))
    assert differences(result, rows) == set()
    assert {car.number: (car.laps, car.best_lap_ms) for car in result.cars} == {
        "7": (6, 100_000),
        "8": (6, 101_500),
        "9": (5, 103_000),
        "10": (2, 98_500),  # stopped after two laps, long before the capture was joined: the scoreboard's
    }
    assert all(car.scoreboard_laps > 0 for car in result.cars)
    assert stats.take_aside() == []  # the entries came again with the reset, within the minute a car may wait
    reasons = {board.body.reason for board in of(events, ScoreboardReported)}
    assert reasons == {ScoreboardReason.RESET}


def test_where_passings_and_scoreboard_disagree_the_passings_stay_and_race_control_is_told() -> None:
    """#8 has a two-lap penalty on the scoreboard; #7's best there is one none of its passings had."""
    race = Run(14, "Sunday Race", TWO, CARS)
    lines = []
    for line in race.lines():
        if line.startswith("$G,") and ',"8",' in line:
            fields = line.split(",")
            fields[3] = str(int(fields[3]) - 2) if fields[3] else fields[3]
            line = ",".join(fields)
        lines.append(line.replace(f'"7",2,"{clock(98.5)}"', f'"7",2,"{clock(97.9)}"'))
    events, _, stats = feed(lines)
    result = cars(results(events)["club.round1.sunday-race-14"])
    assert (result["8"].laps, result["8"].disagreements) == (
        3,
        [Disagreement(what=DisagreementKind.LAPS, ours=3, scoreboard=1)],
    )
    assert (result["7"].best_lap_ms, result["7"].disagreements) == (
        98_500,
        [Disagreement(what=DisagreementKind.BEST_LAP, ours=98_500, scoreboard=97_900)],
    )
    told = [item.reason for item in stats.take_aside() if item.code is RejectCode.SCOREBOARD_DISAGREES]
    assert "#8: the passings count 3 laps, the timing system's scoreboard 1" in told
    assert "#7: best lap 0:01:38.500 from the passings, 0:01:37.900 on the timing system's scoreboard" in told
    assert stats.disagreements == len(told) and stats.kept_aside == 0


def test_a_big_field_scoreboard_comes_in_events_ingest_takes() -> None:
    field = {str(n): [100.0 + n / 10] * 2 for n in range(1, 151)}
    race = Run(14, "Big Race", TWO, field, length=600)
    race.extra = {250: race.resend(250)}
    lines = race.lines()
    events, _, _ = feed(lines[len(lines) * 2 // 3 :])  # joined after the last laps, before the reset
    boards = of(events, ScoreboardReported)
    assert {row.number for board in boards for row in board.body.cars} == set(field)
    assert max(len(board.body.cars) for board in boards) <= 100
    assert all(len(encode_event(event)) < MAX_EVENT_BYTES for event in events if event.id in {b.id for b in boards})
    assert {car.number: car.laps for car in next(iter(results(events).values())).cars} == dict.fromkeys(field, 2)
