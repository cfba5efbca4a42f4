"""One rebuild at a time (:mod:`services.ops.rebuild_lock`), as an operator meets it: a second ``chequered
rebuild`` while one runs is refused and says whose it is; a dead rebuild's lock is taken over."""

from __future__ import annotations

import asyncio
import signal
import socket
import time

import msgspec
import pytest
from nats.aio.client import Client

from schemas.subjects import CLASSIFICATION_PROJECTION, READ_MODELS_BUCKET
from services.broker.topology import ensure_topology
from services.ops.rebuild_lock import BEAT_S, STALE_S, Holder, NotLocked, held, lock_key
from tests.commands import chequered, output, said, spawn
from tests.ops.test_rebuild_workers import _bucket, _holder, _long_race, _pointer
from tests.polling import until

KEY = lock_key(CLASSIFICATION_PROJECTION)


async def test_a_second_rebuild_while_one_runs_is_refused_and_the_first_switches(nats_url: str, nc: Client) -> None:
    """The first rebuild is held (SIGSTOP) once it has the lock, so the second surely meets it running."""
    await _long_race(nc)
    first = spawn("rebuild", "classification", "--nats", nats_url)
    try:
        await until(lambda: _held_by(nc, first.pid), "the first rebuild to take the lock")
        first.send_signal(signal.SIGSTOP)
        second = chequered("rebuild", "classification", "--nats", nats_url)
        first.send_signal(signal.SIGCONT)
        out, _ = first.communicate(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
    assert second.returncode == 1, output(second)
    assert f"error: another rebuild is running (process {first.pid} on {socket.gethostname()}" in said(second.stdout), (
        output(second)
    )
    assert "nothing was switched" in said(second.stdout)
    assert first.returncode == 0, out
    assert await _pointer(nc) == _bucket(out).encode()  # the first's bucket, whole
    assert await _holder(nc) is None  # released


async def _held_by(nc: Client, pid: int) -> bool:
    holder = await _holder(nc)
    return holder is not None and holder.pid == pid


async def test_a_dead_rebuilds_lock_is_taken_over_at_once_on_its_host(nats_url: str, nc: Client) -> None:
    await _long_race(nc)
    first = spawn("rebuild", "classification", "--nats", nats_url)
    try:
        await until(lambda: _held_by(nc, first.pid), "the first rebuild to take the lock")
        first.kill()  # kill -9: it cannot release the lock
        first.wait()
    finally:
        if first.poll() is None:
            first.kill()
    assert await _holder(nc) is not None
    rebuilt = chequered("rebuild", "classification", "--nats", nats_url)
    assert rebuilt.returncode == 0, output(rebuilt)
    assert await _pointer(nc) == _bucket(rebuilt.stdout).encode()
    assert await _holder(nc) is None


@pytest.mark.parametrize(("last_seen_s", "taken"), [(1.0, False), (STALE_S + 5, True)], ids=["renewed lately", "stale"])
async def test_another_hosts_lock_is_taken_over_once_stale(
    nats_url: str, nc: Client, last_seen_s: float, taken: bool
) -> None:
    """A holder on another machine cannot be asked whether it runs: only a lock not renewed for ``STALE_S`` is
    taken over."""
    await _long_race(nc, cars=4, hours=1)
    now = int(time.time() * 1000)
    lock = Holder("elsewhere", 4242, now - 60_000, now - int(last_seen_s * 1000))
    await (await nc.jetstream().key_value(READ_MODELS_BUCKET)).put(KEY, msgspec.json.encode(lock))
    rebuilt = chequered("rebuild", "classification", "--nats", nats_url)
    if taken:
        assert rebuilt.returncode == 0, output(rebuilt)
        assert await _holder(nc) is None
    else:
        assert rebuilt.returncode == 1, output(rebuilt)
        assert "another rebuild is running (process 4242 on elsewhere" in said(rebuilt.stdout), output(rebuilt)
        assert await _pointer(nc) is None and await _holder(nc) == lock


NOW_MS = int(time.time() * 1000)


@pytest.mark.parametrize(
    "value",
    [
        b"held by hand",
        b'{"host":"elsewhere","pid":7,"since_ms":100000000000000000000,"beat_ms":%d}' % NOW_MS,  # no instant
        b'{"host":"%s","pid":0,"since_ms":%d,"beat_ms":%d}' % (socket.gethostname().encode(), NOW_MS, NOW_MS),
        b'{"host":"elsewhere","pid":7,"since_ms":%d,"beat_ms":32503680000000}' % NOW_MS,  # renewed in 3000
    ],
    ids=["text", "an instant past any clock", "process 0 of this host", "renewed in the year 3000"],
)
async def test_a_lock_that_no_rebuild_wrote_is_taken_over(nats_url: str, nc: Client, value: bytes) -> None:
    """Whatever the key holds that no live rebuild could have written (an operator's put, a corrupt value, a clock
    gone wrong) is taken over, not waited for forever nor a traceback."""
    await _long_race(nc, cars=4, hours=1)
    await (await nc.jetstream().key_value(READ_MODELS_BUCKET)).put(KEY, value)
    rebuilt = chequered("rebuild", "classification", "--nats", nats_url)
    assert rebuilt.returncode == 0, output(rebuilt)
    assert await _holder(nc) is None


async def test_a_rebuild_whose_lock_was_taken_over_may_not_switch(nc: Client) -> None:
    """A rebuild that stalled past ``STALE_S`` and lost its lock to another finds out at its next renewal, and
    ``check`` (asked before the pointer moves) refuses; it leaves the other's lock in place."""
    js = nc.jetstream()
    await ensure_topology(js)
    async with held(js, CLASSIFICATION_PROJECTION) as lock:
        lock.check()
        now = int(time.time() * 1000)
        other = Holder("elsewhere", 4242, now, now)
        await (await js.key_value(READ_MODELS_BUCKET)).put(KEY, msgspec.json.encode(other))  # the take-over
        await asyncio.sleep(BEAT_S * 1.5)  # its next renewal finds another revision
        with pytest.raises(NotLocked, match="another rebuild took over"):
            lock.check()
    assert await _holder(nc) == other
