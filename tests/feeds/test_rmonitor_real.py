"""RMonitor adapter against real captures (read in place from ../shared/data, skipped when absent).

What is checked, per capture: it parses to the end (the skipped lines are
counted and expected), maps to events that all survive the wire and that the
fold applies without a refusal, and maps to the same ids when read twice.

Where a capture has ``$G`` records, chequered's final classification is
compared with the feed's own last ``$G`` order for the cars that have both a
``$G`` with a lap count and at least one lap in the capture (a capture joined
mid-race has ``$G`` counts for cars that never crossed the line while it was
recorded: chequered has nothing to build from for those, and they are left
out, their number asserted). For those cars:

- where the lap counts agree, the order must be the feed's, exactly;
- where they cannot agree, each car is listed in :data:`KNOWN_DIFFERENCES`
  with the reason, and the test checks both that the list is exactly the set
  of cars that differ and that the reason holds in the data.

The results (laps differ / cars compared / cars with a ``$G``):

==================================  ========  =========================================
capture                             compared  differences
==================================  ========  =========================================
orbits-mock-session                 6 of 6    none
redmist-TestAbnormalReset           14 of 20  #91: the capture ends between its $J and $G
redmist-TestGap                     56 of 66  none
redmist-TestMissingLaps             59 of 62  7 cars with lap penalties in the feed's count
redmist-TestResetRetainLapTime      42 of 43  none
redmist-TestStart                   49 of 49  none
sebring-2009-alms-session4          11 of 11  all: the session went on after the first
                                              chequered flag; at that flag all 10 cars
                                              then timed agree, laps and order
==================================  ========  =========================================
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
    decode_event,
    encode_event,
)
from schemas.results import Classification
from services.classification.fold import ClassificationProjection, fold_log
from services.feeds.rmonitor.capture import MappedCapture, ReadStats, map_capture, read_records
from services.feeds.rmonitor.mapper import FeedPosition, RMonitorMapper
from services.feeds.rmonitor.parser import RacePosition, parse_arrival

RMONITOR = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "rmonitor"
SESSION = SessionRef(championship="real", event="rmonitor", session="capture")
PRODUCER = "rmonitor-real"


@dataclass(frozen=True)
class Capture:
    time_zone: str
    skipped: int = 0
    compared: int | None = None
    """Cars compared with the feed's ``$G`` (``None``: the capture has no ``$G`` with laps)."""
    with_position: int = 0
    """Cars with a ``$G`` lap count."""


CAPTURES = {
    "orbits-mock-session.txt": Capture("Europe/London", compared=6, with_position=6),
    "redmist-TestAbnormalReset.txt": Capture("America/Chicago", compared=14, with_position=20),
    "redmist-TestEntries.txt": Capture("America/Chicago"),
    "redmist-TestGap.txt": Capture("America/Chicago", skipped=1, compared=56, with_position=66),
    "redmist-TestInitialPositions.txt": Capture("America/Chicago"),
    "redmist-TestMidRaceClassChange.txt": Capture("America/Chicago"),
    "redmist-TestMissingLaps.txt": Capture("America/Chicago", compared=59, with_position=62),
    "redmist-TestResetRetainLapTime.txt": Capture("America/Chicago", compared=42, with_position=43),
    "redmist-TestStart.txt": Capture("America/Chicago", compared=49, with_position=49),
    "sebring-2009-alms-session4.txt": Capture("America/New_York", compared=11, with_position=11),
}

LAP_PENALTY = "lap penalty: all through the capture the feed's $G count stays {} laps below the passings"
AFTER_FIRST_FLAG = (
    "the test session showed Finish at 1:36:24, then red, then green again until a second Finish at 2:00:03; "
    "chequered ends the session at the first chequered flag (laps after a car's flag do not count), "
    "the feed's $G counts every lap to the end"
)
KNOWN_DIFFERENCES: dict[str, dict[str, str]] = {
    "redmist-TestAbnormalReset.txt": {
        "91": "the capture ends with #91's passing of lap 17 ($J), before the $G that goes with it",
    },
    "redmist-TestMissingLaps.txt": {
        "29": LAP_PENALTY.format(34),
        "44": LAP_PENALTY.format(2),
        "92": LAP_PENALTY.format(20),
        "99": LAP_PENALTY.format(9),
        "303": LAP_PENALTY.format(6),
        "461": LAP_PENALTY.format(3),
        "617": LAP_PENALTY.format(3),
    },
    "sebring-2009-alms-session4.txt": dict.fromkeys(
        ("9", "15", "21", "28", "40", "44", "45", "46", "87", "92"), AFTER_FIRST_FLAG
    ),
}
"""Cars whose chequered laps cannot match the feed's final ``$G``, and why (checked in the data below)."""


