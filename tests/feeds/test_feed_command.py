"""``chequered feed rmonitor`` as documented, run as a user runs it: the installed executable against a running
``chequered serve`` (both child processes, a real nats-server), the result read back over REST and with
``chequered rejects``. A break in the command's wiring fails these tests."""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import msgspec
import pytest
from nats.aio.client import Client

from schemas.events import LapCompleted, SessionRef
from schemas.ingest import RejectCode, RejectedEvent
from schemas.results import Classification
from services.broker.reader import read_events
from services.classification.fold import fold_log
from services.feeds.rmonitor.capture import map_capture
from services.feeds.rmonitor.options import RMonitorOptions
from services.ops.rejects import read_rejects
from tests.feeds.captures import Run, beat, write_capture
from tests.feeds.command import DEADLINE_S, Served, chequered, served
from tests.feeds.rmonitor_server import HOST, RMonitorServer, Segment
from tests.polling import until
from tests.reliability.processes import CHEQUERED

ZONE = "Europe/Paris"
DAY = date(2025, 6, 1)
NINE, TWO = 9 * 3600, 14 * 3600
CARS = {"7": [100.0, 98.5, 99.0, 99.2], "8": [101.0, 100.2, 100.4, 100.1], "9": [104.0, 103.0, 102.5, 102.2]}


@pytest.fixture
def stack(nats_url: str, tmp_path: Path) -> Iterator[Served]:
    with served(nats_url, tmp_path) as running:
        yield running


def championship() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


def weekend_lines() -> list[str]:
    """Practice, a scratch run, the race; in the race a car never announced, an absurd line and a 1 MB one."""
    practice = Run(12, "Free Practice 1", NINE, CARS, practice=True, pre_green=True)
    race = Run(14, "Sunday Race", TWO, {**CARS, "44": [99.5, 99.5, 99.5]})
    race.extra = {
        150: ['$J,"7","00:01:40.000","99999999:00:00.000"'],
        250: ["$A," + '"x' * 500_000 + '"'],
    }
    race_lines = [line for line in race.lines() if not line.startswith(('$A,"44"', '$COMP,"44"'))]
    scratch = ['$B,95,"Free Practice 1"', beat(NINE + 1000, 0, "      ")]
    return [*practice.lines(), *scratch, *race_lines, *scratch]


def laps_and_bests(result: Classification) -> dict[str, tuple[int, int | None]]:
    return {car.number: (car.laps, car.best_lap_ms) for car in result.cars}


async def test_a_capture_of_a_weekend_through_the_command(stack: Served, nc: Client, tmp_path: Path) -> None:
    capture = write_capture(tmp_path, weekend_lines())
    champ = championship()
    fed = chequered(
        "feed", "rmonitor", "--capture", str(capture), "--max", "--championship", champ, "--event", "round1",
        "--time-zone", ZONE, "--nats", stack.nats_url, cwd=tmp_path,
    )  # fmt: skip
    assert fed.returncode == 0, fed.stdout + fed.stderr
    practice, race = f"{champ}.round1.free-practice-1-12", f"{champ}.round1.sunday-race-14"
    assert f"session {practice}" in fed.stdout and f"session {race}" in fed.stdout
    assert "2 records kept aside" in fed.stdout
    assert max(len(line) for line in fed.stdout.splitlines()) <= 80

    listed = msgspec.json.decode(stack.get("/api/sessions").content)["sessions"]
    assert sorted(s["key"] for s in listed if s["key"].startswith(champ)) == [practice, race]
    first = await stack.classification(nc, practice)
    assert (first.kind, [c.number for c in first.cars]) == ("practice", ["7", "8", "9"])
    assert laps_and_bests(first) == {"7": (4, 98_500), "8": (4, 100_100), "9": (4, 102_200)}
    second = await stack.classification(nc, race)
    assert laps_and_bests(second) == {
        "7": (4, 98_500),
        "8": (4, 100_100),
        "9": (4, 102_200),
        "44": (3, 99_500),
    }
    forty_four = msgspec.json.decode(stack.get(f"/api/sessions/{race}/cars/44").content)
    assert forty_four["team"] == "unknown"

    kept = [item for _, item in await read_rejects(nc.jetstream(), race) if isinstance(item, RejectedEvent)]
    assert [(item.code, item.producer) for item in kept] == [
        (RejectCode.OUT_OF_BOUNDS, "rmonitor"),
        (RejectCode.UNKNOWN_CAR, "rmonitor"),
        (RejectCode.MALFORMED, "rmonitor"),
    ]
    assert "99999999:00:00.000" in kept[0].payload and "'44'" in kept[1].reason
    assert all(item.line and len(item.payload) <= 500 for item in kept)
    rejects = chequered("rejects", "--session", race, "--nats", stack.nats_url, cwd=tmp_path)
    assert rejects.returncode == 0, rejects.stderr
    for item in kept:
        assert item.code.value in rejects.stdout and f"line {item.line}" in rejects.stdout, rejects.stdout


