"""Services as real child processes, for tests that kill them."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

ROOT = Path(__file__).resolve().parents[2]


class ServiceProcess:
    """``chequered serve ROLE --nats URL`` in a child process."""

    def __init__(self, role: str, nats_url: str, log_dir: Path, *extra: str) -> None:
        self.role = role
        self.extra = extra
        self.nats_url = nats_url
        self.log_path = log_dir / f"{role}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> ServiceProcess:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "services.cli", "serve", self.role, "--nats", self.nats_url, *self.extra],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def kill(self) -> None:
        """kill -9: no clean-up, no flush, no goodbye."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> ServiceProcess:
        return self.start()

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


CHEQUERED = Path(sys.executable).parent / "chequered"
"""The installed command, as a user runs it."""


@dataclass
class Finished:
    returncode: int
    stdout: str
    stderr: str


async def run_chequered(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> Finished:
    """``chequered ARGS`` to completion, output captured (a wide console, so rich does not fold the lines); the
    event loop goes on meanwhile, so services of the test's own process keep answering it."""
    environment = {**os.environ, "COLUMNS": "400", **(env or {})}
    process = await asyncio.create_subprocess_exec(
        str(CHEQUERED), *args, cwd=ROOT, env=environment, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return Finished(process.returncode, out.decode(), err.decode())
