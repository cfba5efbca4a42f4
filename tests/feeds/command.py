"""``chequered serve`` and ``chequered feed`` as a user runs them: the installed executable, in child processes,
against a real nats-server; the results read back over the gateway's REST API."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from nats.aio.client import Client

from schemas.results import Classification, decode_classification
from services.broker.embedded import free_port
from services.broker.reader import read_events
from tests.polling import until, wait_until
from tests.reliability.processes import CHEQUERED

TOKEN = "feed-command-test"
DEADLINE_S = 90.0


@dataclass(frozen=True)
class Served:
    """A running ``chequered serve all``: where its gateway answers."""

    nats_url: str
    gateway: str
    log: Path

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"{self.gateway}{path}", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)

    async def classification(self, nc: Client, key: str) -> Classification:
        """The session's classification over REST, once it has folded every event the stream holds for it."""
        stored = await read_events(nc.jetstream(), key)
        assert stored, f"nothing stored for {key}"
        last = stored[-1][0]
        seen: list[Classification] = []

        def folded() -> bool:
            answer = self.get(f"/api/sessions/{key}/classification")
            if answer.status_code == 200:
                seen[:] = [decode_classification(answer.content)]
            return bool(seen) and seen[0].last_seq >= last

        said = lambda: f"{key} classified up to seq {last} (last seen {seen and seen[0].last_seq})"  # noqa: E731
        await until(folded, said, DEADLINE_S)
        return seen[0]


@contextmanager
def served(nats_url: str, directory: Path) -> Iterator[Served]:
    """``chequered serve all`` until the block ends; ready once its ``/readyz`` says so."""
    gateway, ops = free_port(), free_port()
    log = directory / "serve.log"
    command = [str(CHEQUERED), "serve", "all", "--nats", nats_url, "--gateway-port", str(gateway)]
    command += ["--token", TOKEN, "--ops-port", str(ops)]
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=directory, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: _ready(ops) or process.poll() is not None, lambda: f"serve: {log.read_text()}", DEADLINE_S)
        assert process.poll() is None, f"chequered serve exited: {log.read_text()}"
        yield Served(nats_url, f"http://127.0.0.1:{gateway}", log)
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def chequered(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The installed ``chequered`` with ``argv``, run to its end (80 columns, as in a terminal)."""
    return subprocess.run(
        [str(CHEQUERED), *argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=DEADLINE_S,
        env={**os.environ, "COLUMNS": "80"},
    )
