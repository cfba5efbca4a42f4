"""Two ingest instances, one answering and one standing by: the answering one is killed mid-race.

The standby takes the lease when it expires, reads the ledger from the log and
answers; the producer, retrying with the same ids meanwhile, finishes the race.
Every event is stored once, in order, and the classification equals the
uninterrupted fold.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from services.broker.embedded import EmbeddedNats
from tests.reliability.processes import ServiceProcess
from tests.reliability.test_crash import final_state, season, send_in_chunks, uninterrupted

pytestmark = pytest.mark.slow


async def test_the_standby_ingest_takes_over_when_the_active_one_is_killed(tmp_path: Path) -> None:
    events = season()
    with (
        EmbeddedNats(tmp_path / "nats") as server,
        ServiceProcess("classification", server.url, tmp_path),
        ServiceProcess("standings", server.url, tmp_path),
    ):
        first = ServiceProcess("ingest", server.url, tmp_path, "--instance", "a").start()
        standby = ServiceProcess("ingest", server.url, tmp_path, "--instance", "b")

        async def between(i: int) -> None:
            if i == 0:  # "a" answered the first part: it holds the lease; "b" joins and stands by
                standby.start()
                for _ in range(300):
                    if "b waits for ingest.lease" in (tmp_path / "ingest.log").read_text():
                        break
                    await asyncio.sleep(0.05)
                else:
                    raise AssertionError("the standby never started waiting for the lease")
            if i == 1:
                assert "ingest b is answering" not in (tmp_path / "ingest.log").read_text(), "one answers at a time"
                first.kill()

        try:
            await send_in_chunks(server.url, events, 4, between)
            served, ids = await final_state(server.url, events)
        finally:
            first.stop()
            standby.stop()
    assert ids == [e.id for e in events]
    assert served == uninterrupted(events)
    log = (tmp_path / "ingest.log").read_text()
    assert "ingest b is answering" in log, "the standby answered after the kill"
