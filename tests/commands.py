"""The installed ``chequered``, run as a user runs it: a subprocess, its output read back.

- :func:`chequered` runs one command to its end (with ``--home`` when given, so a test never touches the
  project's own ``.chequered``), in a terminal ``COLUMNS`` wide (80 unless told);
- :func:`in_terminal` runs one to its end in a pseudo-terminal, as a user at a terminal sees it;
- :func:`spawn` starts one and leaves it running, its lines collected by an :class:`Output`;
- :class:`Served` is ``chequered serve all`` with a home of its own on free ports (its own embedded broker,
  or the one given), started, waited for until ``/readyz`` says every service is ready, stopped with Ctrl-C.

No command inherits ``NATS_URL``: a test says which broker a command uses (``--nats``, or the one ``serve``
announced in its home).
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import subprocess
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import msgspec

from services.broker.embedded import free_port
from services.home import ADDRESS_FILE, Serving
from tests.polling import until, wait_until
from tests.reliability.processes import CHEQUERED

TOKEN = "test-token"
READY_S = 90.0
READY_LINE = re.compile(r"^(\w+): (ready|not ready) \(pid (\d+)(?:, restarts (\d+))?")


def environment(**extra: str) -> dict[str, str]:
    """The environment a command runs in: the test's, without a broker or tokens of its own choosing."""
    env = {k: v for k, v in os.environ.items() if k not in ("NATS_URL", "CHEQUERED_GATEWAY_TOKENS")}
    return {**env, **extra}


