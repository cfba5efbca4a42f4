"""``chequered rebuild`` by worker processes, each folding and writing its share of the log's partitions, as a
user runs it; and how the shares are made (:func:`services.broker.partition.balance`). One session is read by the
command and folded by a process it forks (:mod:`services.ops.fold_process`)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st
from nats.aio.client import Client
from nats.js.errors import BucketNotFoundError, KeyNotFoundError

from schemas.events import Event, encode_event
from schemas.subjects import (
    CLASSIFICATION_BUCKET,
    CLASSIFICATION_PROJECTION,
    PARTITIONS,
    READ_MODELS_BUCKET,
    events_subject,
    partition_of,
)
from services.broker.connection import connect
from services.broker.partition import balance
from services.broker.reader import read_events
from services.broker.topology import ensure_topology
from services.ops.rebuild_lock import Holder, lock_key
from services.simulator.endurance import RaceSpec, simulate
from tests.classification.test_projector import offline
from tests.commands import chequered, output, parent_of, running, said, spawn
from tests.factory import SessionWriter, small_race
from tests.live import broker_with
from tests.polling import until


async def _long_race(nc: Client, cars: int = 30, hours: int = 24) -> None:
    """A simulated race stored in one session (30 cars for 24 hours: some 24,000 events, a rebuild long enough to
    be caught running)."""
    race = simulate(RaceSpec(seed=7, cars=cars, duration_ms=hours * 3600 * 1000, retirements=2))
    js = nc.jetstream()
    await ensure_topology(js)
    for start in range(0, len(race), 2000):
        await asyncio.gather(
            *[
                await js.publish_async(events_subject(e.session), encode_event(e), headers={"Nats-Msg-Id": e.msg_id})
                for e in race[start : start + 2000]
            ]
        )


def _races(count: int, cars: int = 4) -> list[list[Event]]:
    """``count`` small races, each in a partition of its own."""
    races: list[list[Event]] = []
    taken: set[int] = set()
    while len(races) < count:
        w = SessionWriter()
        if partition_of(w.session.key) not in taken:
            taken.add(partition_of(w.session.key))
            races.append(small_race(w, cars=cars, laps=6))
    return races


async def _stored(nc: Client, races: list[list[Event]]) -> None:
    js = nc.jetstream()
    await ensure_topology(js)
    for race in races:
        for event in race:
            await js.publish(events_subject(event.session), encode_event(event), headers={"Nats-Msg-Id": event.msg_id})


async def _pointer(nc: Client) -> bytes | None:
    """The bucket readers use, as the pointer names it (None: no rebuild ever switched them)."""
    try:
        return (await (await nc.jetstream().key_value(READ_MODELS_BUCKET)).get(CLASSIFICATION_PROJECTION)).value
    except KeyNotFoundError:
        return None


async def _holder(nc: Client) -> Holder | None:
    """Who holds the rebuild's lock (None: nobody)."""
    try:
        entry = await (await nc.jetstream().key_value(READ_MODELS_BUCKET)).get(lock_key(CLASSIFICATION_PROJECTION))
    except KeyNotFoundError:
        return None
    return msgspec.json.decode(entry.value or b"", type=Holder)


def _bucket(stdout: str) -> str:
    found = re.search(r"readers now use (\S+)", said(stdout))
    assert found, stdout
    return found.group(1)


async def test_rebuild_by_workers_writes_what_one_process_does(nats_url: str, nc: Client) -> None:
    races = _races(4)
    await _stored(nc, races)
    js = nc.jetstream()
    values: dict[str, dict[str, bytes]] = {}
    for workers in ("2", "1"):
        rebuilt = chequered("rebuild", "classification", "--workers", workers, "--nats", nats_url)
        assert rebuilt.returncode == 0, output(rebuilt)
        assert ("by 2 processes" in said(rebuilt.stdout)) == (workers == "2"), rebuilt.stdout
        assert "rebuilt 4 session(s)" in said(rebuilt.stdout), rebuilt.stdout
        bucket = _bucket(rebuilt.stdout)
        assert await _pointer(nc) == bucket.encode()
        kv = await js.key_value(bucket)
        values[workers] = {key: (await kv.get(key)).value or b"" for key in await kv.keys()}
    assert values["2"] == values["1"]
    for race in races:
        key = race[0].session.key
        assert values["2"][key] == offline(await read_events(js, key), key)


