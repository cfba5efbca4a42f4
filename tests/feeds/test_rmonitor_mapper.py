"""RMonitor mapper on small captures written here: every rule of the mapper's docstring, one test each."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import msgspec
import pytest

from schemas import events
from schemas.results import CarState
from services.classification.fold import fold_log
from services.feeds.ids import event_id
from services.feeds.rmonitor.capture import ReadStats, parse_lines
from services.feeds.rmonitor.mapper import FeedPosition, RMonitorMapper
from services.feeds.rmonitor.options import RMonitorOptions
from services.feeds.rmonitor.weekend import WeekendMapper
from tests.factory import classify, session_fold
from tests.feeds.captures import beat, comp, passing, position
from tests.feeds.contract import SESSION as CONTRACT_SESSION
from tests.feeds.contract import FeedContract, Mapped
from tests.feeds.typed import of

SESSION = events.SessionRef(championship="test", event="rmonitor", session="race")
PRODUCER = "rmonitor-test"
DAY = date(2025, 6, 1)
ZONE = "Europe/Paris"
OPTIONS = RMonitorOptions(producer=PRODUCER, day=DAY, time_zone=ZONE)


# -- a tiny capture ---------------------------------------------------------------


TEN = 10 * 3600  # 10:00:00 local: the green flag of the test races


def entries() -> list[str]:
    return [
        '$B,12,"Sunday Race"',
        '$C,1,"GT3"',
        '$C,2,"GT4"',
        '$E,"TRACKNAME","Test Ring"',
        '$E,"TRACKLENGTH","2.500"',
        *comp("7", "Ann", "Lee", 1, "FRA", "Team Seven"),
        *comp("8", "Bob", "Ray", 1, "Porsche 911 GT3 R"),
        *comp("9", "Cy", "Sun", 2),
    ]


def run(
    lines: list[str], mapper: RMonitorMapper | WeekendMapper | None = None, arrivals: list[float | None] | None = None
) -> list[events.Event]:
    """Feed lines (parsed as the reader parses them) and flush; every event must survive the wire."""
    mapper = mapper or make()
    numbered = [(i + 1, arrivals[i] if arrivals else None, line) for i, line in enumerate(lines)]
    log: list[events.Event] = []
    for _, arrival, record in parse_lines(numbered):
        log.extend(mapper.feed(record, arrival))
    log.extend(mapper.flush())
    for event in log:
        assert events.decode_event(events.encode_event(event)) == event
    return log


def make(**options: object) -> RMonitorMapper:
    return RMonitorMapper(SESSION, msgspec.structs.replace(OPTIONS, **options))


def local(seconds: float, day: date = DAY, zone: str = ZONE) -> int:
    """Epoch ms of a local time of the test day."""
    midnight = datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(zone))
    return int(midnight.timestamp() * 1000) + round(seconds * 1000)


def laps(log: list[events.Event]) -> list[tuple[str, int, int, int]]:
    """(number, lap, lap time, at) of every lap."""
    return [
        (e.body.number, e.body.lap, e.body.lap_time_ms, e.at) for e in log if isinstance(e.body, events.LapCompleted)
    ]


def green_race() -> list[str]:
    """Three cars, green at 10:00:00, two laps, the leader takes the flag at 10:05:00."""
    return [
        *entries(),
        beat(TEN - 1, 0, "      ", to_go=1800),
        beat(TEN, 0, "Green ", to_go=1800),
        passing("7", 0, 3.1),
        passing("8", 0, 3.6),
        passing("9", 0, 4.0),
        beat(TEN + 5, 5, "Green ", to_go=1795),
        passing("7", 148.0, 151.1),
        position(1, "7", 1, 151.1),
        passing("8", 149.0, 152.6),
        position(2, "8", 1, 152.6),
        passing("9", 160.0, 164.0),
        position(3, "9", 1, 164.0),
        passing("7", 148.9, 300.0),
        position(1, "7", 2, 300.0),
        beat(TEN + 300, 300, "Finish", to_go=0),
        passing("8", 149.0, 301.6),
        position(2, "8", 2, 301.6),
        passing("9", 160.0, 324.0),
        position(3, "9", 2, 324.0),
        beat(TEN + 330, 330, "Finish", to_go=0),
    ]


# -- session -------------------------------------------------------------------------


def test_session_opened_once_and_first() -> None:
    log = run([*green_race(), '$I,"10:06:00","01 Jun 25"', *entries(), beat(TEN + 400, 400, "Finish")])
    assert isinstance(log[0].body, events.SessionOpened)
    assert len(of(log, events.SessionOpened)) == 1
    opened = log[0].body
    assert opened.name == "Sunday Race"
    assert opened.kind is events.SessionKind.RACE
    assert opened.track == "Test Ring"
    assert opened.track_length_m == 4023  # 2.5 miles
    assert opened.time_zone == ZONE
    assert opened.length.time_ms == 1800 * 1000  # time to go + race time
    assert opened.scheduled_start.startswith("2025-06-01T09:59:59+02:00")


def test_a_lap_count_race_has_a_length_in_laps() -> None:
    log = run([*entries(), beat(TEN - 5, 0, "      ", laps=20), beat(TEN, 0, "Green ", laps=20)])
    opened = log[0].body
    assert isinstance(opened, events.SessionOpened)
    assert (opened.length.laps, opened.length.time_ms) == (20, None)


def test_caller_names_the_session() -> None:
    log = run(green_race(), make(name="Race 2", kind=events.SessionKind.QUALIFYING))
    opened = log[0].body
    assert isinstance(opened, events.SessionOpened)
    assert (opened.name, opened.kind) == ("Race 2", events.SessionKind.QUALIFYING)


def test_one_session_follows_the_first_run_not_idle_and_ignores_the_others() -> None:
    log = run(
        [
            '$B,95,"Test Race"',
            *comp("1", "John", "Smith"),
            '$B,25,"Test Race"',
            beat(TEN, 0, "Green "),
            passing("1", 0, 2.0),
            passing("1", 60.0, 62.0),
            '$B,95,"Test Race"',
            '$I,"10:03:08","01 Jun 25"',
            *comp("00", "Owen", "Kratz"),
            passing("1", 60.0, 122.0),
            '$B,25,"Test Race"',
            passing("1", 60.0, 182.0),
        ],
        WeekendMapper.one_session(SESSION, OPTIONS),
    )
    assert [e.body.number for e in of(log, events.EntryRegistered)] == ["1"]
    assert [lap for _, lap, _, _ in laps(log)] == [1, 2]  # the lap under run 95 was not this session's


def test_init_clears_the_feeds_scoreboard_not_chequereds() -> None:
    mapper = make()
    lines = [*entries(), beat(TEN, 0, "Green "), passing("7", 0, 2.0), passing("7", 100.0, 102.0)]
    lines += [position(1, "7", 1, 102.0)]
    run(lines, mapper)
    assert mapper.feed_positions == {"7": FeedPosition(1, 1, 102_000)}
    more = run(['$I,"10:02:00","0/0/0000"', *entries(), passing("7", 100.0, 202.0)], mapper)
    assert mapper.feed_positions == {}
    assert [lap for _, lap, _, _ in laps(more)] == [2]


# -- entries and drivers ------------------------------------------------------------------


def test_entries_from_a_c_and_comp() -> None:
    log = run([*entries(), beat(TEN, 0, "      ")])
    registered = {e.body.number: e.body for e in of(log, events.EntryRegistered)}
    assert set(registered) == {"7", "8", "9"}
    seven, eight, nine = registered["7"], registered["8"], registered["9"]
    assert (seven.class_name, seven.team, seven.car, seven.manufacturer) == ("GT3", "Team Seven", "unknown", "unknown")
    assert (seven.crew[0].name, seven.crew[0].nationality) == ("Ann Lee", "FRA")
    assert (eight.car, eight.team, eight.crew[0].nationality) == ("Porsche 911 GT3 R", "Bob Ray", None)
    assert nine.class_name == "GT4"
    assert len(of(log, events.EntryRegistered)) == 3  # one per car: $A and $COMP of a block are merged


def test_class_changes_re_register() -> None:
    lines = [*entries(), beat(TEN, 0, "      "), '$C,2,"GT4 Am"', beat(TEN + 1, 0, "      ")]
    lines += [*comp("8", "Bob", "Ray", 2, "Porsche 911 GT3 R"), beat(TEN + 2, 0, "      "), '$C,7,""']
    lines += [*comp("7", "Ann", "Lee", 7, "FRA", "Team Seven"), beat(TEN + 3, 0, "      ")]
    log = run(lines)
    classes = [(e.body.number, e.body.class_name) for e in of(log, events.EntryRegistered)]
    assert classes == [("7", "GT3"), ("8", "GT3"), ("9", "GT4"), ("9", "GT4 Am"), ("8", "GT4 Am"), ("7", "Class 7")]
    fold = session_fold(log)
    assert {n: car.class_name for n, car in fold.cars.items()} == {"7": "Class 7", "8": "GT4 Am", "9": "GT4 Am"}


def test_a_new_name_is_a_driver_change() -> None:
    lines = [*entries(), beat(TEN, 0, "Green "), passing("7", 0, 2.0)]
    lines += [*comp("7", "", "Zoe Kay", 1, "FRA", "Team Seven"), passing("7", 100.0, 102.0)]
    log = run(lines)
    changes = of(log, events.DriverChanged)
    assert [(e.body.number, e.body.driver) for e in changes] == [("7", "Zoe Kay")]
    assert len(of(log, events.EntryRegistered)) == 3  # a driver change does not re-register
    assert of(log, events.LapCompleted)[0].body.driver == "Zoe Kay"


def test_a_car_seen_before_its_entry_gets_a_placeholder() -> None:
    mapper = make()
    log = run([beat(TEN, 0, "Green "), passing("44", 0, 2.0), passing("44", 100.0, 102.0)], mapper)
    log += run([*comp("44", "Dan", "Lo", 3), '$C,3,"LMP2"', beat(TEN + 200, 200, "Green ")], mapper)
    assert mapper.stats.placeholders == 1
    entries_44 = [e.body for e in of(log, events.EntryRegistered)]
    assert [(e.class_name, e.team, e.crew[0].name) for e in entries_44] == [
        ("Unknown", "unknown", "#44"),
        ("LMP2", "Dan Lo", "Dan Lo"),
    ]
    assert [e.body.driver for e in of(log, events.DriverChanged)] == ["Dan Lo"]
    assert session_fold(log).cars["44"].driver == "Dan Lo"


@pytest.mark.parametrize(
    ("registration", "number", "expected"),
    [("12X", "12X", "12X"), ("1234BE", "", "1234BE"), ("12-A", "12-A", "12A"), ("Tx4667026", "", "Tx466702")],
)
def test_car_numbers_are_made_valid(registration: str, number: str, expected: str) -> None:
    line = f'$A,"{registration}","{number}",1,"A","B","",1'
    log = run([line, beat(TEN, 0, "      ")])
    assert [e.body.number for e in of(log, events.EntryRegistered)] == [expected]


def test_two_registrations_that_clean_to_the_same_number_stay_apart() -> None:
    log = run(['$A,"1-2","1-2",1,"A","B","",1', '$A,"1.2","1.2",2,"C","D","",1', beat(TEN, 0, "      ")])
    numbers = [e.body.number for e in of(log, events.EntryRegistered)]
    assert numbers[0] == "12"
    assert len(set(numbers)) == 2


# -- laps ------------------------------------------------------------------------------------


def test_laps_are_stamped_anchor_plus_race_time() -> None:
    log = run(green_race())
    start = local(TEN)
    assert of(log, events.SessionStarted)[0].at == start
    assert laps(log) == [
        ("7", 1, 148_000, start + 151_100),
        ("8", 1, 149_000, start + 152_600),
        ("9", 1, 160_000, start + 164_000),
        ("7", 2, 148_900, start + 300_000),
        ("8", 2, 149_000, start + 301_600),
        ("9", 2, 160_000, start + 324_000),
    ]
    expected = ["j-7-1", "j-8-1", "j-9-1", "j-7-2", "j-8-2", "j-9-2"]
    assert [e.id for e in of(log, events.LapCompleted)] == [event_id(SESSION, i) for i in expected]


def test_first_crossing_is_no_lap_and_zero_lap_time_later_is_derived() -> None:
    mapper = make()
    log = run([*entries(), beat(TEN, 0, "Green "), passing("7", 0, 3.0), passing("7", 0, 103.5)], mapper)
    assert [(n, lap, ms) for n, lap, ms, _ in laps(log)] == [("7", 1, 100_500)]
    assert mapper.stats.start_crossings == 1


def test_a_re_sent_passing_is_nothing_and_one_a_few_ms_different_corrects_the_lap() -> None:
    """Orbits re-sends a passing a few seconds later, sometimes a few milliseconds different: the second replaces
    the first (an explicit correction in the log), an identical one is nothing, an old one is stale."""
    lines = [*entries(), beat(TEN, 0, "Green "), passing("60", 0, 2.0), *comp("60", "Eve", "Fox")]
    lines += [passing("60", 146.423, 148.423), passing("60", 146.423, 148.423), passing("60", 146.421, 148.421)]
    lines += [passing("60", 140.0, 50.0), passing("60", 145.0, 293.4)]
    mapper = make()
    log = run(lines, mapper)
    assert [(lap, ms) for _, lap, ms, _ in laps(log)] == [(1, 146_423), (2, 145_000)]
    (correction,) = of(log, events.LapCorrected)
    assert correction.body == events.LapCorrected(
        number="60",
        lap=1,
        crossing=local(TEN) + 148_421,
        lap_time_ms=146_421,
        reason="re-sent by the timing system",
    )
    assert (mapper.stats.repeats, mapper.stats.corrections, mapper.stats.stale) == (1, 1, 1)
    sixty = classify(log).cars[0]
    assert (sixty.best_lap_ms, sixty.best_lap, sixty.laps) == (145_000, 2, 2)
    assert fold_log(enumerate(log[:-1], 1)).sessions[SESSION.key].classification().cars[0].best_lap_ms == 146_421


def test_a_capture_joined_mid_race_numbers_laps_from_the_feeds_order() -> None:
    lines = [*entries(), position(1, "7", 16, 2400.0), beat(TEN + 2450, 2450, "Yellow")]
    lines += [passing("7", 150.0, 2550.0), position(1, "7", 17, 2550.0), passing("7", 150.0, 2700.0)]
    log = run(lines)
    start = local(TEN)
    assert laps(log) == [("7", 17, 150_000, start + 2_550_000), ("7", 18, 150_000, start + 2_700_000)]
    assert of(log, events.SessionStarted)[0].at == start  # reconstructed from the heartbeat
    assert [e.body.flag for e in of(log, events.FlagChanged)] == [events.Flag.YELLOW]


def test_a_passing_the_feed_never_sent_is_a_lap_from_the_scoreboard() -> None:
    """Its ``$G`` counts one more lap: distance from the scoreboard, with no lap time (never a best)."""
    lines = [*entries(), beat(TEN, 0, "Green "), passing("7", 0, 2.0), passing("7", 100.0, 102.0)]
    lines += [position(1, "7", 1, 102.0), position(1, "7", 2, 203.0), beat(TEN + 204, 204, "Green ")]
    lines += [passing("7", 99.0, 302.0), position(1, "7", 3, 302.0), beat(TEN + 303, 303, "Green ")]
    mapper = make()
    log = run(lines, mapper)
    assert [(lap, ms) for _, lap, ms, _ in laps(log)] == [(1, 100_000), (3, 99_000)]
    (board,) = of(log, events.ScoreboardReported)
    assert board.body.reason is events.ScoreboardReason.UPDATE
    assert [(row.number, row.laps, row.total_ms) for row in board.body.cars] == [("7", 2, 203_000)]
    assert mapper.stats.reported_laps == 1
    seven = classify(log).cars[0]
    assert (seven.laps, seven.scoreboard_laps, seven.best_lap_ms, seven.disagreements) == (3, 1, 99_000, [])


def test_the_feeds_lap_penalties_do_not_renumber_laps() -> None:
    lines = [*entries(), beat(TEN, 0, "Green "), position(9, "9", -34, 2.0), passing("9", 0, 2.0)]
    lines += [passing("9", 100.0, 102.0), position(9, "9", -33, 102.0), passing("9", 100.0, 202.0)]
    log = run(lines)
    assert [lap for _, lap, _, _ in laps(log)] == [1, 2]


def test_laps_strictly_increase_and_times_never_go_back_after_a_clock_reset() -> None:
    lines = [*entries(), beat(TEN, 0, "Green "), passing("7", 0, 2.0), beat(TEN + 50, 50, "Green ")]
    lines += [passing("7", 100.0, 102.0), *(beat(TEN + 110 + s, 5 + s, "Green ") for s in range(3))]
    lines += [passing("7", 100.0, 107.0)]
    mapper = make()
    log = run(lines, mapper)
    (_, first, _, at1), (_, second, _, at2) = laps(log)
    assert (first, second) == (1, 2)
    assert at2 >= at1
    assert mapper.clock.reanchors == 1  # after three heartbeats in a row on the new clock
    assert len(session_fold(log).cars["7"].crossings) == 2  # none refused


# -- flags -------------------------------------------------------------------------------------


def test_flag_changes() -> None:
    lines = [*entries(), beat(TEN - 1, 0, "      "), beat(TEN, 0, "Green "), beat(TEN + 1, 1, "GREEN")]
    lines += [beat(TEN + 2, 2, "yellow"), beat(TEN + 3, 3, "Yellow"), beat(TEN + 4, 4, "")]
    lines += [beat(TEN + 5, 5, "Green"), beat(TEN + 6, 6, "Purple"), beat(TEN + 7, 7, "Red   ")]
    log = run(lines)
    assert len(of(log, events.SessionStarted)) == 1
    flags = [(e.body.flag, e.at - local(TEN)) for e in of(log, events.FlagChanged)]
    assert flags == [
        (events.Flag.YELLOW, 2000),
        (events.Flag.GREEN, 5000),
        (events.Flag.UNKNOWN, 6000),
        (events.Flag.RED, 7000),
    ]


def test_a_start_under_yellow_is_started_then_yellow() -> None:
    lines = [*entries(), beat(TEN, 0, "Yellow"), beat(TEN + 1, 1, "Yellow"), beat(TEN + 50, 50, "Green ")]
    log = run(lines)
    kinds = [
        type(e.body).__name__ for e in log if not isinstance(e.body, events.SessionOpened | events.EntryRegistered)
    ]
    assert kinds == ["FlagChanged", "SessionStarted", "FlagChanged", "FlagChanged"]
    fold = session_fold(log)
    assert fold.started_at == local(TEN)
    assert fold.flag is events.Flag.GREEN


def test_finish_is_stamped_with_the_leaders_crossing_and_the_fold_agrees() -> None:
    log = run(green_race())
    finished = of(log, events.SessionFinished)
    assert [e.at for e in finished] == [local(TEN) + 300_000]
    assert not [e for e in of(log, events.FlagChanged) if e.body.flag is events.Flag.CHEQUERED]
    result = classify(log)
    assert [(c.number, c.laps, c.position, c.class_position) for c in result.cars] == [
        ("7", 2, 1, 1),
        ("8", 2, 2, 2),
        ("9", 2, 3, 1),
    ]
    assert {c.state for c in result.cars} == {CarState.FINISHED}


def test_finish_long_after_the_last_crossing_is_stamped_with_the_flag() -> None:
    lines = [*entries(), beat(TEN, 0, "Green "), passing("7", 0, 2.0), passing("7", 100.0, 102.0)]
    lines += [beat(TEN + 200, 200, "Finish"), beat(TEN + 260, 260, "Green "), beat(TEN + 300, 300, "Finish")]
    log = run(lines)
    assert [e.at - local(TEN) for e in of(log, events.SessionFinished)] == [200_000]
    assert [e.body.flag for e in of(log, events.FlagChanged)] == [events.Flag.GREEN, events.Flag.CHEQUERED]


# -- time ---------------------------------------------------------------------------------------


def test_events_wait_for_a_time_of_day() -> None:
    mapper = make()
    first = [event for line in entries() for _, _, r in parse_lines([(1, None, line)]) for event in mapper.feed(r)]
    assert first == []
    ((_, _, heartbeat),) = parse_lines([(1, None, beat(TEN - 10, 0, "      "))])
    released = mapper.feed(heartbeat)
    assert isinstance(released[0].body, events.SessionOpened)
    assert {e.at for e in released} == {local(TEN - 10)}


@pytest.mark.parametrize(
    ("line", "arrival", "day"),
    [
        ('$I,"09:00:00","14 Jul 24"', None, date(2024, 7, 14)),
        ('$L,"7","T1","SFT","07/14/2024","09:00:00.000"', None, date(2024, 7, 14)),
        ('$C,1,"GT3"', datetime(2024, 7, 13, 22, 30, tzinfo=UTC).timestamp(), date(2024, 7, 14)),  # 00:30 in Paris
        ('$C,1,"GT3"', None, date(2000, 1, 1)),
    ],
)
def test_the_session_day(line: str, arrival: float | None, day: date) -> None:
    mapper = RMonitorMapper(SESSION, RMonitorOptions(producer=PRODUCER, time_zone=ZONE))
    lines = [line, *entries(), beat(TEN, 0, "Green ")]
    log = run(lines, mapper, [arrival] + [None] * (len(lines) - 1))
    assert of(log, events.SessionStarted)[0].at == local(TEN, day)


def test_time_of_day_rolls_over_midnight() -> None:
    lines = [*entries(), beat(86_400 - 100, 0, "Green "), passing("7", 0, 3.0)]
    lines += [beat(86_400 - 1, 99, "Green "), beat(5, 105, "Green "), passing("7", 150.0, 153.0)]
    lines += [beat(60, 160, "Yellow")]
    log = run(lines)
    start = local(86_400 - 100)
    assert laps(log) == [("7", 1, 150_000, start + 153_000)]
    assert of(log, events.FlagChanged)[0].at == start + 160_000


def test_the_circuit_time_zone_is_applied() -> None:
    paris = run(green_race())
    utc = run(green_race(), make(time_zone="UTC"))
    assert of(utc, events.SessionStarted)[0].at - of(paris, events.SessionStarted)[0].at == 2 * 3600 * 1000


# -- IMSA pit lines ---------------------------------------------------------------------------------


def test_imsa_pit_lines() -> None:
    lines = [
        '$L,"7","P2","POP","06/01/2025","09:59:30.000"',  # before the car is registered: held
        *entries(),
        beat(TEN, 0, "Green "),
        passing("7", 0, 2.0),
        '$L,"7","P3","PIP","06/01/2025","10:01:30.000"',
        '$L,"7","P1","SFP","06/01/2025","10:01:41.000"',
        passing("7", 100.0, 102.0),
        '$L,"7","P2","POT","06/01/2025","10:02:05.000"',
        '$L,"7","T1","SFT","06/01/2025","10:03:40.000"',
        passing("7", 98.0, 200.0),
        '$L,"8","P9","PIT","06/01/2025","10:04:00.000"',
        '$L,"Tx4667026","P2","POP","06/01/2025","10:04:10.000"',
    ]
    mapper = make()
    log = run(lines, mapper)
    pits = [
        (type(e.body).__name__, e.body.number, e.at - local(TEN))
        for e in log
        if isinstance(e.body, events.PitIn | events.PitOut)
    ]
    assert pits == [("PitOut", "7", -30_000), ("PitIn", "7", 90_000), ("PitOut", "7", 125_000), ("PitIn", "8", 240_000)]
    assert [e.body.in_pit for e in of(log, events.LapCompleted)] == [True, False]
    assert mapper.stats.unmatched_crossings == 1
    stops = classify(log).cars
    assert {c.number: c.pit_stops for c in stops}["7"] == 1


# -- ids ------------------------------------------------------------------------------------------


def test_reading_twice_gives_the_same_ids() -> None:
    first, second = run(green_race()), run(green_race())
    assert [e.id for e in first] == [e.id for e in second]
    assert first == second
    assert len({e.id for e in first}) == len(first)


def test_a_reconnect_re_sends_and_gives_the_same_lap_ids() -> None:
    race = green_race()
    whole = run(race)
    # the client reconnects after the first lap of #7: Orbits re-sends its scoreboard, then goes on
    cut = race.index(position(1, "7", 1, 151.1)) + 1
    resend = ['$I,"10:02:40","0/0/0000"', *entries(), position(1, "7", 1, 151.1), beat(TEN + 160, 160, "Green ")]
    again = run(resend + race[cut:])
    by_id = {e.id: e for e in whole}
    common = of(again, events.LapCompleted)
    assert [e.id for e in common] == [event_id(SESSION, i) for i in ("j-8-1", "j-9-1", "j-7-2", "j-8-2", "j-9-2")]
    assert all(by_id[e.id].body == e.body for e in common)
    assert {e.id for e in again} <= set(by_id) | {event_id(SESSION, "f-green-160"), event_id(SESSION, "s-0")}
    (board,) = of(again, events.ScoreboardReported)  # the lap of #7 the new process never saw: from the scoreboard
    assert [(row.number, row.laps, row.total_ms) for row in board.body.cars] == [("7", 1, 151_100)]


def test_ids_are_unique_per_session_for_one_producer() -> None:
    other = events.SessionRef(championship="test", event="rmonitor", session="race2")
    race = run(green_race())
    race2 = run(green_race(), RMonitorMapper(other, OPTIONS))
    assert not {e.id for e in race} & {e.id for e in race2}
    assert [e.id.split(":", 1)[1] for e in race] == [e.id.split(":", 1)[1] for e in race2]


def test_an_event_that_cannot_be_made_is_dropped_and_the_events_after_it_go_on() -> None:
    """A failed event leaves the queue (it was once retried forever, holding back every event after it)."""

    def year_ten_thousand(race_ms: int) -> int:
        raise OverflowError("date value out of range")

    mapper = make()
    mapper._race_instant = year_ten_thousand  # type: ignore[method-assign]
    lines = [*entries(), beat(TEN, 0, "Green "), passing("7", 0, 2.0), passing("7", 100.0, 102.0)]
    lines += [passing("7", 100.002, 102.002), passing("7", 99.0, 201.0), beat(TEN + 210, 210, "Yellow")]
    log = run(lines, mapper)
    assert [(lap, ms) for _, lap, ms, _ in laps(log)] == [(1, 100_000), (2, 99_000)]
    assert of(log, events.LapCorrected) == []
    assert [e.body.flag for e in of(log, events.FlagChanged)] == [events.Flag.YELLOW]
    (notice,) = mapper.take_notices()
    assert "dropped" in notice.reason and "OverflowError" in notice.reason


# -- the feed contract ---------------------------------------------------------------------------


class TestRMonitorContract(FeedContract):
    """The feed contract (tests/feeds/contract.py) kept by the RMonitor reader and mapper."""

    def race(self) -> list[str]:
        return green_race()

    def glitches(self) -> list[str]:
        return ["garbage", "$G,abc", '$G,1,"7",zz,"00:01:00.000"', "$A", "##what", "\x00\x00$J"]

    def mapped(self, lines: list[str], session: events.SessionRef = CONTRACT_SESSION) -> Mapped:
        stats = ReadStats()
        mapper = RMonitorMapper(session, OPTIONS)
        log: list[events.Event] = []
        for _, arrival, record in parse_lines([(i, None, line) for i, line in enumerate(lines, 1)], stats):
            log.extend(mapper.feed(record, arrival))
        log.extend(mapper.flush())
        return Mapped(log, [number for number, _ in stats.errors])
