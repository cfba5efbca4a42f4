"""RMonitor parser and capture reader, on small captures written by the tests (every quirk of docs/feeds.md)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from services.feeds.rmonitor import parser
from services.feeds.rmonitor.capture import ReadStats, parse_lines, read_capture, read_records
from services.feeds.rmonitor.pace import replay_schedule

# -- records -----------------------------------------------------------------


def test_heartbeat() -> None:
    record = parser.parse_line('$F,14,"00:12:45","13:34:23","00:09:47","Green "')
    assert record == parser.Heartbeat(
        laps_to_go=14,
        time_to_go_ms=765_000,
        time_of_day_ms=48_863_000,
        race_time_ms=587_000,
        flag=parser.FeedFlag.GREEN,
        flag_raw="Green",
    )


def test_heartbeat_no_lap_limit_and_negative_race_time() -> None:
    record = parser.parse_line('$F,9999,"08:00:47","08:59:12","00:00:-47","      "')
    assert isinstance(record, parser.Heartbeat)
    assert record.laps_to_go is None
    assert record.race_time_ms == -47_000
    assert record.flag is parser.FeedFlag.NONE


@pytest.mark.parametrize(
    ("raw", "flag"),
    [
        ("Green ", parser.FeedFlag.GREEN),
        ("Green", parser.FeedFlag.GREEN),
        ("GREEN", parser.FeedFlag.GREEN),
        ("yellow", parser.FeedFlag.YELLOW),
        ("Red   ", parser.FeedFlag.RED),
        ("RED", parser.FeedFlag.RED),
        ("Finish", parser.FeedFlag.FINISH),
        ("FINISH", parser.FeedFlag.FINISH),
        ("      ", parser.FeedFlag.NONE),
        ("", parser.FeedFlag.NONE),
        ("Purple", parser.FeedFlag.UNKNOWN),
        ("White ", parser.FeedFlag.UNKNOWN),
    ],
)
def test_flags_are_normalised(raw: str, flag: parser.FeedFlag) -> None:
    assert parser.normalise_flag(raw) is flag
    record = parser.parse_line(f'$F,9999,"00:00:00","10:00:00","00:10:00","{raw}"')
    assert isinstance(record, parser.Heartbeat)
    assert record.flag is flag
    assert record.flag_raw == raw.strip()


def test_competitor_records() -> None:
    assert parser.parse_line('$A,"1234BE","12X",52474,"John","Johnson","USA",5') == parser.Competitor(
        registration="1234BE",
        number="12X",
        transponder="52474",
        first_name="John",
        last_name="Johnson",
        nationality="USA",
        class_number=5,
    )
    assert parser.parse_line('$COMP,"1234BE","12X",5,"John","Johnson","USA","CAMEL"') == parser.CompetitorExt(
        registration="1234BE",
        number="12X",
        class_number=5,
        first_name="John",
        last_name="Johnson",
        nationality="USA",
        additional="CAMEL",
    )


def test_comp_without_additional_data_and_blank_class() -> None:
    record = parser.parse_line('$COMP,"7","7",,"Ann","Lee",""')
    assert isinstance(record, parser.CompetitorExt)
    assert record.class_number is None
    assert record.additional == ""


def test_run_class_setting() -> None:
    assert parser.parse_line('$B,5,"Friday free practice"') == parser.RunInfo(run=5, description="Friday free practice")
    assert parser.parse_line('$B,102,"Race 2"') == parser.RunInfo(run=102, description="Race 2")
    assert parser.parse_line('$C,5,"Formula 300"') == parser.ClassInfo(class_number=5, description="Formula 300")
    assert parser.parse_line('$C,5,""') == parser.ClassInfo(class_number=5, description="")
    assert parser.parse_line('$E,"TRACKNAME","Indianapolis Motor Speedway"') == parser.Setting(
        name="TRACKNAME", value="Indianapolis Motor Speedway"
    )


def test_race_position_placeholders() -> None:
    assert parser.parse_line('$G,3,"1234BE",14,"01:12:47.872"') == parser.RacePosition(
        position=3, registration="1234BE", laps=14, total_ms=4_367_872
    )
    # no passing yet: blank laps with the 00:59:59.999 (Orbits) or zero (other installs) placeholder
    assert parser.parse_line('$G,2,"45",,"00:59:59.999"') == parser.RacePosition(2, "45", None, None)
    assert parser.parse_line('$G,2,"2",,"00:00:00.000"') == parser.RacePosition(2, "2", None, None)
    # a lap penalty makes the feed's count negative: kept as it is
    assert parser.parse_line('$G,75,"29",-34,"00:00:35.420"') == parser.RacePosition(75, "29", -34, 35_420)


def test_practice_position_placeholders() -> None:
    assert parser.parse_line('$H,2,"1234BE",3,"00:02:17.872"') == parser.PracticePosition(2, "1234BE", 3, 137_872)
    assert parser.parse_line('$H,1,"21",0,"00:59:59.999"') == parser.PracticePosition(1, "21", None, None)
    assert parser.parse_line('$H,10,"144",0,"00:00:00.000"') == parser.PracticePosition(10, "144", None, None)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("27 Jan 09", date(2009, 1, 27)),
        ("23 Oct 2024", date(2024, 10, 23)),
        ("01/27/2009", date(2009, 1, 27)),
        ("2025-04-26", date(2025, 4, 26)),
        ("0/0/0000", None),
        ("", None),
        ("someday", None),
    ],
)
def test_init_dates(raw: str, expected: date | None) -> None:
    record = parser.parse_line(f'$I,"16:36:08.000","{raw}"')
    assert isinstance(record, parser.Init)
    assert record.date == expected
    assert record.date_raw == raw
    assert record.time_of_day_ms == 59_768_000


def test_init_with_spaces_after_commas() -> None:
    assert parser.parse_line('$I, "00:00:00", "0/0/0000"') == parser.Init(
        time_of_day_ms=None, date=None, date_raw="0/0/0000"
    )


def test_passing_and_corrected_finish() -> None:
    assert parser.parse_line('$J,"1234BE","00:02:03.826","01:42:17.672"') == parser.Passing(
        "1234BE", 123_826, 6_137_672
    )
    assert parser.parse_line('$J,"21","00:00:00.000","00:00:56.665"') == parser.Passing("21", 0, 56_665)
    assert parser.parse_line('$COR,"123BE","658",2,"00:00:35.272","+00:00:00.012"') == parser.CorrectedFinish(
        registration="123BE", number="658", laps=2, total_ms=35_272, correction_ms=12
    )


def test_imsa_line_crossing() -> None:
    assert parser.parse_line('$L,"40","P2","POP","01/27/2009","08:00:05.894"') == parser.TimelineCrossing(
        number="40", timeline="P2", name="POP", date=date(2009, 1, 27), time_of_day_ms=28_805_894
    )
    full = parser.parse_line('$L,"3","P1","pit","01/27/2009","10:00:00.000",2,"GTLM"')
    assert isinstance(full, parser.TimelineCrossing)
    assert (full.name, full.driver_id, full.class_name) == ("PIT", 2, "GTLM")


def test_unknown_records_and_extra_fields_are_ignored() -> None:
    assert parser.parse_line('$Z,"whatever",1,2') is None
    assert parser.parse_line('$RMHL,"1","2"') is None
    assert parser.parse_line("") is None
    assert parser.parse_line("\r\n") is None
    record = parser.parse_line('$J,"7","00:01:00.000","00:05:00.000","extra",42')
    assert record == parser.Passing("7", 60_000, 300_000)


def test_arrival_stamp_line() -> None:
    record = parser.parse_line("##2025-04-26 14:44:13.478")
    assert isinstance(record, parser.ArrivalMark)
    assert record.at == pytest.approx(1_745_678_653.478)


def test_bom_and_line_terminators_are_tolerated() -> None:
    assert parser.parse_line('\ufeff$B,67,"Saturday 8 Hour"\r\r\n') == parser.RunInfo(67, "Saturday 8 Hour")


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('$G,47,"149",,"00:00:00.00', "unbalanced quotes"),
        ('$J,"7","00:01:00.000"', "fields"),
        ('$J,"7","00:01:00.000","soon"', "not a time"),
        ('$J,"","00:01:00.000","00:02:00.000"', "empty registration"),
        ('$B,next,"Race"', "not a number"),
        ('0:00.000"', "no leading $"),
        ("## not a stamp", "arrival"),
    ],
)
def test_unreadable_lines_raise_parse_error_with_a_reason(line: str, reason: str) -> None:
    with pytest.raises(parser.ParseError) as caught:
        parser.parse_line(line)
    assert reason in caught.value.reason


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("01:42:17.672", 6_137_672),
        ("00:02:03.8", 123_800),
        ("2:03.826", 123_826),
        ("59.5", 59_500),
        ("25:00:00.000", 90_000_000),
        ("-00:00:01.500", -1_500),
        ("00:00:-47", -47_000),
    ],
)
def test_time_formats(text: str, ms: int) -> None:
    assert parser.parse_time_ms(text) == ms


# -- capture files ---------------------------------------------------------------


def _write(tmp_path: Path, data: bytes, name: str = "capture.txt") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_read_capture_gives_line_numbers_and_arrival_times(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        b'\xef\xbb\xbf##2025-04-26 12:00:00.000\r\n$B,1,"Race"\r\n\r\n##2025-04-26 12:00:01.500\r\n'
        b'$F,9999,"00:00:00","07:00:01","00:00:00","      "\r\n$C,1,"GT"\r\n',
    )
    lines = list(read_capture(path))
    assert [(number, line) for number, _, line in lines] == [
        (2, '$B,1,"Race"'),
        (5, '$F,9999,"00:00:00","07:00:01","00:00:00","      "'),
        (6, '$C,1,"GT"'),
    ]
    base = lines[0][1]
    assert base is not None
    assert [arrival - base for _, arrival, _ in lines if arrival is not None] == [0.0, 1.5, 1.5]


def test_capture_without_stamps_has_no_arrival(tmp_path: Path) -> None:
    path = _write(tmp_path, b'$B,1,"Race"\n$C,1,"GT"\n')
    assert [arrival for _, arrival, _ in read_capture(path)] == [None, None]


def test_cp1252_names(tmp_path: Path) -> None:
    path = _write(tmp_path, b'$A,"9","9",1,"Ren\xe9","M\xfcller","FRA",1\n')
    ((_, _, record),) = read_records(path)
    assert isinstance(record, parser.Competitor)
    assert (record.first_name, record.last_name) == ("René", "Müller")


def test_utf8_with_byte_order_mark(tmp_path: Path) -> None:
    path = _write(tmp_path, '\ufeff$A,"9","9",1,"René","Müller","FRA",1\n'.encode())
    ((_, _, record),) = read_records(path)
    assert isinstance(record, parser.Competitor)
    assert record.first_name == "René"


def test_bad_lines_are_counted_logged_and_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = _write(
        tmp_path,
        b'$B,1,"Race"\n$J,"7","oops","00:01:00.000"\ngarbage\n$Q,"unknown record"\n$C,1,"GT"\n',
    )
    stats = ReadStats()
    records = [record for _, _, record in read_records(path, stats)]
    assert records == [parser.RunInfo(1, "Race"), parser.ClassInfo(1, "GT")]
    assert (stats.lines, stats.records, stats.unknown, stats.skipped) == (5, 2, 1, 2)
    assert [number for number, _ in stats.errors] == [2, 3]
    assert not stats.truncated_last_line
    assert "line 2" in caplog.text


def test_truncated_last_line(tmp_path: Path) -> None:
    path = _write(tmp_path, b'$B,1,"Race"\r\n$G,1,"7",3,"00:03:00.000"\r\n$G,2,"8",3,"00:03:0')
    stats = ReadStats()
    records = [record for _, _, record in read_records(path, stats)]
    assert records == [parser.RunInfo(1, "Race"), parser.RacePosition(1, "7", 3, 180_000)]
    assert stats.skipped == 1
    assert stats.truncated_last_line


def test_complete_last_line_without_terminator_is_read(tmp_path: Path) -> None:
    path = _write(tmp_path, b'$B,1,"Race"\n$C,1,"GT"')
    stats = ReadStats()
    assert len(list(read_records(path, stats))) == 2
    assert not stats.truncated_last_line


def test_parse_lines_of_a_live_source() -> None:
    stats = ReadStats()
    lines = [(1, None, '$B,1,"Race"'), (2, 5.0, "$J,broken"), (3, 6.0, "##2025-01-01 00:00:00.000")]
    assert [record for _, _, record in parse_lines(lines, stats)] == [parser.RunInfo(1, "Race")]
    assert stats.skipped == 1


# -- replay --------------------------------------------------------------------


def test_replay_at_recorded_pace_from_arrival_stamps() -> None:
    capture = [(1, 100.0, "$F"), (2, 100.0, "$J"), (3, 101.5, "$F"), (4, 101.0, "$G"), (5, 104.0, "$F")]
    assert [step.delay_s for step in replay_schedule(capture)] == [0.0, 0.0, 1.5, 0.0, 3.0]
    assert [step.delay_s for step in replay_schedule(capture, 3)] == [0.0, 0.0, 0.5, 0.0, 1.0]
    assert [step.delay_s for step in replay_schedule(capture, None)] == [0.0] * 5
    assert [step.line_no for step in replay_schedule(capture)] == [1, 2, 3, 4, 5]


def test_replay_paced_by_heartbeats_without_stamps() -> None:
    capture = [
        (1, None, '$F,9999,"00:00:00","10:00:00","00:00:00","      "'),
        (2, None, '$J,"7","00:01:00.000","00:01:00.000"'),
        (3, None, '$F,9999,"00:00:00","10:00:01","00:00:00","      "'),
        (4, None, '$F,9999,"00:00:00","10:00:02","00:00:00","      "'),
    ]
    assert [step.delay_s for step in replay_schedule(capture)] == [0.0, 0.0, 1.0, 1.0]
    assert [step.delay_s for step in replay_schedule(capture, 10)] == [0.0, 0.0, 0.1, 0.1]
    assert [step.delay_s for step in replay_schedule(capture, float("inf"))] == [0.0] * 4


def test_replay_rejects_a_speed_that_is_not_positive() -> None:
    with pytest.raises(ValueError, match="speed"):
        replay_schedule([], 0)
