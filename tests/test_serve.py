"""``chequered serve all`` as an operator runs it: the installed command, a subprocess, real processes.

One child process per service, restarted when killed (and nothing acknowledged meanwhile lost), every part
in ``/readyz``, Ctrl-C stopping everything, broker last, within seconds.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
from nats.js.api import StreamConfig

from schemas.subjects import CLASSIFICATION_BUCKET, EVENTS_STREAM
from services import supervisor
from services.broker.connection import connect
from services.broker.embedded import EmbeddedNats
from services.ingest.client import Producer
from services.ingest.service import IngestService
from services.runtime import STOP_GRACE_S
from services.supervisor import LINE_LIMIT, PROJECTOR_NICE, relay_lines
from tests.commands import (
    TOKEN,
    Output,
    Served,
    chequered,
    environment,
    http_get,
    parent_of,
    running,
    spawn,
)
from tests.factory import SessionWriter, small_race
from tests.live import send, wait_for_classification
from tests.polling import until, wait_until
from tests.reliability.processes import CHEQUERED
from tests.reliability.test_crash import final_state, season, send_in_chunks, uninterrupted

pytestmark = pytest.mark.slow

SERVICES = ("ingest", "classification", "standings", "documents", "gateway")


def nice_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def test_a_process_per_service_and_ctrl_c_stops_them_all_broker_last(tmp_path: Path) -> None:
    with Served(tmp_path / "home") as served:  # stopped at the end whatever fails
        pids, took = _check_children_then_ctrl_c(served)
    assert served.output is not None
    assert not [name for name, pid in pids.items() if running(pid)]
    lines = served.output.lines
    assert any(line.startswith("ingest") and "stopped: ingest acknowledged" in line for line in lines)
    broker_stopped = next(i for i, line in enumerate(lines) if "embedded nats-server stopped" in line)
    assert all(i < broker_stopped for i, line in enumerate(lines) if "| stopped:" in line)  # the broker last
    assert lines[-1].startswith("stopped in") and took < 5
    assert not (tmp_path / "home" / "serve.json").exists()


def _check_children_then_ctrl_c(served: Served) -> tuple[dict[str, int], float]:
    """A process per service, each a child of serve at its priority; then Ctrl-C: the pids and how long the
    stop took (the issue's bound: everything within 5 s)."""
    assert served.process is not None and served.output is not None
    parts = served.parts()
    assert set(parts) == {"broker", *SERVICES}
    assert all(ready for ready, _, _ in parts.values())
    pids = {name: pid for name, (_, pid, _) in parts.items()}
    assert len(set(pids.values())) == len(pids)  # a process each
    assert all(parent_of(pid) == served.process.pid for pid in pids.values())
    base = os.nice(0)  # children start at the test run's own niceness (`nice -n 5 make test`: 5)
    lower = min(base + PROJECTOR_NICE, 19)
    assert {name: nice_of(pid) for name, pid in pids.items()} == {
        "broker": base, "ingest": base, "classification": lower, "standings": lower,
        "documents": lower, "gateway": base,
    }  # fmt: skip
    assert served.output.wait_for("live timing page:").endswith(f"?token={TOKEN}")

    started = time.monotonic()
    served.process.send_signal(signal.SIGINT)
    code = served.process.wait(timeout=5)
    took = time.monotonic() - started
    served.output.close()
    assert code == 0
    return pids, took


async def test_a_child_killed_is_restarted_and_the_race_sent_meanwhile_is_classified_completely(
    tmp_path: Path,
) -> None:
    """Every service killed with SIGKILL in turn while a race is sent: the supervisor starts each again, the
    producer retries with its ids, and the stream holds every event once; classification and standings equal
    the uninterrupted fold, byte for byte."""
    events = season()
    with Served(tmp_path / "home") as served:
        url = served.url

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
        status, body = http_get(f"{served.gateway}/api/sessions?token={TOKEN}")
        assert status == 200 and events[-1].session.key in body  # the gateway serves again, on the same port
        assert served.output is not None
        restarted = [line for line in served.output.lines if "restarting in" in line]
        assert len(restarted) == len(SERVICES) and all("killed by SIGKILL" in line for line in restarted)
    assert ids == [e.id for e in events]
    assert result == uninterrupted(events)


def seconds_to_run(*args: str) -> float:
    """Wall time of ``chequered ARGS`` that imports everything and exits at once: the interpreter's start-up
    on this machine as loaded now, the baseline for how fast a refusal is."""
    started = time.monotonic()
    subprocess.run([str(CHEQUERED), *args], capture_output=True, timeout=120, check=True, env=environment())
    return time.monotonic() - started


@pytest.mark.parametrize("port", ["broker", "gateway", "ops"])
async def test_a_taken_port_is_one_line_and_a_quick_exit_and_the_other_store_is_untouched(
    tmp_path: Path, port: str
) -> None:
    """A second installation asked for a port the first one serves on: one line naming the port and what to
    do, a non-zero exit within 2 s of the interpreter's start-up, and nothing of it reaches the first one's
    broker (its services never start)."""
    with Served(tmp_path / "first") as first:
        nc = await connect(first.url, "check")
        try:
            js = nc.jetstream()
            await Producer(nc).send_all(small_race(SessionWriter(), cars=2, laps=2))
            before = (await js.stream_info(EVENTS_STREAM)).state
            address = {"broker": first.url, "gateway": first.gateway, "ops": first.ops}[port]
            taken = address.rsplit(":", 1)[1]
            option = {"broker": "--port", "gateway": "--gateway-port", "ops": "--ops-port"}[port]
            baseline = seconds_to_run("serve", "--help")
            started = time.monotonic()
            code, out = Served.refused(tmp_path / "second", option, taken)
            took = time.monotonic() - started
            after = (await js.stream_info(EVENTS_STREAM)).state
        finally:
            await nc.close()
    assert code == 2
    assert out.splitlines() == [
        f"error: the {port} port 127.0.0.1:{taken} is already in use (another chequered serve, or another "
        f"program): stop what holds it, or choose another port with {option} (0 picks a free one)"
    ]
    assert took < baseline + 2.0, (took, baseline)
    assert (after.messages, after.bytes, after.first_seq, after.last_seq) == (
        before.messages,
        before.bytes,
        before.first_seq,
        before.last_seq,
    )


async def test_sigterm_stops_a_projector_retrying_a_write_and_the_last_line_says_what_was_written(
    nats_server: EmbeddedNats, tmp_path: Path
) -> None:
    """The projector's bucket is gone, so every write of the next value fails and is retried (as while the
    broker restarts): SIGTERM still stops ``serve classification`` within seconds, and its last line says how
    far the log was folded and how far the read models were written. (A broker of the test's own: the bucket
    is deleted.)"""
    writer = SessionWriter()
    process = spawn("serve", "classification", "--nats", nats_server.url)
    assert process.stdout is not None
    output = Output(process.stdout)
    ingest = IngestService(nats_server.url)
    await ingest.start()
    nc = await connect(nats_server.url, "t")
    try:
        stored = await send(nc, small_race(writer, cars=2, laps=2))
        await wait_for_classification(nc, writer.session.key, stored[-1][0])
        await nc.jetstream().delete_key_value(CLASSIFICATION_BUCKET)
        await send(nc, [writer.lap("1", 3, 300_000)])
        await asyncio.to_thread(output.wait_for, "failed")
        process.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(process.wait, 3 * STOP_GRACE_S)
    finally:
        if process.poll() is None:
            process.kill()
        await nc.close()
        await ingest.stop()
    output.close()
    assert code == 0
    last = stored[-1][0]
    assert output.lines[-1] == (
        f"stopped: classification folded to seq {last + 1:,}, its read models written to {last:,}"
    ), output.text


async def test_a_child_that_cannot_start_for_a_reason_it_explains_stops_serve_all(
    nats_server: EmbeddedNats, tmp_path: Path
) -> None:
    """A stream configured otherwise than chequered needs: ingest says so in one line and exits 2; restarting it
    would change nothing, so ``serve all`` stops everything and exits 2 too, instead of restarting for ever.
    (A broker of the test's own: its stream is made wrong.)"""
    nc = await connect(nats_server.url, "t")
    try:
        await nc.jetstream().add_stream(StreamConfig(name=EVENTS_STREAM, subjects=["chequered.events.>"]))
    finally:
        await nc.close()
    process = spawn("serve", "all", "--nats", nats_server.url, "--gateway-port", "0", "--home", str(tmp_path))
    assert process.stdout is not None
    output = Output(process.stdout)
    code = await asyncio.to_thread(process.wait, 120)
    output.close()
    assert code == 2
    assert any(line.startswith("ingest") and "run 'chequered setup --update'" in line for line in output.lines)
    assert any("ingest could not start (exit code 2)" in line for line in output.lines)
    assert not [line for line in output.lines if "restarting in" in line]


@pytest.mark.parametrize(("role", "option"), [("gateway", "--gateway-port"), ("ingest", "--ops-port")])
def test_serve_one_service_on_a_taken_port_is_one_line(nats_url: str, tmp_path: Path, role: str, option: str) -> None:
    """Once a traceback (``GatewayStartFailed``) and a process left without its gateway."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        done = chequered("serve", role, "--nats", nats_url, option, str(port), home=tmp_path, timeout=60)
    assert done.returncode == 2
    what = "gateway" if role == "gateway" else "ops"
    assert done.stdout.splitlines() == [
        f"error: the {what} port 127.0.0.1:{port} is already in use (another chequered serve, or another program): "
        f"stop what holds it, or choose another port with {option} (0 picks a free one)"
    ]


async def test_a_child_unready_for_too_long_is_restarted(
    nats_server: EmbeddedNats, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What an orchestrator does with a process whose readiness stays false (a connection closed for good, a
    task dead), the supervisor does to its child: here ingest, whose broker has gone away for longer than the
    limit, is restarted, and is ready again once the broker is back."""
    monkeypatch.setattr(supervisor, "UNREADY_RESTART_S", 1.0)
    monkeypatch.setattr(supervisor, "WATCH_S", 0.1)
    lines: list[str] = []
    keeper = supervisor.Supervisor(
        [supervisor.service_spec("ingest", nats_server.url, "text")], lambda name, line: lines.append(line)
    )
    await keeper.start()
    try:
        assert await keeper.wait_ready()
        nats_server.stop()
        child = keeper.children[0]
        await until(lambda: child.restarts >= 1, "the child to be restarted", timeout=60)
        nats_server.start()
        await until(lambda: child.ready.is_set() and child.running, "the child to run again", timeout=60)
        assert (await keeper.checks())[0].ready
    finally:
        await keeper.stop()
        nats_server.stop()


async def test_a_line_longer_than_the_pipe_limit_is_cut_and_the_rest_relayed() -> None:
    """A child writing a line over asyncio's 64 KiB limit (a huge traceback) once ended the relay: nothing drained
    its pipe again and the child blocked on its next write, for good."""
    stream = asyncio.StreamReader(limit=LINE_LIMIT)
    stream.feed_data(b"before\n" + b"x" * (LINE_LIMIT * 2) + b"\nafter\n")
    stream.feed_eof()
    relayed: list[tuple[str, str]] = []
    await relay_lines("ingest", stream, lambda name, line: relayed.append((name, line)))
    assert relayed == [
        ("ingest", "before"), ("ingest", "[a line longer than 64 KiB was cut]"), ("ingest", "after"),
    ]  # fmt: skip
