"""One broker per store: a command run beside ``chequered serve`` uses its broker, a second ``serve`` refuses,
and no two embedded nats-servers ever share a store (real processes: the installed ``chequered``)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import msgspec
import pytest

from services.home import ADDRESS_FILE, HomeLock, Serving
from services.ops.racelog import write_log
from tests.commands import Output, Served, chequered, running, spawn
from tests.factory import SessionWriter, small_race
from tests.polling import wait_until

pytestmark = pytest.mark.slow


def test_a_lock_is_held_by_one_claimant_and_its_address_read_only_while_it_holds_it(tmp_path: Path) -> None:
    first, second = HomeLock(tmp_path), HomeLock(tmp_path)
    assert first.claim()
    assert not second.claim()
    assert second.announced() is None  # claimed, not said where yet
    first.announce(Serving(pid=os.getpid(), command="serve all", nats="nats://127.0.0.1:1"))
    assert second.announced() == Serving(pid=os.getpid(), command="serve all", nats="nats://127.0.0.1:1")
    first.release()
    assert second.announced() is None and not (tmp_path / ADDRESS_FILE).exists()
    assert second.claim()
    second.release()


def test_an_address_left_by_a_killed_holder_is_never_believed(tmp_path: Path) -> None:
    (tmp_path / ADDRESS_FILE).write_bytes(msgspec.json.encode(Serving(pid=1, command="serve all", nats="nats://x:1")))
    lock = HomeLock(tmp_path)
    assert lock.claim()  # nobody holds it: whoever wrote the address is gone
    assert not (tmp_path / ADDRESS_FILE).exists()
    lock.release()


def test_commands_beside_serve_use_its_broker_and_a_second_serve_refuses(tmp_path: Path) -> None:
    home = tmp_path / "home"
    writer = SessionWriter()
    log = tmp_path / "race.jsonl"
    write_log(small_race(writer, cars=3, laps=4), log)
    with Served(home) as served:
        nats = served.url
        replayed = chequered("replay", str(log), "--max", home=home)
        assert replayed.returncode == 0, replayed.stdout + replayed.stderr
        assert f"chequered serve all is running at {nats}; using it" in replayed.stderr
        assert "embedded nats-server" not in replayed.stdout + replayed.stderr  # no second broker

        at = chequered("at", writer.session.key, "--time", "0:05:00", home=home)
        assert at.returncode == 0, at.stdout + at.stderr
        assert "using it" in at.stderr and "Test race" in at.stdout  # the replayed race, from serve's broker

        second = chequered("serve", "all", "--port", "0", "--gateway-port", "0", home=home, timeout=60)
        assert second.returncode == 2
        assert second.stdout.splitlines() == [
            f"error: chequered serve all is already running at {nats} (process {served.serving.pid}) on {home}: "
            "stop it first, or give this one another --home"
        ]


def test_serve_refuses_a_store_a_command_runs_its_own_broker_on(tmp_path: Path) -> None:
    """``chequered tower`` with nothing serving starts its own broker on the home's store: ``serve`` started
    meanwhile refuses instead of starting a second nats-server on the same files; once tower is gone, it
    starts."""
    home = tmp_path / "home"
    with Served(home):
        pass  # the store has its streams and buckets: tower follows a session until Ctrl-C
    tower = spawn("tower", "a.b.c", "--home", str(home))
    assert tower.stdout is not None
    output = Output(tower.stdout)
    try:
        output.wait_for("embedded nats-server on")
        code, out = Served.refused(home)
        assert code == 2
        assert out.startswith("error: chequered tower is already running at nats://127.0.0.1:")
    finally:
        tower.send_signal(signal.SIGINT)
        tower.wait(30)
        output.close()
    wait_until(lambda: not (home / ADDRESS_FILE).exists(), "tower to release the home")
    with Served(home) as served:
        assert served.parts()["broker"][0]


def test_nothing_outlives_a_killed_serve_and_the_next_one_starts_on_the_same_store(tmp_path: Path) -> None:
    home = tmp_path / "home"
    served = Served(home).start()
    assert served.process is not None
    pids = [pid for _, pid, _ in served.parts().values()]
    served.process.kill()  # kill -9: no clean-up of its own
    served.process.wait()
    assert served.output is not None
    served.output.close()
    wait_until(lambda: not [pid for pid in pids if running(pid)], "the broker and every service to stop")
    with Served(home) as again:
        assert all(ready for ready, _, _ in again.parts().values())
