"""Race control from the command line, and the recorder, against a real nats-server."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest
from nats.aio.client import Client

from schemas.events import PenaltyKind
from services.broker.connection import connect
from services.cli import main
from services.ingest.client import Producer
from services.ingest.racecontrol import parse_duration_ms, penalty
from services.ingest.service import IngestService
from services.ops.log import read_events
from services.ops.racelog import read_log
from tests.factory import T0, SessionWriter, small_race

T = TypeVar("T")


def run_ingest(nats_url: str, coroutine_factory: Callable[[Client], Awaitable[T]]) -> T:
    async def go() -> T:
        ingest = IngestService(nats_url)
        await ingest.start()
        nc = await connect(nats_url, "t")
        try:
            return await coroutine_factory(nc)
        finally:
            await nc.close()
            await ingest.stop()

    return asyncio.run(go())


@pytest.mark.parametrize(("text", "ms"), [("5s", 5000), ("30", 30_000), ("1:05.250", 65_250), ("250ms", 250)])
def test_durations(text: str, ms: int) -> None:
    assert parse_duration_ms(text) == ms


def test_penalty_amounts_go_where_the_kind_says() -> None:
    assert penalty("7", "D1", "time", "5s", "").time_ms == 5000
    assert penalty("7", "D2", "lap_deduction", "2", "").laps == 2
    assert penalty("7", "D3", "position_drop", "3", "").positions == 3
    assert penalty("7", "D4", "disqualification", None, "").kind is PenaltyKind.DISQUALIFICATION


def test_publish_is_idempotent_and_rejections_are_explained(nats_url: str, tmp_path: Path) -> None:
    w = SessionWriter()

    def start_session(nc):  # type: ignore[no-untyped-def]
        return Producer(nc).send_all(small_race(w, cars=2, laps=2))

    run_ingest(nats_url, start_session)
    key = w.session.key
    ingest_running = ["--nats", nats_url]

    def publish(*args: str) -> int:
        async def go(nc):  # type: ignore[no-untyped-def]
            return await asyncio.to_thread(main, ["publish", key, *ingest_running, *args])

        return int(run_ingest(nats_url, go))

    issued = ("penalty", "1", "D7", "time", "5s", "--reason", "unsafe release")
    assert publish("--at", str(T0 + 500_000), *issued) == 0
    assert publish("--at", str(T0 + 500_000), *issued) == 0  # the same command again: a duplicate
    assert publish("--at", str(T0 + 900_000), *issued) == 1  # D7 again, another instant: a conflict, not stored
    assert publish("--at", "1776603700000", "flag", "safety_car") == 0
    assert publish("--at", str(T0 + 600_000), "retire", "99") == 1  # no such car: rejected, with the reason
    stored = run_ingest(nats_url, lambda nc: read_events(nc.jetstream(), key))
    penalties = [e for _, e in stored if e.producer == "race-control" and type(e.body).__name__ == "PenaltyIssued"]
    assert len(penalties) == 1 and penalties[0].id == "penaltyissued-D7"

    out = tmp_path / "race.jsonl.gz"
    assert main(["record", key, "--out", str(out), "--nats", nats_url]) == 0
    assert [e.id for e in read_log(out)] == [e.id for _, e in stored]
