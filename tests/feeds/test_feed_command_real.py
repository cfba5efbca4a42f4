"""Every real capture through ``chequered feed rmonitor --capture ... --championship C --event E`` (the installed
executable, against ``chequered serve``), whole and cut to start mid-session with a hole in the middle
(:func:`tests.feeds.reference.cut`): each session's classification, read over REST, equals the feed's own last
``$G``/``$H`` for every car on position, laps and best lap, or differs as documented in
:data:`tests.feeds.test_rmonitor_real.KNOWN_DIFFERENCES` / ``KNOWN_IN_CUTS``; and the read model says which
laps came from the scoreboard (the laps no passing in the log showed)."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from nats.aio.client import Client

from schemas.events import Event, LapCompleted, LapCorrected
from schemas.results import Classification
from services.broker.connection import connect
from services.broker.embedded import EmbeddedNats
from services.broker.reader import read_events
from services.feeds.rmonitor.capture import parse_lines, read_capture
from services.feeds.rmonitor.pace import Line
from tests.feeds.command import Served, chequered, served
from tests.feeds.reference import cut, differences, last_rows
from tests.feeds.test_rmonitor_real import (
    CAPTURES,
    HOLE,
    KNOWN_DIFFERENCES,
    KNOWN_IN_CUTS,
    PENALISED,
    PENALTY_NUMBERS,
    capture_path,
)


@pytest.fixture(scope="module")
def shared_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, str]]:
    """One nats-server and one ``chequered serve`` for every capture (each in an event of its own)."""
    directory = tmp_path_factory.mktemp("real")
    with contextlib.ExitStack() as running:
        url = os.environ.get("NATS_URL") or running.enter_context(EmbeddedNats(directory / "nats")).url
        yield running.enter_context(served(url, directory)), f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def nc_shared(shared_stack: tuple[Served, str]) -> AsyncIterator[Client]:
    client = await connect(shared_stack[0].nats_url, "tests")
    try:
        yield client
    finally:
        await client.close()


def write(lines: list[Line], path: Path) -> Path:
    path.write_text("".join(f"{text}\r\n" for _, _, text in lines), encoding="cp1252", errors="replace")
    return path


def passing_laps(events: list[Event], number: str) -> set[int]:
    """Laps of the car that a passing showed: its laps, and laps from the scoreboard a late passing filled."""
    return {
        e.body.lap
        for e in events
        if isinstance(e.body, LapCompleted | LapCorrected)
        and e.body.number == number
        and (isinstance(e.body, LapCompleted) or e.body.lap_time_ms is not None)
    }


async def feed(
    stack: Served, nc: Client, lines: list[Line], path: Path, championship: str, event: str, name: str
) -> list[tuple[Classification, list[Event]]]:
    """``lines`` written to ``path`` (a whole capture is read in place), fed through the command; each session's
    classification over REST, with the events stored."""
    capture = CAPTURES[name]
    argv = ["feed", "rmonitor", "--capture", str(path), "--max", "--championship", championship, "--event", event]
    argv += ["--time-zone", capture.time_zone, "--nats", stack.nats_url]
    if capture.name:
        argv += ["--name", capture.name]
    fed = chequered(*argv, cwd=path.parent)
    assert fed.returncode == 0, fed.stdout + fed.stderr
    keys = [line.removeprefix("session ") for line in fed.stdout.splitlines() if line.startswith("session ")]
    assert len(keys) == capture.sessions, fed.stdout
    return [
        (await stack.classification(nc, key), [e for _, e in await read_events(nc.jetstream(), key)]) for key in keys
    ]


def check(sessions: list[tuple[Classification, list[Event]]], lines: list[Line], known: set[tuple[str, str]]) -> None:
    rows = last_rows(record for _, _, record in parse_lines(lines))
    for result, events in sessions:
        assert differences(result, rows) == known
        for car in result.cars:  # the laps no passing showed are the scoreboard's, and said so
            seen = {lap for lap in passing_laps(events, car.number) if lap <= car.laps}
            assert car.laps - car.scoreboard_laps == len(seen), car.number


def event_of(name: str, cut_too: bool = False) -> str:
    return name.removesuffix(".txt").lower().replace(".", "-")[:40] + ("-cut" if cut_too else "")


@pytest.mark.parametrize("name", sorted(CAPTURES))
async def test_a_whole_capture_through_the_command(
    name: str, shared_stack: tuple[Served, str], nc_shared: Client, tmp_path: Path
) -> None:
    stack, championship = shared_stack
    path = capture_path(name)
    lines = list(read_capture(path))
    sessions = await feed(stack, nc_shared, lines, path, championship, event_of(name), name)
    check(sessions, lines, set(KNOWN_DIFFERENCES.get(name, {})))


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CAPTURES))
async def test_a_capture_joined_late_with_a_hole_through_the_command(
    name: str, shared_stack: tuple[Served, str], nc_shared: Client, tmp_path: Path
) -> None:
    stack, championship = shared_stack
    lines = cut(list(read_capture(capture_path(name))))
    path = write(lines, tmp_path / name)
    sessions = await feed(stack, nc_shared, lines, path, championship, event_of(name, cut_too=True), name)
    known = KNOWN_IN_CUTS.get(name, {})
    check(sessions, lines, set(known))
    rows = last_rows(record for _, _, record in parse_lines(lines))
    for (number, _), reason in known.items():  # the reasons hold in the cut capture
        if reason == HOLE:
            assert rows[number].laps is None and rows[number].best_ms is not None
        elif reason == PENALTY_NUMBERS:
            assert number in PENALISED
        else:
            assert (number, "laps") in KNOWN_DIFFERENCES[name] or reason == KNOWN_DIFFERENCES[name].get(
                (number, "best")
            )
