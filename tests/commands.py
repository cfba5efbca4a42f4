"""The installed ``chequered`` as a user runs it: a command in a subprocess, and ``chequered serve all`` on free
ports with a home of its own, ready once its ``/readyz`` says so.

Every command runs with ``COLUMNS`` set (80 unless told), as in a terminal of that width.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

from services.broker.embedded import free_port
from tests.reliability.processes import CHEQUERED

TOKEN = "test-token"
READY_S = 60.0


def chequered(*args: str | Path, columns: int = 80, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``chequered ARGS`` to the end; stdout and stderr captured as text."""
    env = {**os.environ, "COLUMNS": str(columns)}
    return subprocess.run(
        [str(CHEQUERED), *map(str, args)], capture_output=True, text=True, timeout=timeout, env=env, check=False
    )


def said(text: str) -> str:
    """Output as one line of words: the terminal's width wraps long messages."""
    return " ".join(text.split())


def output(result: subprocess.CompletedProcess[str]) -> str:
    """Both streams, for an assertion's message."""
    return f"exit {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"


class Serve:
    """``chequered serve all --home HOME`` (its own embedded broker, or ``$NATS_URL``) on free ports."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.nats_port, self.gateway_port, self.ops_port = free_port(), free_port(), free_port()
        external = os.environ.get("NATS_URL")
        self.url = external or f"nats://127.0.0.1:{self.nats_port}"
        self.gateway = f"http://127.0.0.1:{self.gateway_port}"
        self.log = home / "serve.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Serve:
        self.home.mkdir(parents=True, exist_ok=True)
        broker = ["--nats", self.url] if os.environ.get("NATS_URL") else ["--port", str(self.nats_port)]
        argv = [str(CHEQUERED), "serve", "all", "--home", str(self.home), *broker]
        argv += ["--gateway-port", str(self.gateway_port), "--ops-port", str(self.ops_port), "--token", TOKEN]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_S
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"serve all exited with {self.process.returncode}:\n{self.log.read_text()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.ops_port}/readyz", timeout=2) as reply:
                    if reply.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        raise AssertionError(f"serve all not ready after {READY_S:.0f}s:\n{self.log.read_text()}")

    def get(self, path: str) -> Any:
        """A gateway REST path, with the token, as decoded JSON."""
        request = urllib.request.Request(f"{self.gateway}{path}", headers={"Authorization": f"Bearer {TOKEN}"})
        with urllib.request.urlopen(request, timeout=10) as reply:
            return json.loads(reply.read())

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> Serve:
        return self.start()

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
