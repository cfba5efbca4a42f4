"""Every command of the README's command list, run as a user runs it: the installed ``chequered`` in a subprocess
against a real broker (one ``chequered serve all`` for the module, with a home of its own), its output read back
from stdout, the files it writes, or the gateway's REST API. A broken entry point fails here."""

from __future__ import annotations

import ast
import csv
import io
import os
import pty
import re
import select
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import msgspec
import pytest

from schemas.events import Event, SessionRef
from schemas.jsonschema import JSON_DIR
from schemas.results import Classification, decode_classification
from schemas.standings import decode_standings
from services.broker.embedded import free_port
from services.classification.fold import fold_until
from services.classification.timefmt import format_gap
from services.cli.bootstrap import DEMO_CHAMPIONSHIP, SAMPLE_LOG
from services.ops.history import Delta
from services.ops.pacing import retarget
from services.ops.racelog import read_log
from tests.commands import Served, chequered, in_terminal, output, said, spawn
from tests.factory import classify
from tests.feeds.captures import write_capture
from tests.feeds.test_alkamel_parser import chart_lines
from tests.feeds.test_alkamel_parser import write as write_chart
from tests.feeds.test_live_feed import race as capture_lines
from tests.polling import wait_until
from tests.reliability.processes import CHEQUERED

README = Path(__file__).resolve().parents[1] / "README.md"
DEADLINE_S = 60.0


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with Served(tmp_path_factory.mktemp("serve") / "home", nats=os.environ.get("NATS_URL")) as stack:
        yield stack


def new_key(event: str = "monza") -> str:
    return f"t{uuid.uuid4().hex[:10]}.{event}.race"


def served(serve: Served, key: str) -> Classification | None:
    try:
        return msgspec.convert(serve.get(f"/api/sessions/{key}/classification"), Classification)
    except OSError:  # 404 until the gateway holds it
        return None


def wait_served(serve: Served, key: str, done: Callable[[Classification], bool]) -> Classification:
    """The classification the gateway serves once ``done`` says so (with a deadline, never a fixed sleep)."""
    seen: list[Classification | None] = [None]

    def shown() -> bool:
        seen[0] = served(serve, key)
        return seen[0] is not None and done(seen[0])

    wait_until(shown, lambda: f"{key} served as expected; last seen {seen[0]}", DEADLINE_S)
    assert seen[0] is not None
    return seen[0]


def order(classification: Classification) -> list[tuple[int, str, int]]:
    return [(car.position, car.number, car.laps) for car in classification.cars]


def offline(events: list[Event]) -> Classification:
    return classify(events)


@dataclass
class Race:
    key: str
    log: Path
    events: list[Event]
    """As replayed into ``key``."""
    simulated: subprocess.CompletedProcess[str]
    replayed: subprocess.CompletedProcess[str]
    final: Classification


def replay_into(serve: Served, log: Path, key: str) -> tuple[subprocess.CompletedProcess[str], list[Event]]:
    events = list(retarget(read_log(log), SessionRef.parse(key)))
    replayed = chequered("replay", log, "--max", "--session", key, "--nats", serve.url)
    final = offline(events)
    wait_served(serve, key, lambda c: order(c) == order(final))
    return replayed, events


@pytest.fixture(scope="module")
def race(serve: Served, tmp_path_factory: pytest.TempPathFactory) -> Race:
    """A simulated 8-car race (``simulate``), replayed into a session of its own (``replay --max``), classified."""
    log = tmp_path_factory.mktemp("race") / "race.jsonl.gz"
    simulated = chequered("simulate", "--seed", "7", "--cars", "8", "--hours", "0.5", "--out", log)
    assert simulated.returncode == 0, output(simulated)
    key = new_key()
    replayed, events = replay_into(serve, log, key)
    return Race(key, log, events, simulated, replayed, offline(events))


def car_rows(classification: Classification, stdout: str) -> dict[str, str]:
    """The tower's row of each car: the line whose first cell is its position and which holds its number."""
    rows = {}
    for car in classification.cars:
        rows[car.number] = next(
            line for line in stdout.splitlines() if line.split()[:1] == [str(car.position)] and car.number in line
        )
    return rows


# -- producers -----------------------------------------------------------------------------------------------


