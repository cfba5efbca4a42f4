"""``--nats`` after the positional arguments, as an operator following the README against an external server
types it: each producing and reading command, the installed ``chequered`` in a subprocess, its output read.

Every command runs with a ``--home`` of its own: had it ignored ``--nats``, it would have started an embedded
broker there, and what it wrote or read would not be in the served one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from nats.aio.client import Client

from services.broker.connection import connect
from services.broker.reader import read_events
from services.ops.racelog import write_log
from tests.commands import Output, Served, chequered, spawn
from tests.factory import SessionWriter, small_race
from tests.feeds import test_alkamel_parser as alkamel
from tests.feeds import test_live_feed as rmonitor
from tests.feeds.captures import write_capture
from tests.live import wait_for_classification

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with Served(tmp_path_factory.mktemp("served") / "home") as running:
        yield running


@pytest.fixture
async def nc(served: Served) -> Iterator[Client]:  # type: ignore[misc]
    client = await connect(served.url, "test")
    try:
        yield client
    finally:
        await client.close()


def run(*args: str, nats: str, home: Path) -> str:
    done = chequered(*args, "--nats", nats, home=home)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "embedded nats-server" not in done.stdout + done.stderr
    return done.stdout


async def replayed(served: Served, tmp_path: Path, nc: Client) -> SessionWriter:
    writer = SessionWriter()
    log = tmp_path / "race.jsonl"
    race = small_race(writer, cars=3, laps=3)
    write_log(race, log)
    out = run("replay", str(log), "--max", nats=served.url, home=tmp_path)
    assert re.search(rf"^{len(race)} accepted, 0 duplicates, 0 rejected", out, re.M), out
    await wait_for_classification(nc, writer.session.key, 1)
    return writer


async def test_replay(served: Served, tmp_path: Path, nc: Client) -> None:
    writer = await replayed(served, tmp_path, nc)
    assert len(await read_events(nc.jetstream(), writer.session.key)) == 14


async def test_publish(served: Served, tmp_path: Path, nc: Client) -> None:
    writer = await replayed(served, tmp_path, nc)
    at = (await read_events(nc.jetstream(), writer.session.key))[-1][1].at  # on the session's own clock
    out = run("publish", writer.session.key, "flag", "safety_car", "--at", str(at), nats=served.url, home=tmp_path)
    assert re.search(r"^stored as \S+ at seq \d+", out, re.M), out
    stored = await read_events(nc.jetstream(), writer.session.key)
    assert type(stored[-1][1].body).__name__ == "FlagChanged" and stored[-1][1].at == at


async def test_at(served: Served, tmp_path: Path, nc: Client) -> None:
    writer = await replayed(served, tmp_path, nc)
    last_seq = (await read_events(nc.jetstream(), writer.session.key))[-1][0]
    out = run("at", writer.session.key, "--seq", str(last_seq), nats=served.url, home=tmp_path)
    assert re.search(rf"Test race .* seq {last_seq}\b", out), out


async def test_tower(served: Served, tmp_path: Path, nc: Client) -> None:
    writer = await replayed(served, tmp_path, nc)
    tower = spawn(
        "tower",
        writer.session.key,
        "--home",
        str(tmp_path),
        "--nats",
        served.url,
        env={"TTY_COMPATIBLE": "1", "TTY_INTERACTIVE": "1"},
    )
    assert tower.stdout is not None
    output = Output(tower.stdout)
    try:
        output.wait_for("Test race")
    finally:
        tower.terminate()
        tower.wait(30)
        output.close()


async def test_feed(served: Served, tmp_path: Path, nc: Client) -> None:
    session = rmonitor.new_session()
    capture = write_capture(tmp_path, rmonitor.race(cars=3, laps=2))
    out = run(
        "feed", "rmonitor", "--session", session.key, "--capture", str(capture), "--max",
        "--day", rmonitor.DAY.isoformat(), "--time-zone", rmonitor.ZONE, nats=served.url, home=tmp_path,
    )  # fmt: skip
    assert re.search(r"^\d+ accepted, 0 duplicates, 0 rejected", out, re.M), out
    laps = [e for _, e in await read_events(nc.jetstream(), session.key) if type(e.body).__name__ == "LapCompleted"]
    assert len(laps) == 6


async def test_import(served: Served, tmp_path: Path, nc: Client) -> None:
    key = f"{rmonitor.new_session().championship}.alkamel.race"
    chart = alkamel.write(tmp_path, alkamel.chart_lines())
    out = run(
        "import", "alkamel", str(chart), "--session", key, "--day", date(2025, 6, 14).isoformat(),
        "--time-zone", "Europe/Paris", nats=served.url, home=tmp_path,
    )  # fmt: skip
    assert re.search(r"^\d+ accepted, 0 duplicates, 0 rejected", out, re.M), out
    laps = [e for _, e in await read_events(nc.jetstream(), key) if type(e.body).__name__ == "LapCompleted"]
    assert len(laps) == len(alkamel.chart_lines())
