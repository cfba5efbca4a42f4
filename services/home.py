"""The ``--home`` folder: which process runs the broker on its store, and where it listens.

One process at a time runs an embedded broker for a home: it holds an exclusive lock on ``<home>/serve.lock``
(the kernel releases it when the process ends, however it ends) and writes where it listens to
``<home>/serve.json``. Every other command finds the broker there and uses it instead of starting a second
nats-server on the same store; a second ``chequered serve`` refuses. Two embedded brokers never share a store.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import msgspec

LOCK_FILE = "serve.lock"
ADDRESS_FILE = "serve.json"


class Serving(msgspec.Struct, kw_only=True):
    """What ``serve.json`` holds: who serves from this home, and where."""

    pid: int
    command: str
    """The command that holds the home, e.g. ``serve all``."""
    nats: str
    gateway: str = ""
    ops: str = ""


class HomeInUse(RuntimeError):
    """The home's store is in use by another process; the message says by whom and what to do."""


class HomeLock:
    """The lock on one home; :meth:`claim` takes it for this process, :meth:`holder` says who has it."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self._fd: int | None = None

    def claim(self) -> bool:
        """Take the lock (True), or False when another process holds it."""
        self.home.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.home / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        (self.home / ADDRESS_FILE).unlink(missing_ok=True)  # left by a holder that was killed
        self._fd = fd
        return True

    def announce(self, serving: Serving) -> None:
        """Say where this process serves (it holds the lock); written whole, so a reader never sees half."""
        assert self._fd is not None, "announce after claim"
        partial = self.home / f"{ADDRESS_FILE}.{os.getpid()}"
        partial.write_bytes(msgspec.json.encode(serving))
        partial.replace(self.home / ADDRESS_FILE)

    def release(self) -> None:
        if self._fd is None:
            return
        (self.home / ADDRESS_FILE).unlink(missing_ok=True)
        os.close(self._fd)  # releases the lock
        self._fd = None

    def announced(self) -> Serving | None:
        """Where the process holding the lock serves, once it has said so (None before, or with no holder)."""
        serving = _read_serving(self.home / ADDRESS_FILE)
        return serving if serving is not None and serving.pid == self.holder_pid() else None

    def holder_pid(self) -> int:
        """The process that holds (or last held) the lock; 0 when unknown."""
        try:
            return int((self.home / LOCK_FILE).read_text().strip() or 0)
        except (OSError, ValueError):
            return 0


def _read_serving(path: Path) -> Serving | None:
    try:
        return msgspec.json.decode(path.read_bytes(), type=Serving)
    except (OSError, msgspec.DecodeError):
        return None