def _children(pid: int, command: Callable[[bytes], bool]) -> list[int]:
    """The children of the process ``pid`` whose command line ``command`` takes."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and parent_of(int(entry.name)) == pid and command((entry / "cmdline").read_bytes()):
                found.append(int(entry.name))
        except (OSError, ValueError, IndexError):  # it ended meanwhile
            continue
    return found


def _workers(pid: int) -> list[int]:
    """The rebuild worker processes of the command ``pid``: its children that multiprocessing spawned (not its
    resource tracker)."""
    return _children(pid, lambda command: b"spawn_main" in command and b"resource_tracker" not in command)


async def test_a_worker_killed_or_a_ctrl_c_switches_nothing_and_leaves_no_worker(nats_url: str, nc: Client) -> None:
    """A worker killed (``kill -9``, the kernel out of memory) ends the rebuild with the reason; Ctrl-C ends it
    at once: either way the pointer stays, and no worker is left running."""
    await _stored(nc, _races(4, cars=20))
    await _interrupted(nc, nats_url, _workers, 2, "a worker process ended before it had written its share")


async def _interrupted(nc: Client, nats_url: str, helpers: Callable[[int], list[int]], count: int, reason: str) -> None:
    """``rebuild --workers 2`` with one of its ``count`` helper processes killed (``kill -9``), then with Ctrl-C to
    the command: the ``reason`` (exit 1) or exit 130, the pointer unmoved, no helper left running. The command is
    held (SIGSTOP) while its helper is killed, so the kill cannot come after the helper's work is done."""
    for how in (signal.SIGKILL, signal.SIGINT):
        rebuild = spawn("rebuild", "classification", "--workers", "2", "--nats", nats_url)
        try:
            await until(lambda: len(helpers(rebuild.pid)) == count, f"the rebuild's {count} helper(s)")  # noqa: B023
            found = helpers(rebuild.pid)
            if how is signal.SIGKILL:
                rebuild.send_signal(signal.SIGSTOP)
                os.kill(found[0], how)  # a helper, not the command
                rebuild.send_signal(signal.SIGCONT)
            else:
                rebuild.send_signal(how)
            out, _ = rebuild.communicate(timeout=60)
        finally:
            if rebuild.poll() is None:
                rebuild.kill()
        if how is signal.SIGKILL:
            assert rebuild.returncode == 1, out
            assert f"{reason}; nothing was switched" in said(out), out
        else:
            assert rebuild.returncode == 130, out
        await until(lambda: not any(running(pid) for pid in found), "the helpers to end")  # noqa: B023
        assert await _pointer(nc) is None


async def test_a_session_that_is_no_session_key_is_refused_and_nothing_switched(nats_url: str, nc: Client) -> None:
    """A pattern, a key short of a token or a token no subject may hold: said, not a traceback, and no bucket is
    switched to (a two-token key was taken as a session with no events, and every other one carried over). So is
    a key the log holds no event of (a typing error): nothing is made."""
    races = _races(1)
    await _stored(nc, races)
    for session, reason in (
        ("champ.>", "session key 'champ.>' must be championship.event.session"),
        ("champ.event", "session key 'champ.event' must be championship.event.session"),
        ("a b.event.race", "`session.championship` must match regex"),
    ):
        refused = chequered("rebuild", "classification", "--session", session, "--nats", nats_url)
        assert refused.returncode == 2 and f"error: {reason}" in said(refused.stdout), output(refused)
    stored = races[0][0].session
    mistyped = f"{stored.championship}.{stored.event}.{stored.session}x"
    refused = chequered("rebuild", "classification", "--session", mistyped, "--nats", nats_url)
    reason = f"error: the log holds no event of session {mistyped}: check its key"
    assert refused.returncode == 1 and reason in said(refused.stdout), output(refused)
    assert "nothing was switched" in said(refused.stdout), output(refused)
    assert await _pointer(nc) is None
    with pytest.raises(BucketNotFoundError):
        await nc.jetstream().key_value(f"{CLASSIFICATION_BUCKET}_v2")