async def test_run_follows_one_run_and_name_and_kind_override(stack: Served, nc: Client, tmp_path: Path) -> None:
    """``--run 14`` once shared argparse's destination with the command's dispatch ("'int' object is not
    callable"), and without it every record after the first ``$B`` was dropped with exit code 0."""
    capture = write_capture(tmp_path, weekend_lines())
    champ = championship()
    fed = chequered(
        "feed", "rmonitor", "--capture", str(capture), "--max", "--championship", champ, "--event", "round1",
        "--run", "14", "--name", "Feature", "--kind", "race", "--time-zone", ZONE, "--nats", stack.nats_url,
        cwd=tmp_path,
    )  # fmt: skip
    assert fed.returncode == 0, fed.stdout + fed.stderr
    key = f"{champ}.round1.feature-14"
    assert [line for line in fed.stdout.splitlines() if line.startswith("session ")] == [f"session {key}"]
    result = await stack.classification(nc, key)
    assert (result.name, result.kind, len(result.cars)) == ("Feature", "race", 4)


def test_the_feed_says_what_to_do_when_it_is_not_told_where_to_write(tmp_path: Path) -> None:
    missing = chequered("feed", "rmonitor", "--capture", "x.txt", cwd=tmp_path)
    assert missing.returncode == 2
    assert "--championship C --event E" in missing.stdout
    assert len(missing.stdout.strip().splitlines()) == 1  # one line, no traceback


async def test_a_live_feed_with_a_drop_mid_line_and_lines_re_sent_loses_and_duplicates_nothing(
    stack: Served, nc: Client, tmp_path: Path
) -> None:
    """The command following a loopback TCP server that drops the link in the middle of a line, then re-sends
    the scoreboard and a few hundred lines from before the drop; stopped with Ctrl-C as an operator does."""
    laps = {car: [*times, *times[1:3]] for car, times in CARS.items()}  # six laps each: about 700 lines
    lines = Run(14, "Sunday Race", TWO, laps, length=900).lines()
    session = SessionRef(championship(), "round1", "race")
    offline = map_capture(write_capture(tmp_path, lines), session, RMonitorOptions(day=DAY, time_zone=ZONE)).events
    drop = len(lines) * 3 // 5
    resume = drop - 200  # the second connection re-sends 200 lines from before the drop
    async with RMonitorServer(lines, [Segment(0, drop, cut=True), Segment(resume)]) as server:
        feed = await asyncio.create_subprocess_exec(
            str(CHEQUERED), "feed", "rmonitor", "--host", HOST, "--port", str(server.port), "--session",
            session.key, "--day", DAY.isoformat(), "--time-zone", ZONE, "--nats", stack.nats_url,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        try:
            await asyncio.wait_for(server.played.wait(), DEADLINE_S)

            async def stored_all() -> bool:
                return len(await read_events(nc.jetstream(), session.key)) >= len(offline)

            await until(stored_all, "the feed to store every event", DEADLINE_S)
        finally:
            feed.send_signal(signal.SIGINT)
            output, _ = await asyncio.wait_for(feed.communicate(), DEADLINE_S)
    assert feed.returncode == 0, output.decode()
    assert server.sent == [drop, len(lines) - resume]
    stored = [event for _, event in await read_events(nc.jetstream(), session.key)]
    assert stored == offline
    stored_laps = [(e.body.number, e.body.lap) for e in stored if isinstance(e.body, LapCompleted)]
    assert len(stored_laps) == len(set(stored_laps)) == 18
    served_result = await stack.classification(nc, session.key)
    expected = fold_log(enumerate(offline, 1)).sessions[session.key].classification()
    assert msgspec.structs.replace(served_result, last_seq=0) == msgspec.structs.replace(expected, last_seq=0)
    assert b"1 of" in output and b"lines skipped" in output  # the line the drop cut short


async def test_a_feed_joined_late_is_classified_from_the_scoreboard_and_replays_the_same(
    stack: Served, nc: Client, tmp_path: Path
) -> None:
    """The scoreboard events are in the log: rebuild, verify and time travel give the same answer, byte for byte,
    and the car detail says which laps came from the scoreboard."""
    race = Run(14, "Sunday Race", TWO, {**CARS, "10": [99.0, 98.5]})
    race.extra = {350: race.resend(350)}  # an install reset mid-race: its whole scoreboard re-sent
    lines = race.lines()
    capture = write_capture(tmp_path, lines[len(lines) // 2 :])  # the feed joined after #10 stopped
    champ = championship()
    fed = chequered(
        "feed", "rmonitor", "--capture", str(capture), "--max", "--championship", champ, "--event", "round1",
        "--name", "Sunday Race", "--time-zone", ZONE, "--nats", stack.nats_url, cwd=tmp_path,
    )  # fmt: skip
    assert fed.returncode == 0, fed.stdout + fed.stderr
    key = f"{champ}.round1.sunday-race"
    served_before = await stack.classification(nc, key)
    ten = msgspec.json.decode(stack.get(f"/api/sessions/{key}/cars/10").content)
    assert (ten["laps"], ten["scoreboard_laps"], ten["best_lap_ms"], ten["disagreements"]) == (2, 2, 98_500, [])
    assert all(car.scoreboard_laps > 0 for car in served_before.cars)

    verified = chequered("verify", "--session", key, "--nats", stack.nats_url, cwd=tmp_path)
    assert verified.returncode == 0 and "1 read model(s) checked" in verified.stdout, verified.stdout
    rebuilt = chequered("rebuild", "classification", "--session", key, "--nats", stack.nats_url, cwd=tmp_path)
    assert rebuilt.returncode == 0, rebuilt.stdout
    assert await stack.classification(nc, key) == served_before
    at = stack.get(f"/api/sessions/{key}/classification/at?seq={served_before.last_seq}")
    assert msgspec.json.decode(at.content, type=Classification) == served_before
