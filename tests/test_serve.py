"""``chequered serve all`` as an operator runs it: the installed command, a subprocess, real processes.

One child process per service, restarted when killed (and nothing acknowledged meanwhile lost), every part
in ``/readyz``, Ctrl-C stopping everything, broker last, within seconds.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from tests.commands import TOKEN, Served, http_get, wait_until
from tests.reliability.test_crash import final_state, season, send_in_chunks, uninterrupted

pytestmark = pytest.mark.slow

SERVICES = ("ingest", "classification", "standings", "gateway")


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1][:3]


def test_a_process_per_service_and_ctrl_c_stops_them_all_broker_last(tmp_path: Path) -> None:
    served = Served(tmp_path / "home").start()
    assert served.process is not None and served.output is not None
    parts = served.parts()
    assert set(parts) == {"broker", *SERVICES}
    assert all(ready for ready, _, _ in parts.values())
    pids = {name: pid for name, (_, pid, _) in parts.items()}
    assert len(set(pids.values())) == len(pids)  # a process each
    assert all(parent_of(pid) == served.process.pid for pid in pids.values())
    assert served.output.wait_for("live timing page:").endswith(f"?token={TOKEN}")

    started = time.monotonic()
    served.process.send_signal(signal.SIGINT)
    code = served.process.wait(timeout=5)  # the bound: Ctrl-C stops everything within 5 s
    took = time.monotonic() - started
    served.output.close()
    assert code == 0
    assert not [name for name, pid in pids.items() if alive(pid)]
    lines = served.output.lines
    assert any(line.startswith("ingest") and "stopped: ingest acknowledged" in line for line in lines)
    broker_stopped = next(i for i, line in enumerate(lines) if "embedded nats-server stopped" in line)
    assert all(i < broker_stopped for i, line in enumerate(lines) if "| stopped:" in line)  # the broker last
    assert lines[-1].startswith("stopped in") and took < 5
    assert not (tmp_path / "home" / "serve.json").exists()


async def test_a_child_killed_is_restarted_and_the_race_sent_meanwhile_is_classified_completely(
    tmp_path: Path,
) -> None:
    """Every service killed with SIGKILL in turn while a race is sent: the supervisor starts each again, the
    producer retries with its ids, and the stream holds every event once; classification and standings equal
    the uninterrupted fold, byte for byte."""
    events = season()
    with Served(tmp_path / "home") as served:
        url = served.nats

        async def kill(i: int) -> None:
            name = SERVICES[i]
            _, pid, restarts = served.parts()[name]
            os.kill(pid, signal.SIGKILL)
            await asyncio.to_thread(
                wait_until, lambda: served.parts().get(name, (False, 0, 0))[2] == restarts + 1, f"{name} restarted"
            )

        await send_in_chunks(url, events, len(SERVICES) + 1, kill)
        result, ids = await final_state(url, events)
        await asyncio.to_thread(wait_until, lambda: served.ready()[0] == 200, "every service ready again")
        parts = served.parts()
        assert {name: parts[name][2] for name in SERVICES} == dict.fromkeys(SERVICES, 1)
        status, body = http_get(f"{served.serving.gateway}/api/sessions?token={TOKEN}")
        assert status == 200 and events[-1].session.key in body  # the gateway serves again, on the same port
        assert served.output is not None
        restarted = [line for line in served.output.lines if "restarting in" in line]
        assert len(restarted) == len(SERVICES) and all("killed by SIGKILL" in line for line in restarted)
    assert ids == [e.id for e in events]
    assert result == uninterrupted(events)