def test_simulate_writes_a_log(race: Race) -> None:
    assert f"wrote {len(race.events):,} events of a 8-car race (seed 7) to {race.log}" in said(race.simulated.stdout)


def test_an_error_is_wrapped_by_words_in_a_terminal_and_one_line_elsewhere() -> None:
    """At an 80-column terminal an error longer than a line is wrapped between words (the terminal would cut one
    in two); piped (a log, a script), each error stays one line."""
    url = f"nats://127.0.0.1:{free_port()}"  # nothing listens there
    error = f"error: no NATS server answers at {url} (waited 5 s): start one with chequered serve, or check --nats and"
    error += " $NATS_URL"
    piped = chequered("rejects", "--nats", url)
    assert piped.returncode == 2 and piped.stdout.splitlines() == [error], output(piped)
    code, shown = in_terminal("rejects", "--nats", url)
    lines = shown.splitlines()
    assert code == 2 and len(lines) == 2 and max(map(len, lines)) <= 80, shown
    assert said(shown) == error, shown  # every word whole: one cut in two would be two


def test_replay_stores_every_event_once_and_it_is_classified(serve: Served, race: Race) -> None:
    assert race.replayed.returncode == 0, output(race.replayed)
    assert f"{len(race.events):,} accepted, 0 duplicates, 0 rejected, 0 already stored" in said(race.replayed.stdout)
    assert order(wait_served(serve, race.key, lambda c: True)) == order(race.final)
    again = chequered("replay", race.log, "--max", "--session", race.key, "--nats", serve.url)
    assert f"0 accepted, 0 duplicates, 0 rejected, {len(race.events):,} already stored" in said(again.stdout), output(
        again
    )


def test_an_interrupted_replay_says_how_to_resume_and_resumes(serve: Served, race: Race) -> None:
    key = new_key()
    argv = [str(CHEQUERED), "replay", str(race.log), "--speed", "100", "--session", key, "--nats", serve.url]
    replaying = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_served(serve, key, lambda c: len(c.cars) == 8)  # the entries are stored, the laps are still to come
        replaying.send_signal(signal.SIGINT)
        stdout, stderr = replaying.communicate(timeout=60)
    finally:
        replaying.kill()
    assert replaying.returncode == 130, stdout + stderr
    assert "replay interrupted" in said(stdout) and "run the same command again to resume" in said(stdout), stderr
    held = int(re.search(r"([\d,]+) of the log's", said(stdout)).group(1).replace(",", ""))  # type: ignore[union-attr]
    assert 0 < held < len(race.events)
    resumed = chequered("replay", race.log, "--max", "--session", key, "--nats", serve.url)
    sent = len(race.events) - held
    assert f"{sent:,} accepted, 0 duplicates, 0 rejected, {held:,} already stored" in said(resumed.stdout), output(
        resumed
    )


def test_feed_rmonitor_plays_a_capture(serve: Served, tmp_path: Path) -> None:
    """Minimal (the feed has tests of its own): a generated capture is stored and classified."""
    capture = write_capture(tmp_path, capture_lines(cars=3, laps=3))
    key = new_key("rmonitor")
    fed = chequered(
        "feed", "rmonitor", "--session", key, "--capture", capture, "--max", "--day", "2025-06-01",
        "--time-zone", "Europe/Paris", "--nats", serve.url,
    )  # fmt: skip
    assert fed.returncode == 0, output(fed)
    assert re.search(r"[1-9][\d,]* accepted, 0 duplicates, 0 rejected", said(fed.stdout)), output(fed)
    wait_served(serve, key, lambda c: len(c.cars) == 3 and c.cars[0].laps >= 1)


def test_import_alkamel_stores_a_chart(serve: Served, tmp_path: Path) -> None:
    chart = write_chart(tmp_path, chart_lines())
    key = new_key("fuji")
    imported = chequered("import", "alkamel", chart, "--session", key, "--day", "2025-06-14", "--nats", serve.url)
    assert imported.returncode == 0, output(imported)
    assert re.search(r"[1-9][\d,]* accepted, 0 duplicates, 0 rejected", said(imported.stdout)), output(imported)
    classification = wait_served(serve, key, lambda c: len(c.cars) == 3 and c.cars[0].laps == 5)
    assert [car.number for car in classification.cars] == ["51", "7", "007"]