async def test_one_session_is_read_by_the_command_and_folded_by_a_second_process(nats_url: str, nc: Client) -> None:
    """One session cannot be shared by partitions: with two processes the command reads it and a forked process
    folds it as it is read, and the value is the bytes one process writes, the pure fold's."""
    races = _races(2)
    await _stored(nc, races)
    key = races[0][0].session.key
    js = nc.jetstream()
    values: dict[str, bytes] = {}
    for workers in ("2", "1"):
        rebuilt = chequered("rebuild", "classification", "--session", key, "--workers", workers, "--nats", nats_url)
        assert rebuilt.returncode == 0, output(rebuilt)
        assert ("by 2 processes" in said(rebuilt.stdout)) == (workers == "2"), rebuilt.stdout
        assert "rebuilt 1 session(s)" in said(rebuilt.stdout), rebuilt.stdout
        values[workers] = (await (await js.key_value(_bucket(rebuilt.stdout))).get(key)).value or b""
    assert values["2"] == values["1"] == offline(await read_events(js, key), key)


def _forked(pid: int) -> list[int]:
    """The processes the command ``pid`` forked: its children running its own command line."""
    return _children(pid, Path(f"/proc/{pid}/cmdline").read_bytes().__eq__)


async def test_the_fold_process_killed_or_a_ctrl_c_switches_nothing_and_leaves_it_not_running(
    nats_url: str, nc: Client
) -> None:
    """The fold process killed (``kill -9``) ends the rebuild with the reason; Ctrl-C ends it at once: either way
    the pointer stays, and the fold process is not left running."""
    await _long_race(nc)
    await _interrupted(nc, nats_url, _forked, 1, "the fold process ended before it had folded the log (exit code -9)")


def test_workers_are_counted_from_one() -> None:
    refused = chequered("rebuild", "classification", "--workers", "0")
    assert refused.returncode == 2 and "'0' is not a whole number of at least 1" in said(refused.stderr), output(
        refused
    )


async def test_a_value_the_broker_will_not_take_switches_nothing(tmp_path: Path) -> None:
    """A value larger than the server's ``max_payload`` cannot be written: by a worker, by one process, or folded
    by a second, the rebuild says which and why, and readers keep what they used."""
    with broker_with(tmp_path, "max_payload: 8192\n") as server:
        nc = await connect(server.url, "test")
        try:
            await _stored(nc, _races(2, cars=20))  # 20 cars: a value of some 20 kB
            key = (await read_events(nc.jetstream(), None))[0][1].session.key
            for how in (["--workers", "2"], ["--workers", "1"], ["--session", key, "--workers", "2"]):
                failed = chequered("rebuild", "classification", *how, "--nats", server.url)
                assert failed.returncode == 1, output(failed)
                text = said(failed.stdout)
                assert re.search(r"error: the value of \S+ \([\d,]+ bytes\) is larger than the broker takes: raise "
                                 r"max_payload in the server's configuration", text), output(failed)  # fmt: skip
                assert "nothing was switched" in text and "by 2 processes" not in text, output(failed)
                assert await _pointer(nc) is None and await _holder(nc) is None  # the lock released
        finally:
            await nc.close()


@given(st.dictionaries(st.integers(0, PARTITIONS - 1), st.integers(0, 10_000)), st.integers(1, 8))
def test_shares_hold_every_partition_once_and_weigh_about_the_same(weights: dict[int, int], workers: int) -> None:
    shares = balance(weights, workers)
    assert sorted(p for share in shares for p in share) == sorted(weights)
    heavy = sum(1 for w in weights.values() if w > 0)
    assert len(shares) == max(1, min(workers, heavy))
    if heavy:
        assert all(any(weights[p] > 0 for p in share) for share in shares)  # no worker is started for nothing
        loads = [sum(weights[p] for p in share) for share in shares]
        assert max(loads) - min(loads) <= max(weights.values())
