"""``run_offline``: logs (plain or gzip, several sessions each) to tables, JSON and CSV."""

from __future__ import annotations

import csv
import gzip
import io
import os
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from schemas.events import SessionKind, encode_event
from schemas.standings import decode_standings
from services.standings.config import CONFIGS
from services.standings.offline import run_offline
from tests.standings.season import BASE_CONFIG, ROUNDS, Car, Session, book, run

GRID = [Car("1", crew=("Ann", "Bob")), Car("2", crew=("Cy",)), Car("7", "Am", crew=("Eve",))]
SESSIONS = [
    Session("r1", GRID, ["2", "7", "1"], name="qualifying", kind=SessionKind.QUALIFYING),
    Session("r1", GRID, ["1", "7", "2"]),
    Session("r2", GRID, ["2", "1", "7"]),
]


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, list[Path]]:
    config = tmp_path / "series.toml"
    config.write_text(BASE_CONFIG + "[bonus]\npole = 1\n" + ROUNDS)
    first = tmp_path / "weekend-1.jsonl"
    first.write_bytes(b"".join(encode_event(e) + b"\n" for s in SESSIONS[:2] for e in s.events()))
    second = tmp_path / "weekend-2.jsonl.gz"
    with gzip.open(second, "wb") as out:
        out.write(b"".join(encode_event(e) + b"\n" for e in SESSIONS[2].events()))
    return config, [first, second]


def offline(config: Path, logs: list[Path], fmt: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run_offline(config, logs, fmt, out, err)  # type: ignore[arg-type]
    return code, out.getvalue(), err.getvalue()


def test_json_is_the_standings_the_sessions_give(files: tuple[Path, list[Path]]) -> None:
    code, out, err = offline(*files, "json")
    assert code == 0 and err == ""
    assert decode_standings(out.encode()) == run(book("[bonus]\npole = 1\n"), *SESSIONS)


def test_csv_has_a_row_per_competitor_and_table(files: tuple[Path, list[Path]]) -> None:
    code, out, _ = offline(*files, "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0
    cy = next(r for r in rows if r["table"] == "drivers" and r["competitor"] == "Cy")
    assert (cy["class"], cy["position"], cy["points"], cy["r1"], cy["r2"], cy["r3"]) == (
        "Pro",
        "1",
        "17",
        "7",
        "10",
        "",
    )


def test_tables_are_readable(files: tuple[Path, list[Path]]) -> None:
    code, out, _ = offline(*files, "table")
    assert code == 0
    assert "Test Series: Drivers — Pro" in out and "Test Series: Drivers — Gentlemen" in out
    assert "7 p" in out  # Cy's pole, marked
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 160


def test_the_shipped_configs_run_on_logs_of_their_rounds(tmp_path: Path) -> None:
    log = tmp_path / "spa.jsonl"
    grid = [Car("1", "Pro"), Car("2", "Pro-Am"), Car("3", "Am")]
    log.write_bytes(b"".join(encode_event(e) + b"\n" for e in Session("spa-24h", grid, ["3", "2", "1"]).events()))
    code, _, err = offline(CONFIGS / "gt-endurance.toml", [log], "table")
    assert code == 1 and "no session of championship gtes-2026" in err
    assert "session test-series.spa-24h.race: not a round of gtes-2026" in err


def test_errors_name_the_file(files: tuple[Path, list[Path]], tmp_path: Path) -> None:
    config, logs = files
    broken = tmp_path / "broken.toml"
    broken.write_text(BASE_CONFIG + ROUNDS + "[drops]\nbest = 9\n")
    code, _, err = offline(broken, logs, "table")
    assert code == 2 and err.startswith(f"{broken}: $.drops.best: 9 is more than the 6 rounds")
    bad_log = tmp_path / "bad.jsonl"
    bad_log.write_text('{"id": "x"}\n')
    code, _, err = offline(config, [bad_log], "json")
    assert code == 2 and err.startswith(f"{bad_log}:1: Object missing required field")
    code, _, err = offline(config, [tmp_path / "missing.jsonl"], "json")
    assert code == 2 and "missing.jsonl" in err


def test_contenders_of_the_installed_command(tmp_path: Path) -> None:
    """``chequered standings --contenders`` as a user runs it: who can still win, the most they can reach, and what
    they need in the last race; as a table, JSON and CSV."""
    from tests.standings.test_title import FINALE, OPENING

    config = tmp_path / "finale.toml"
    config.write_text(FINALE)
    log = tmp_path / "opening.jsonl"
    log.write_bytes(b"".join(encode_event(e) + b"\n" for e in OPENING.events()))
    chequered = Path(sys.executable).parent / "chequered"

    def run_command(*extra: str) -> str:
        done = subprocess.run(
            [str(chequered), "standings", "--config", str(config), str(log), "--contenders", *extra],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "COLUMNS": "200"},
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    text = run_command()
    assert "Finale: Drivers — Pro — title fight (1 scoring session left)" in text
    assert "P1a / P1b" in text and "can win · leads" in text and "has won the title" in text
    assert "2nd with #2, #3 and #4 lower than 1st" in text
    fights = msgspec.json.decode(run_command("--format", "json"))["tables"]
    pro = next(f for f in fights if f["class_name"] == "Pro")
    assert [c["max_points"] for c in pro["title"]["contenders"]] == [83, 81, 81, 80]
    rows = list(csv.DictReader(io.StringIO(run_command("--format", "csv"))))
    assert {(r["table"], r["class"], r["contender"]) for r in rows if r["status"] == "champion"} == {
        ("drivers", "Am", "G1"),
        ("teams", "Am", "Team 71 #71"),
    }