def test_publish_each_input_judged_against_the_session(serve: Served, race: Race) -> None:
    key = new_key()
    replay_into(serve, race.log, key)
    first, second = race.final.cars[0].number, race.final.cars[1].number
    latest = max(event.at for event in race.events)

    def publish(*args: str, code: int = 0) -> str:
        result = chequered("publish", key, *args, "--nats", serve.url)
        assert result.returncode == code, output(result)
        return said(result.stdout + result.stderr)

    stored = publish("flag", "safety-car")
    assert "stored as rc-" in stored and "0:32:14 into the session" in stored  # the session's clock, not now
    publish("penalty", first, "D1", "time", "5s", "--reason", "unsafe release")
    assert "'banana' is not a time" in publish("penalty", first, "D2", "time", "banana", code=2)
    assert "needs the time it converts to" in publish("penalty", second, "D2", "drive-through", code=1)
    publish("penalty", second, "D2", "drive_through", "30s")
    assert "car #999 is not registered" in publish("retire", "999", code=1)
    assert "has no lap 99" in publish("delete-lap", second, "D3", "99", code=1)
    publish("delete-lap", second, "D3", "3")
    assert "no decision D9 in force" in publish("withdraw", "D9", code=1)
    publish("withdraw", "D3", "--reason", "appeal upheld")
    assert "after the session's latest event" in publish("flag", "red", "--at", "2030-01-01T00:00:00Z", code=1)
    publish("retire", race.final.cars[-1].number)
    publish("chequered")
    publish("results", "provisional")
    championship = SessionRef.parse(key).championship
    config = chequered(
        "publish", f"{championship}._championship.points", "config", DEMO_CHAMPIONSHIP, "--nats", serve.url
    )
    assert config.returncode == 0 and "stored as" in said(config.stdout), output(config)

    result = wait_served(serve, key, lambda c: c.results is not None)
    assert result.results is not None and result.results.value == "provisional"
    assert result.as_of == latest  # published without --at: the session's own clock
    decisions = {d.decision: d for car in result.cars for d in car.decisions}
    assert decisions["D1"].time_ms == 5000 and decisions["D1"].reason == "unsafe release"
    assert decisions["D2"].time_ms == 30_000 and "D3" not in decisions


def test_a_rejected_input_is_listed_by_rejects(serve: Served) -> None:
    key = new_key()
    refused = chequered("publish", key, "flag", "green", "--nats", serve.url)
    assert refused.returncode == 1 and "session_not_opened" in said(refused.stdout), output(refused)
    listed = chequered("rejects", "--session", key, "--nats", serve.url, columns=200)
    assert listed.returncode == 0 and "was never opened" in said(listed.stdout), output(listed)


# -- operations ----------------------------------------------------------------------------------------------


def test_serve_all_serves_the_page_and_the_sessions(serve: Served, race: Race) -> None:
    assert f"live timing page: {serve.gateway}/?token=" in serve.text
    keys = [s["key"] for s in serve.get("/api/sessions")["sessions"]]
    assert race.key in keys


def test_tower_once_as_a_table_csv_and_json(serve: Served, race: Race) -> None:
    now = wait_served(serve, race.key, lambda c: True)
    table = chequered("tower", race.key, "--once", "--nats", serve.url)
    assert table.returncode == 0, output(table)
    assert max(len(line) for line in table.stdout.splitlines()) <= 80
    for car in now.cars:
        row = car_rows(now, table.stdout)[car.number].split()
        assert car.number in row and str(car.laps) in row
    rows = list(csv.DictReader(io.StringIO(chequered("tower", race.key, "--once", "--format", "csv",
                                                     "--nats", serve.url).stdout)))  # fmt: skip
    assert [(int(r["position"]), r["number"], int(r["laps"])) for r in rows] == order(now)
    shown = chequered("tower", race.key, "--once", "--format", "json", "--nats", serve.url)
    assert decode_classification(shown.stdout.encode()) == now


