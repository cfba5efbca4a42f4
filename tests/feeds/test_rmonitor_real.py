"""RMonitor adapter against real captures (read in place from ../shared/data, skipped when absent).

What is checked, per capture: it parses to the end (the skipped lines are
counted and expected), maps to events that all survive the wire and that the
fold applies without a refusal, and maps to the same ids when read twice.

Then each session, mapped as ``chequered feed --championship C --event E``
maps it (:class:`WeekendMapper`), is compared with the feed's own scoreboard:
every car's laps and best lap against its last ``$G`` and ``$H``, and the order
of the cars that agree against their ``$G`` positions (a race) or ``$H``
positions (practice). Every difference is in :data:`KNOWN_DIFFERENCES` with its
reason, the test checks that the list is exactly the differences found, and the
tests below it check that each reason holds in the data. The same comparison
runs through the installed command in ``test_feed_command_real.py``, on the
whole captures and on cuts of them (joined late, with a hole:
:data:`KNOWN_IN_CUTS`).

==================================  ======  ===========================================
capture                             cars    differences (whole capture)
==================================  ======  ===========================================
orbits-mock-session                 6       none
redmist-TestAbnormalReset           52      #91: the capture ends between its $J and $G
redmist-TestGap                     76      none
redmist-TestMissingLaps             75      10 cars with lap penalties in the feed's count
redmist-TestResetRetainLapTime      52      none
redmist-TestStart                   52      none
sebring-2009-alms-session4          11      all but one: the session went on after the
                                            first chequered flag; at that flag all 10
                                            cars then timed agree, laps and order
==================================  ======  ===========================================

Before the scoreboard was reconciled, 20 cars with laps on the scoreboard
(6 of TestAbnormalReset and 10 of TestGap, recorded from mid-race; 3 of
TestMissingLaps; 1 of TestResetRetainLapTime) could not be compared at all,
and no best lap was compared; 18 cars differed on laps. Now every car is
compared on laps, best lap and order, and 22 differences remain, of three
reasons: the end of a capture, lap penalties (3 more cars than before: the
ones that never passed, whose count is below zero, are now compared) and the
test session that went on after its first chequered flag.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from schemas.events import (
    EntryRegistered,
    Event,
    LapCompleted,
    PitIn,
    PitOut,
    SessionFinished,
    SessionKind,
    SessionRef,
    SessionStarted,
)
from schemas.ingest import RejectCode
from schemas.results import Classification
from services.classification.fold import ClassificationProjection, fold_log
from services.feeds.rmonitor.capture import MappedCapture, ReadStats, map_capture, map_feed, read_records
from services.feeds.rmonitor.mapper import FeedPosition, RMonitorMapper
from services.feeds.rmonitor.options import RMonitorOptions
from services.feeds.rmonitor.parser import RacePosition, parse_arrival
from services.feeds.rmonitor.weekend import WeekendMapper
from tests.factory import assert_wire_and_fold, classify
from tests.feeds.reference import differences, last_rows
from tests.recordings import SHARED_DATA, recording

RMONITOR = SHARED_DATA / "rmonitor"
SESSION = SessionRef(championship="real", event="rmonitor", session="capture")
PRODUCER = "rmonitor-real"


@dataclass(frozen=True)
class Capture:
    time_zone: str
    skipped: int = 0
    sessions: int = 1
    """Sessions a feed following the weekend makes of it (none: entries or positions only, no lap)."""
    name: str | None = None
    """``--name``: the capture starts without its ``$B``."""


CAPTURES = {
    "orbits-mock-session.txt": Capture("Europe/London"),
    "redmist-TestAbnormalReset.txt": Capture("America/Chicago"),
    "redmist-TestEntries.txt": Capture("America/Chicago", sessions=0),
    "redmist-TestGap.txt": Capture("America/Chicago", skipped=1),
    "redmist-TestInitialPositions.txt": Capture("America/Chicago", sessions=0),
    "redmist-TestMidRaceClassChange.txt": Capture("America/Chicago", sessions=0),
    "redmist-TestMissingLaps.txt": Capture("America/Chicago"),
    "redmist-TestResetRetainLapTime.txt": Capture("America/Chicago"),
    "redmist-TestStart.txt": Capture("America/Chicago"),
    "sebring-2009-alms-session4.txt": Capture("America/New_York", name="Test Session 4"),
}

LAP_PENALTY = "lap penalty: the feed's $G counts fewer laps than the passings (even below zero)"
PENALTY_NUMBERS = (
    "lap penalty: the feed's $G counts fewer laps, so its $H lap numbers are not the passings' lap numbers"
)
AFTER_FIRST_FLAG = (
    "the test session showed Finish at 1:36:24, then red, then green again until a second Finish at 2:00:03; "
    "chequered ends the session at the first chequered flag (laps after a car's flag do not count), "
    "the feed's $G and $H count every lap to the end"
)
CAPTURE_END = "the capture ends with #91's passing of lap 17 ($J), before the $G that goes with it"
HOLE = "the hole took every $G of the car with a lap count: its $H best has no lap to stand on"
PENALISED = ("29", "303", "37", "44", "461", "617", "707", "770", "92", "99")
KNOWN_DIFFERENCES: dict[str, dict[tuple[str, str], str]] = {
    "redmist-TestAbnormalReset.txt": {("91", "laps"): CAPTURE_END},
    "redmist-TestMissingLaps.txt": {(n, "laps"): LAP_PENALTY for n in PENALISED},
    "sebring-2009-alms-session4.txt": {
        **{(n, "laps"): AFTER_FIRST_FLAG for n in ("9", "15", "21", "28", "40", "44", "45", "46", "87", "92")},
        ("9", "best"): AFTER_FIRST_FLAG,
    },
}
"""Where a whole capture's classification cannot equal the feed's last ``$G``/``$H``, and why (checked below)."""
KNOWN_IN_CUTS: dict[str, dict[tuple[str, str], str]] = {
    "redmist-TestAbnormalReset.txt": {
        ("91", "laps"): CAPTURE_END,
        **{(n, "best"): HOLE for n in ("111", "144", "2", "246", "70")},
    },
    "redmist-TestMissingLaps.txt": {
        **{(n, "laps"): LAP_PENALTY for n in ("29", "37", "707", "770", "92", "99")},
        **{(n, "best"): PENALTY_NUMBERS for n in ("303", "44", "461", "92", "99")},
    },
    "sebring-2009-alms-session4.txt": {
        **{(n, "laps"): AFTER_FIRST_FLAG for n in ("9", "21", "28", "40", "87", "92")},
        ("9", "best"): AFTER_FIRST_FLAG,
    },
}
"""The same for the captures cut by :func:`tests.feeds.reference.cut` (joined late, with a hole)."""


def options(time_zone: str, *, kind: SessionKind | None = None, name: str | None = None) -> RMonitorOptions:
    return RMonitorOptions(producer=PRODUCER, time_zone=time_zone, kind=kind, name=name)


def capture_path(name: str) -> Path:
    return recording("rmonitor", name)


@cache
def mapped(name: str) -> MappedCapture:
    # Sebring's run is a test session: mapped as a race so chequered orders by laps, as the feed's $G does
    return map_capture(capture_path(name), SESSION, options(CAPTURES[name].time_zone, kind=SessionKind.RACE))


@cache
def classification(name: str) -> Classification:
    return classify(mapped(name).events)


def all_captures() -> list[str]:
    """The captures the README lists, and any other capture found beside them."""
    found = {p.name for p in RMONITOR.glob("*.txt") if not p.name.startswith("LICENSE")} if RMONITOR.is_dir() else set()
    return sorted(set(CAPTURES) | found)


# -- every capture ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", all_captures())
def test_parses_to_the_end_and_maps_to_valid_events(name: str) -> None:
    path = capture_path(name)
    stats = ReadStats()
    reached = max(number for number, _, _ in read_records(path, stats))
    reached = max([reached, *(number for number, _ in stats.errors)])
    content = path.read_bytes().lstrip(b"\xef\xbb\xbf").split(b"\n")
    last = max(i for i, raw in enumerate(content, 1) if raw.strip() and parse_arrival(raw.decode()) is None)
    assert reached == last  # read to the end
    expected = CAPTURES.get(name, Capture("UTC")).skipped
    assert stats.skipped == expected, stats.errors
    events = map_capture(path, SESSION, options(CAPTURES.get(name, Capture("UTC")).time_zone)).events
    assert len({event.id for event in events}) == len(events)
    assert_wire_and_fold(events)


def test_the_truncated_last_line_of_testgap_is_the_one_skipped() -> None:
    stats = mapped("redmist-TestGap.txt").read
    assert stats.truncated_last_line
    assert stats.errors == [(4091, "unreadable ## arrival stamp")]


@pytest.mark.parametrize("name", all_captures())
def test_reading_a_capture_twice_gives_the_same_ids(name: str) -> None:
    zone = CAPTURES.get(name, Capture("UTC")).time_zone
    first = map_capture(capture_path(name), SESSION, options(zone)).events
    second = map_capture(capture_path(name), SESSION, options(zone)).events
    assert [e.id for e in first] == [e.id for e in second]
    assert first == second


# -- the feed's own scoreboard --------------------------------------------------------------------


@cache
def followed(name: str) -> tuple[WeekendMapper, dict[str, Classification], ReadStats]:
    """The capture mapped as ``chequered feed --championship C --event E`` maps it, its sessions folded, and what
    the read kept aside or found disagreeing."""
    capture = CAPTURES[name]
    mapper = WeekendMapper("real", "rmonitor", options(capture.time_zone, name=capture.name))
    mapped_feed = map_feed(mapper, capture_path(name))
    projection = ClassificationProjection()
    events = mapped_feed.events
    assert [refused for seq, event in enumerate(events, 1) if (refused := projection.apply(seq, event))] == []
    return mapper, {key: state.classification() for key, state in projection.sessions.items()}, mapped_feed.read


@pytest.mark.parametrize("name", sorted(CAPTURES))
def test_each_session_ends_as_the_feeds_own_scoreboard_shows_it(name: str) -> None:
    mapper, sessions, _ = followed(name)
    assert len(sessions) == len(mapper.sessions) == CAPTURES[name].sessions
    rows = last_rows(record for _, _, record in read_records(capture_path(name)))
    for result in sessions.values():
        assert {(n, what): "" for n, what in differences(result, rows)}.keys() == KNOWN_DIFFERENCES.get(name, {}).keys()


def test_laps_from_the_scoreboard_are_said_in_the_read_model() -> None:
    """TestGap was recorded from mid-race (the cars' first laps are on the scoreboard, not in passings),
    TestMissingLaps has passings Orbits never sent as $J: the read model says how many laps of each car are the
    scoreboard's."""
    (gap,) = followed("redmist-TestGap.txt")[1].values()
    assert all(car.scoreboard_laps >= 50 for car in gap.cars if car.laps >= 55)
    (missing,) = followed("redmist-TestMissingLaps.txt")[1].values()
    assert 0 < sum(car.scoreboard_laps for car in missing.cars) < 100
    (start,) = followed("redmist-TestStart.txt")[1].values()
    assert sum(car.scoreboard_laps for car in start.cars) == 0  # watched from the start: every lap a passing


def test_abnormal_reset_difference_is_the_missing_last_position() -> None:
    name = "redmist-TestAbnormalReset.txt"
    events = mapped(name).events
    last_lap = [e for e in events if isinstance(e.body, LapCompleted)][-1]
    assert isinstance(last_lap.body, LapCompleted)
    assert (last_lap.body.number, last_lap.body.lap) == ("91", 17)
    start = next(e.at for e in events if isinstance(e.body, SessionStarted))
    feed = mapped(name).mapper.feed_positions["91"]
    assert feed.laps == 16
    assert feed.total_ms is not None and feed.total_ms < last_lap.at - start


def test_missing_laps_differences_are_lap_penalties() -> None:
    """For each car listed, every $G that matches one of its passings is the same number of laps short, and the
    cars that never passed show a count below zero."""
    name = "redmist-TestMissingLaps.txt"
    events = mapped(name).events
    start = next(e.at for e in events if isinstance(e.body, SessionStarted))
    lap_at_total = {(e.body.number, e.at - start): e.body.lap for e in events if isinstance(e.body, LapCompleted)}
    offsets: dict[str, set[int]] = {}
    lowest: dict[str, int] = {}
    for _, _, record in read_records(capture_path(name)):
        if isinstance(record, RacePosition) and record.laps is not None:
            lowest[record.registration] = min(record.laps, lowest.get(record.registration, 0))
            lap = lap_at_total.get((record.registration, record.total_ms or -1))
            if lap is not None:
                offsets.setdefault(record.registration, set()).add(lap - record.laps)
    penalised = {number for number, (offset,) in offsets.items() if offset} | {
        n for n, low in lowest.items() if low < 0
    }
    assert penalised == set(PENALISED)
    assert all(len(values) == 1 for values in offsets.values())
    assert {key: reason for key, reason in KNOWN_DIFFERENCES[name].items()} == {
        (n, "laps"): LAP_PENALTY for n in PENALISED
    }
    _, sessions, read = followed(name)  # the read model marks them, and race control is told, both values
    (session,) = sessions.values()
    assert {car.number for car in session.cars if any(d.what == "laps" for d in car.disagreements)} == set(PENALISED)
    told = {item.reason.split(":")[0] for item in read.aside if item.code is RejectCode.SCOREBOARD_DISAGREES}
    assert told == {f"#{n}" for n in PENALISED}


def test_sebring_agrees_with_the_feed_at_the_first_chequered_flag() -> None:
    """Fold what was sent until the first Finish and compare with the $G order at that moment: all agree."""
    name = "sebring-2009-alms-session4.txt"
    mapper = RMonitorMapper(SESSION, options("America/New_York", kind=SessionKind.RACE))
    events: list[Event] = []
    snapshot: dict[str, FeedPosition] | None = None
    at_flag: list[Event] = []
    for _, arrival, record in read_records(capture_path(name)):
        for event in mapper.feed(record, arrival):
            if isinstance(event.body, SessionFinished) and snapshot is None:
                snapshot, at_flag = dict(mapper.feed_positions), list(events)
            events.append(event)
    assert snapshot is not None
    result = fold_log(enumerate(at_flag, 1)).sessions[SESSION.key].classification()
    timed = [car for car in result.cars if car.laps > 0 and car.number in snapshot]
    assert len(timed) == 10
    assert [(car.number, car.laps) for car in timed] == sorted(
        ((n, snapshot[n].laps) for n in (car.number for car in timed)), key=lambda item: snapshot[item[0]].position
    )
    # and the final differences are laps done after that flag: each car counts at most its flag lap more
    final = {car.number: car.laps for car in classification(name).cars}
    rows = last_rows(record for _, _, record in read_records(capture_path(name)))
    for number in {n for n, what in KNOWN_DIFFERENCES[name] if what == "laps"}:
        before = snapshot[number].laps if number in snapshot else None
        assert final[number] - (before or 0) in (0, 1)
        after = rows[number].laps
        assert after is not None and after > final[number]
    # #9 left the pits just before that flag: its one lap counted is its flag lap, slower than its later best
    (session,) = followed(name)[1].values()
    nine = next(car for car in session.cars if car.number == "9")
    assert (nine.laps, nine.took_flag, nine.best_lap) == (1, True, 1)
    assert rows["9"].best_ms is not None and rows["9"].best_ms < (nine.best_lap_ms or 0)


def test_sebring_pit_stops_come_from_the_imsa_lines() -> None:
    events = mapped("sebring-2009-alms-session4.txt").events
    pit_in = [e for e in events if isinstance(e.body, PitIn)]
    pit_out = [e for e in events if isinstance(e.body, PitOut)]
    assert len(pit_in) == 63
    assert len(pit_out) == 82
    assert all(e.id.split(":", 1)[1].startswith("l-") for e in pit_in + pit_out)
    in_pit_laps = [e for e in events if isinstance(e.body, LapCompleted) and e.body.in_pit]
    assert in_pit_laps  # laps that ended on the pit-lane finish line (SFP)
    stops = {car.number: car.pit_stops for car in classification("sebring-2009-alms-session4.txt").cars}
    assert sum(stops.values()) > 0


def test_lap_times_agree_with_the_arrival_stamps() -> None:
    """A lap's ``at`` (anchor + race time) against the UTC wall clock at which its $J arrived."""
    for name in ("redmist-TestGap.txt", "redmist-TestMissingLaps.txt", "redmist-TestStart.txt"):
        mapper = RMonitorMapper(SESSION, options("America/Chicago"))
        lags: list[float] = []
        for _, arrival, record in read_records(capture_path(name)):
            if arrival is not None:
                events = mapper.feed(record, arrival)
                lags.extend(arrival * 1000 - e.at for e in events if isinstance(e.body, LapCompleted))
        assert lags
        assert max(abs(lag) for lag in lags) < 10_000, name
        assert abs(statistics.median(lags)) < 1_500, name


# -- captures without a race order -------------------------------------------------------------------


def test_entries_capture_registers_every_car_with_its_class() -> None:
    events = mapped("redmist-TestEntries.txt").events
    entries = {e.body.number: e.body for e in events if isinstance(e.body, EntryRegistered)}
    assert len(entries) == 48
    assert {entry.class_name for entry in entries.values()} == {"GTO", "GTU", "GP1", "GP2"}
    assert entries["70"].team == "Trim-Tex"


def test_mid_race_class_change_ends_in_the_new_class() -> None:
    result = classification("redmist-TestMidRaceClassChange.txt")
    assert [(car.number, car.class_name) for car in result.cars] == [("55", "GP2")]


def test_initial_positions_fill_the_side_table_only() -> None:
    capture = mapped("redmist-TestInitialPositions.txt")
    assert capture.events == []  # positions and blank heartbeats: nothing happened yet
    feed = capture.mapper.feed_positions
    assert len(feed) == 48
    assert (feed["70"].position, feed["149"].position) == (1, 47)