def chequered(
    *args: str | Path, home: Path | None = None, columns: int = 80, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``chequered ARGS [--home HOME]`` to its end; stdout and stderr kept apart, as text."""
    where = ["--home", str(home)] if home is not None else []
    return subprocess.run(
        [str(CHEQUERED), *map(str, args), *where],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=environment(COLUMNS=str(columns)),
        stdin=subprocess.DEVNULL,
        check=False,
    )


ANSI = re.compile(r"\x1b\[[0-9;]*m")
"""A terminal's colour codes."""


def in_terminal(*args: str, columns: int = 80, timeout: float = 60) -> tuple[int, str]:
    """``chequered ARGS`` to its end in a pseudo-terminal ``columns`` wide: its exit code, and what the terminal
    was sent (both streams, without colours)."""
    parent, child = pty.openpty()
    env = environment(COLUMNS=str(columns), LINES="40")
    process = subprocess.Popen([str(CHEQUERED), *args], stdin=child, stdout=child, stderr=child, env=env)
    os.close(child)
    shown = b""
    try:
        while select.select([parent], [], [], timeout)[0]:
            try:
                data = os.read(parent, 65536)
            except OSError:  # the command ended: its side of the terminal is closed
                break
            if not data:
                break
            shown += data
        return process.wait(timeout), ANSI.sub("", shown.decode())
    finally:
        process.kill()
        os.close(parent)


def said(text: str) -> str:
    """Output as one line of words: the terminal's width wraps long messages."""
    return " ".join(text.split())


def output(result: subprocess.CompletedProcess[str]) -> str:
    """Both streams, for an assertion's message."""
    return f"exit {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"


def spawn(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """``chequered ARGS`` started, not waited for; stdout and stderr together, as text lines; ``env``: more
    environment (``TTY_COMPATIBLE=1``, ``TTY_INTERACTIVE=1``: a live display draws on the pipe as on a terminal)."""
    return subprocess.Popen(
        [str(CHEQUERED), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        env=environment(**(env or {})),
    )


def http_get(url: str, timeout: float = 2.0, token: str | None = None) -> tuple[int, str]:
    """Status and body of a GET (with a bearer token when given); status 0 when nothing answers."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as error:
        return int(error.code), error.read().decode()
    except OSError:
        return 0, ""


async def answered(url: str, check: Callable[[int, str], bool], timeout: float = 30.0) -> str:
    """GET ``url`` until its status and body pass ``check``; return that body (fail saying the last answer)."""
    last = (0, "")

    def passed() -> bool:
        nonlocal last
        last = http_get(url)
        return check(*last)

    await until(passed, lambda: f"{url} to pass the check; last: {last[0]} {last[1][:200]}", timeout)
    return last[1]


def running(pid: int) -> bool:
    """The process exists and has not ended (a zombie waiting for its parent has)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


class Output:
    """Every line a process writes (stdout and stderr together), collected as it comes by a thread."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.append(line.rstrip("\n"))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, text: str, timeout: float = 60.0) -> str:
        """The first line containing ``text``, once written."""
        found: list[str] = []

        def seen() -> bool:
            found[:] = [line for line in list(self.lines) if text in line][:1]
            return bool(found)

        wait_until(seen, lambda: f"a line with {text!r}; so far:\n{self.text}", timeout)
        return found[0]

    def close(self) -> None:
        self._thread.join(timeout=10)


class Served:
    """``chequered serve all`` with its own ``home`` on free ports, as a context manager: its own embedded
    broker, or ``nats`` (``--nats``); ``extra``: more of its options."""

    def __init__(self, home: Path, *extra: str, nats: str | None = None) -> None:
        self.home = home
        self.extra = extra
        self.external = nats
        self.gateway_port, self.ops_port = free_port(), free_port()
        self.gateway = f"http://127.0.0.1:{self.gateway_port}"
        self.ops = f"http://127.0.0.1:{self.ops_port}"
        self.process: subprocess.Popen[str] | None = None
        self.output: Output | None = None

    def start(self, timeout: float = READY_S) -> Served:
        """Start it and wait until its ``/readyz`` says every service is ready."""
        broker = ["--nats", self.external] if self.external else []
        ports = ["--gateway-port", str(self.gateway_port), "--ops-port", str(self.ops_port)]
        self.process = self.spawn(self.home, *broker, *ports, *self.extra)
        assert self.process.stdout is not None
        self.output = Output(self.process.stdout)
        try:
            wait_until(lambda: self.ready()[0] == 200, lambda: f"serve all to be ready; it said:\n{self.text}", timeout)
        except BaseException:
            self.stop(signal.SIGTERM)
            raise
        return self

    @staticmethod
    def spawn(home: Path, *extra: str) -> subprocess.Popen[str]:
        """``chequered serve all`` on free ports, not waited for (a test of how it fails starts it so)."""
        return spawn(
            "serve", "all", "--home", str(home), "--port", "0", "--gateway-port", "0", "--token", TOKEN, *extra
        )

    @staticmethod
    def refused(home: Path, *extra: str, timeout: float = 60.0) -> tuple[int, str]:
        """``chequered serve all`` expected to refuse at once: its exit code and output (killed, and the test
        failed, if it starts serving instead)."""
        process = Served.spawn(home, *extra)
        try:
            out, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.terminate()
            out, _ = process.communicate(timeout=30)
            raise AssertionError(f"serve all did not refuse; it said:\n{out}") from None
        return process.returncode, out

    @property
    def text(self) -> str:
        return self.output.text if self.output is not None else ""

    @property
    def serving(self) -> Serving:
        """Where it serves, as it announced in its home (its own broker only)."""
        return msgspec.json.decode((self.home / ADDRESS_FILE).read_bytes(), type=Serving)

    @property
    def url(self) -> str:
        """The broker's URL."""
        return self.external or self.serving.nats

    def ready(self) -> tuple[int, str]:
        """``/readyz``: status and body (status 0 before it answers)."""
        return http_get(f"{self.ops}/readyz")

    def parts(self) -> dict[str, tuple[bool, int, int]]:
        """What ``/readyz`` says of each part (the broker, each service): ready, its pid, its restarts."""
        found = (READY_LINE.match(line) for line in self.ready()[1].splitlines())
        return {m[1]: (m[2] == "ready", int(m[3]), int(m[4] or 0)) for m in found if m}

    def get(self, path: str) -> Any:
        """A gateway REST path, with the token, as decoded JSON (``urllib.error.HTTPError`` for a 404)."""
        request = urllib.request.Request(f"{self.gateway}{path}", headers={"Authorization": f"Bearer {TOKEN}"})
        with urllib.request.urlopen(request, timeout=10) as reply:
            return json.loads(reply.read())

    def stop(self, sig: signal.Signals = signal.SIGINT, timeout: float = 30.0) -> int:
        """Send ``sig`` (Ctrl-C by default) and wait for the exit code."""
        assert self.process is not None and self.output is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise
        finally:
            self.output.close()
        return code

    def __enter__(self) -> Served:
        return self.start()

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        if self.process is not None and self.process.poll() is None:
            self.stop()