def test_tower_says_what_it_waits_for_then_shows_the_session(serve: Served, race: Race) -> None:
    """In a terminal (a pseudo-terminal here): a session with no events yet, then its tower once it has some."""
    key = new_key()
    parent, child = pty.openpty()
    env = {**os.environ, "COLUMNS": "200", "LINES": "50"}
    watching = subprocess.Popen(
        [str(CHEQUERED), "tower", key, "--nats", serve.url], stdin=child, stdout=child, stderr=child, env=env
    )
    os.close(child)
    seen = b""

    def shown(text: str) -> bool:
        nonlocal seen
        deadline = time.monotonic() + DEADLINE_S
        while text.encode() not in seen and time.monotonic() < deadline:
            if select.select([parent], [], [], 0.2)[0]:
                try:
                    seen += os.read(parent, 65536)
                except OSError:
                    break
        return text.encode() in seen

    try:
        assert shown(f"waiting for {key} (no events yet)"), seen[-2000:]
        replay_into(serve, race.log, key)
        assert shown("Laps"), seen[-2000:]
        watching.send_signal(signal.SIGINT)
        assert watching.wait(30) == 130
    finally:
        watching.kill()
        os.close(parent)


def test_at_in_80_columns_shows_every_cars_position_number_laps_and_gap(serve: Served, race: Race) -> None:
    """The acceptance test of issue 16: the terminal screenshot of ``at`` at 80 columns."""
    stood = chequered("at", race.key, "--time", "0:10:00", "--nats", serve.url)
    assert stood.returncode == 0, output(stood)
    assert max(len(line) for line in stood.stdout.splitlines()) <= 80, stood.stdout
    started = next(e.at for e in race.events if type(e.body).__name__ == "SessionStarted")
    expected = next(iter(fold_until(list(enumerate(race.events, 1)), at=started + 600_000).sessions.values()))
    then = expected.classification()
    rows = car_rows(then, stood.stdout)
    for car in then.cars:
        cells = rows[car.number].split()
        assert cells[0] == str(car.position) and car.number in cells and str(car.laps) in cells, rows[car.number]
        if car.gap is not None:
            assert format_gap(car.gap) in cells, rows[car.number]


def test_at_outside_the_session_says_so(serve: Served, race: Race) -> None:
    for when in (["--seq", "999999999"], ["--time", "30h"]):
        beyond = chequered("at", race.key, *when, "--nats", serve.url, columns=200)
        assert beyond.returncode == 2 and "is beyond the session's latest event" in said(beyond.stdout), beyond.stdout
        assert "its events run from seq" in said(beyond.stdout)


def test_at_as_csv_and_json(serve: Served, race: Race) -> None:
    final = chequered("at", race.key, "--time", "0:30:00", "--format", "json", "--nats", serve.url)
    assert final.returncode == 0, output(final)
    classification = decode_classification(final.stdout.encode())
    rows = list(csv.DictReader(io.StringIO(
        chequered("at", race.key, "--time", "0:30:00", "--format", "csv", "--nats", serve.url).stdout
    )))  # fmt: skip
    assert [(int(r["position"]), r["number"], int(r["laps"])) for r in rows] == order(classification)


def test_record_writes_the_session_to_a_log(serve: Served, race: Race, tmp_path: Path) -> None:
    """The session's log, in place once whole; a key the stream holds nothing of is refused and leaves the file as
    it was (a key mistyped replaced a recorded log with an empty one); a directory for the file is said, not a
    traceback."""
    out = tmp_path / "recorded.jsonl.gz"
    recorded = chequered("record", race.key, "--out", out, "--nats", serve.url)
    assert recorded.returncode == 0 and f"wrote {len(race.events):,} events" in said(recorded.stdout), output(recorded)
    assert [e.id for e in read_log(out)] == [e.id for e in race.events]
    kept = out.read_bytes()
    mistyped = f"{race.key}x"
    refused = chequered("record", mistyped, "--out", out, "--nats", serve.url)
    reason = f"error: the stream holds no event of session {mistyped}: check its key ({out} is untouched)"
    assert refused.returncode == 2 and said(refused.stdout) == reason, output(refused)
    assert out.read_bytes() == kept and sorted(tmp_path.iterdir()) == [out]
    into_a_directory = chequered("record", race.key, "--out", tmp_path, "--nats", serve.url)
    reason = f"error: {tmp_path} is a directory: give the file to write the log to (race.jsonl.gz)"
    assert into_a_directory.returncode == 2 and said(into_a_directory.stdout) == reason, output(into_a_directory)