def capture_path(name: str) -> Path:
    path = RMONITOR / name
    if not path.is_file():
        pytest.skip(f"real capture not available: {path}")
    return path


@cache
def mapped(name: str) -> MappedCapture:
    # Sebring's run is a test session: mapped as a race so chequered orders by laps, as the feed's $G does
    return map_capture(capture_path(name), SESSION, PRODUCER, time_zone=CAPTURES[name].time_zone, kind=SessionKind.RACE)


@cache
def classification(name: str) -> Classification:
    return fold_log(enumerate(mapped(name).events, 1)).sessions[SESSION.key].classification()


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
    events = map_capture(path, SESSION, PRODUCER, time_zone=CAPTURES.get(name, Capture("UTC")).time_zone).events
    for event in events:
        assert decode_event(encode_event(event)) == event
    assert len({event.id for event in events}) == len(events)
    projection = ClassificationProjection()
    refused = [projection.apply(seq, event) for seq, event in enumerate(events, 1)]
    assert [r for r in refused if r] == []


def test_the_truncated_last_line_of_testgap_is_the_one_skipped() -> None:
    stats = mapped("redmist-TestGap.txt").read
    assert stats.truncated_last_line
    assert stats.errors == [(4091, "unreadable ## arrival stamp")]


@pytest.mark.parametrize("name", all_captures())
def test_reading_a_capture_twice_gives_the_same_ids(name: str) -> None:
    zone = CAPTURES.get(name, Capture("UTC")).time_zone
    first = map_capture(capture_path(name), SESSION, PRODUCER, time_zone=zone).events
    second = map_capture(capture_path(name), SESSION, PRODUCER, time_zone=zone).events
    assert [e.id for e in first] == [e.id for e in second]
    assert first == second


# -- the feed's order --------------------------------------------------------------------------------


def _compared(name: str) -> tuple[list[str], dict[str, FeedPosition], dict[str, int]]:
    feed = mapped(name).mapper.feed_positions
    result = classification(name)
    ours = {car.number: car.laps for car in result.cars}
    with_position = [car.number for car in result.cars if car.number in feed and feed[car.number].laps is not None]
    assert len(with_position) == CAPTURES[name].with_position
    return [n for n in with_position if ours[n] > 0], feed, ours


@pytest.mark.parametrize("name", [n for n, c in CAPTURES.items() if c.compared is not None])
def test_final_order_matches_the_feeds_own_order(name: str) -> None:
    compared, feed, ours = _compared(name)
    assert len(compared) == CAPTURES[name].compared
    differ = {n for n in compared if ours[n] != feed[n].laps}
    assert differ == set(KNOWN_DIFFERENCES.get(name, {}))
    agreeing = [n for n in compared if n not in differ]  # in chequered's order
    assert agreeing == sorted(agreeing, key=lambda n: feed[n].position)


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


def test_missing_laps_differences_are_constant_lap_penalties() -> None:
    """For each car listed, every $G that matches one of its passings is the same number of laps short."""
    name = "redmist-TestMissingLaps.txt"
    events = mapped(name).events
    start = next(e.at for e in events if isinstance(e.body, SessionStarted))
    lap_at_total = {(e.body.number, e.at - start): e.body.lap for e in events if isinstance(e.body, LapCompleted)}
    offsets: dict[str, set[int]] = {}
    for _, _, record in read_records(capture_path(name)):
        if isinstance(record, RacePosition) and record.laps is not None and record.total_ms is not None:
            lap = lap_at_total.get((record.registration, record.total_ms))
            if lap is not None:
                offsets.setdefault(record.registration, set()).add(lap - record.laps)
    penalised = {number: offset for number, (offset,) in offsets.items() if offset}
    assert {n: LAP_PENALTY.format(o) for n, o in penalised.items()} == KNOWN_DIFFERENCES[name]
    assert all(len(values) == 1 for values in offsets.values())


def test_sebring_agrees_with_the_feed_at_the_first_chequered_flag() -> None:
    """Fold what was sent until the first Finish and compare with the $G order at that moment: all agree."""
    name = "sebring-2009-alms-session4.txt"
    mapper = RMonitorMapper(SESSION, PRODUCER, time_zone="America/New_York", kind=SessionKind.RACE)
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
    feed = mapped(name).mapper.feed_positions
    for number in KNOWN_DIFFERENCES[name]:
        before = snapshot[number].laps if number in snapshot else None
        assert final[number] - (before or 0) in (0, 1)
        after = feed[number].laps
        assert after is not None and after > final[number]


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
        mapper = RMonitorMapper(SESSION, PRODUCER, time_zone="America/Chicago")
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
