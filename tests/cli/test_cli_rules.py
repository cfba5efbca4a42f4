"""``--rules`` and ``at --hourly`` as a user types them: the installed ``chequered`` against a real nats-server, with
ingest and the classification projector as child processes; what they wrote read back from the stream and KV."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

from nats.aio.client import Client

from schemas.events import SessionOpened
from schemas.results import ResultStatus
from services.broker.reader import read_events
from services.ops.racelog import read_log
from tests.feeds.captures import write_capture
from tests.feeds.charts import Car, chart
from tests.feeds.test_live_feed import race
from tests.live import wait_for_classification
from tests.reliability.processes import CHEQUERED, ServiceProcess

LAP = 100_000
HOUR_LONG = (
    Car("1", [LAP] * 40),  # 4,000 s: more than an hour
    Car("2", [LAP + 500] * 40),
    Car("3", [LAP + 900] * 32, took_flag=False),  # stopped after 32 laps (80 %)
)


def chequered(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CHEQUERED), *argv], capture_output=True, text=True, timeout=120)


def new_key() -> str:
    return f"t{uuid.uuid4().hex[:10]}.cli.race"


async def opened_rules_preset(nc: Client, key: str) -> str:
    stored = await read_events(nc.jetstream(), key)
    opened = [event.body for _, event in stored if isinstance(event.body, SessionOpened)]
    assert len(opened) == 1
    return opened[0].rules.preset


async def test_import_with_presets_and_the_hourly_classification(nats_url: str, nc: Client, tmp_path: Path) -> None:
    path = tmp_path / "analysis.csv"
    path.write_bytes(chart(*HOUR_LONG))
    wec, club = new_key(), new_key()
    with ServiceProcess("ingest", nats_url, tmp_path), ServiceProcess("classification", nats_url, tmp_path):
        default = chequered("import", "alkamel", str(path), "--session", wec, "--nats", nats_url)
        chosen = chequered("import", "alkamel", str(path), "--session", club, "--rules", "club", "--nats", nats_url)
        assert default.returncode == 0 and chosen.returncode == 0, default.stdout + chosen.stdout
        assert "0 rejected" in default.stdout
        results = {}
        for key in (wec, club):
            last = (await read_events(nc.jetstream(), key))[-1][0]
            results[key] = await wait_for_classification(nc, key, last)
        hours = chequered("at", wec, "--hourly", "--nats", nats_url)
        final = chequered("at", wec, "--seq", str(results[wec].last_seq), "--nats", nats_url)

    assert [(c.number, c.status) for c in results[wec].cars] == [
        ("1", ResultStatus.CLASSIFIED),
        ("2", ResultStatus.CLASSIFIED),
        ("3", ResultStatus.DID_NOT_FINISH),  # no flag: retired under WEC rules
    ]
    assert [(c.number, c.status) for c in results[club].cars][2] == ("3", ResultStatus.CLASSIFIED)  # 80 % is enough
    assert (await opened_rules_preset(nc, wec), await opened_rules_preset(nc, club)) == ("wec", "club")

    assert hours.returncode == 0, hours.stdout + hours.stderr
    assert "Classification at hour 1" in hours.stdout and "hour 2" not in hours.stdout  # the flag fell at 4,000 s
    assert max(len(line) for line in hours.stdout.splitlines()) <= 80
    assert final.returncode == 0 and "finished" in final.stdout
    rows = {line.split()[3]: line.split() for line in final.stdout.splitlines() if line.strip()[:1].isdigit()}
    assert (rows["1"][-1], rows["3"][-1]) == ("🏁", "DNF")  # the tower shows the result, not just "RET"
    assert max(len(line) for line in final.stdout.splitlines()) <= 80


def test_an_unknown_preset_or_a_bad_preset_file_is_one_line_saying_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "analysis.csv"
    path.write_bytes(chart(*HOUR_LONG))
    unknown = chequered("import", "alkamel", str(path), "--session", new_key(), "--rules", "f1")
    assert unknown.returncode == 2
    assert unknown.stdout.strip().splitlines() == [
        "error: no rules preset 'f1': use wec, imsa, sro, nls, club, or a .toml file"
    ]
    bad = tmp_path / "mine.toml"
    bad.write_text("min_distance_pct = 170\n")
    refused = chequered("simulate", "--out", str(tmp_path / "x.jsonl"), "--rules", str(bad))
    assert refused.returncode == 2 and "Traceback" not in refused.stdout + refused.stderr
    assert f"{bad}: $.min_distance_pct: Expected `int` <= 100" in " ".join(refused.stdout.split())


def test_simulate_writes_the_preset_into_the_session(tmp_path: Path) -> None:
    out = tmp_path / "race.jsonl.gz"
    made = chequered("simulate", "--seed", "3", "--cars", "4", "--hours", "0.2", "--rules", "imsa", "--out", str(out))
    assert made.returncode == 0, made.stdout + made.stderr
    opened = next(iter(read_log(out))).body
    assert isinstance(opened, SessionOpened) and opened.rules.preset == "imsa"
    assert opened.rules.min_distance_pct == 0


async def test_replay_and_feed_take_the_rules_too(nats_url: str, nc: Client, tmp_path: Path) -> None:
    log = tmp_path / "race.jsonl.gz"
    assert chequered("simulate", "--seed", "4", "--cars", "3", "--hours", "0.1", "--out", str(log)).returncode == 0
    capture = write_capture(tmp_path, race(cars=3, laps=3))
    replayed, fed = new_key(), new_key()
    assert chequered("setup", "--nats", nats_url).returncode == 0  # replay first reads what the stream holds
    with ServiceProcess("ingest", nats_url, tmp_path):
        replay = chequered("replay", str(log), "--session", replayed, "--max", "--rules", "sro", "--nats", nats_url)
        feed = chequered(
            "feed", "rmonitor", "--session", fed, "--capture", str(capture), "--max", "--rules", "nls",
            "--nats", nats_url,
        )  # fmt: skip
    assert replay.returncode == 0 and feed.returncode == 0, replay.stdout + feed.stdout
    assert await opened_rules_preset(nc, replayed) == "sro"
    assert await opened_rules_preset(nc, fed) == "nls"