def test_record_follow_writes_the_events_stored_while_it_runs(serve: Served, race: Race, tmp_path: Path) -> None:
    """``record --follow`` started before a session has an event writes every event replayed into it meanwhile,
    each once, in order, and stops on Ctrl-C saying how many it wrote."""
    key, out = new_key(), tmp_path / "followed.jsonl"
    recording = spawn("record", key, "--out", str(out), "--follow", "--nats", serve.url)
    try:
        assert recording.stdout is not None
        assert "recording; Ctrl-C to stop" in recording.stdout.readline()
        replayed, events = replay_into(serve, race.log, key)
        assert replayed.returncode == 0, output(replayed)
        recording.send_signal(signal.SIGINT)
        said_at_the_end = recording.communicate(timeout=60)[0]
    finally:
        recording.kill()
    assert recording.returncode == 0, said_at_the_end
    assert f"wrote {len(events):,} events of {key}" in said(said_at_the_end)
    assert [e.id for e in read_log(out)] == [e.id for e in events]


def test_export_writes_what_changed_and_full_keeps_every_car(serve: Served, race: Race, tmp_path: Path) -> None:
    out = tmp_path / "history.jsonl"
    exported = chequered("export", race.key, "--out", out, "--nats", serve.url)
    assert exported.returncode == 0 and f"wrote {out}" in said(exported.stderr), output(exported)
    cars: dict[str, dict[str, object]] = {}
    for line in out.read_bytes().splitlines():
        for number, delta in msgspec.json.decode(line, type=Delta).cars.items():
            cars.setdefault(number, {}).update(msgspec.to_builtins(delta))
    assert sorted((c["position"], n, c["laps"]) for n, c in cars.items()) == order(race.final)
    full = tmp_path / "full.csv"
    assert chequered("export", race.key, "--full", "--out", full, "--nats", serve.url).returncode == 0
    rows = list(csv.DictReader(full.open()))
    last = [r for r in rows if r["seq"] == rows[-1]["seq"]]  # the whole order at the last change of it
    assert [(int(r["position"]), r["number"], int(r["laps"])) for r in last] == order(race.final)
    table = chequered("export", race.key, "--format", "table", "--nats", serve.url)
    assert table.stdout.splitlines()[0].split() == ["seq", "time", "car", "pos", "class", "laps", "gap", "status",
                                                    "changed"]  # fmt: skip


def test_verify_finds_the_served_models_equal_to_the_log(serve: Served, race: Race) -> None:
    verified = chequered("verify", "--session", race.key, "--nats", serve.url)
    assert verified.returncode == 0 and "ok: 1 read model(s) checked" in said(verified.stdout), output(verified)


def test_rebuild_switches_readers_to_a_new_bucket(serve: Served, race: Race) -> None:
    rebuilt = chequered("rebuild", "classification", "--session", race.key, "--nats", serve.url)
    assert rebuilt.returncode == 0, output(rebuilt)
    assert re.search(r"rebuilt 1 session\(s\) from [\d,]+ events .* readers now use chequered_classification_v\d+",
                     said(rebuilt.stdout)), rebuilt.stdout  # fmt: skip
    assert order(wait_served(serve, race.key, lambda c: True)) == order(race.final)


def test_standings_from_logs_as_a_table_csv_and_json() -> None:
    table = chequered("standings", "--config", DEMO_CHAMPIONSHIP, SAMPLE_LOG)
    assert table.returncode == 0, output(table)
    assert "Drivers" in said(table.stdout) and max(len(line) for line in table.stdout.splitlines()) <= 80
    as_csv = list(csv.DictReader(io.StringIO(chequered("standings", "--config", DEMO_CHAMPIONSHIP, SAMPLE_LOG,
                                                       "--format", "csv").stdout)))  # fmt: skip
    as_json = decode_standings(
        chequered("standings", "--config", DEMO_CHAMPIONSHIP, SAMPLE_LOG, "--format", "json").stdout.encode()
    )
    leader = as_json.tables[0].rows[0]
    assert any(r["competitor"] == leader.competitor and r["position"] == "1" for r in as_csv)


