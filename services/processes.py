"""Child processes never outlive chequered: a nats-server or a service left running after its parent was killed
would hold the store and the ports, and the next ``chequered serve`` would start a second broker beside it."""

from __future__ import annotations

import ctypes
import ctypes.util
import signal
import sys
from collections.abc import Callable

_PR_SET_PDEATHSIG = 1


def orphan_guard() -> Callable[[], None] | None:
    """A ``preexec_fn`` asking Linux to send the child SIGTERM when the thread that started it ends (the
    parent killed with SIGKILL included); None elsewhere, where a child may outlive a killed parent."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True).prctl  # looked up before the fork

    def guard() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)

    return guard