def test_setup_is_idempotent_and_edge_source_adds_a_circuit(nats_url: str) -> None:
    for _ in range(2):
        done = chequered("setup", "--nats", nats_url)
        assert done.returncode == 0 and "streams and buckets are in place" in said(done.stdout), output(done)
    sourced = chequered("edge", "source", "monza", "--nats", nats_url)
    assert sourced.returncode == 0, output(sourced)
    assert "the central stream sources the circuits of domains: monza" in said(sourced.stdout)


def test_schemas_writes_the_json_schema_checked_in(tmp_path: Path) -> None:
    written = chequered("schemas", "--out", tmp_path)
    assert written.returncode == 0, output(written)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in JSON_DIR.glob("*.json"))
    for path in tmp_path.iterdir():
        assert path.read_bytes() == (JSON_DIR / path.name).read_bytes(), path.name


@pytest.mark.slow
def test_demo_runs_the_whole_pipeline(tmp_path: Path) -> None:
    demo = chequered("demo", "--max", "--gateway-port", "0", home=tmp_path, timeout=300)
    assert demo.returncode == 0, output(demo)
    events = sum(1 for _ in read_log(SAMPLE_LOG))
    assert f"done: {events:,} events accepted, 0 rejected" in said(demo.stdout)
    assert "live timing page" in said(demo.stdout + demo.stderr)


# -- the README's command list is this module's ------------------------------------------------------------

TESTED = {
    "demo": "test_demo_runs_the_whole_pipeline",
    "serve": "test_serve_all_serves_the_page_and_the_sessions",
    "simulate": "test_simulate_writes_a_log",
    "replay": "test_an_interrupted_replay_says_how_to_resume_and_resumes",
    "feed rmonitor": "test_feed_rmonitor_plays_a_capture",
    "import alkamel": "test_import_alkamel_stores_a_chart",
    "publish": "test_publish_each_input_judged_against_the_session",
    "tower": "test_tower_once_as_a_table_csv_and_json",
    "at": "test_at_in_80_columns_shows_every_cars_position_number_laps_and_gap",
    "record": "test_record_writes_the_session_to_a_log",
    "rebuild": "test_rebuild_switches_readers_to_a_new_bucket",
    "verify": "test_verify_finds_the_served_models_equal_to_the_log",
    "export": "test_export_writes_what_changed_and_full_keeps_every_car",
    "rejects": "test_a_rejected_input_is_listed_by_rejects",
    "standings": "test_standings_from_logs_as_a_table_csv_and_json",
    "setup": "test_setup_is_idempotent_and_edge_source_adds_a_circuit",
    "edge source": "test_setup_is_idempotent_and_edge_source_adds_a_circuit",
    "schemas": "test_schemas_writes_the_json_schema_checked_in",
    "report": "documents/test_commands.py::test_report_writes_every_document_of_a_session",
    "calendar": "calendar/test_cli.py::test_publish_a_calendar_then_what_changed",
}
"""Each command of the README's list, and the test that runs it as a subprocess (here, or ``file::test`` under
``tests/`` where its room tests it)."""
WITH_SUBCOMMAND = {"feed", "import", "edge"}


def readme_commands() -> set[str]:
    section = README.read_text().split("## Command line", 1)[1].split("\n## ", 1)[0]
    block = section.split("```sh", 1)[1].split("```", 1)[0]
    commands = set()
    for line in block.splitlines():
        words = line.split()
        if words[:1] == ["chequered"] and len(words) > 1:
            name = words[1]
            commands.add(f"{name} {words[2]}" if name in WITH_SUBCOMMAND else name)
    return commands


def test_every_command_in_the_readme_is_run_here() -> None:
    listed = readme_commands()
    assert len(listed) >= 20
    assert listed <= set(TESTED), f"README commands with no test here: {sorted(listed - set(TESTED))}"
    for command, test in TESTED.items():
        path, _, name = test.rpartition("::")
        module = Path(__file__).parent / path if path else Path(__file__)
        defined = {
            node.name
            for node in ast.walk(ast.parse(module.read_text()))
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        }
        assert name in defined, f"{command}: no test {test}"
