"""uvicorn inside a chequered process: the process owns SIGINT and SIGTERM, not the server.

uvicorn's own ``Server`` replaces the process's signal handlers while it serves and raises the signals it
caught again when it stops: beside a service (the ops port) or in ``serve all``, that stole Ctrl-C from the
code that stops everything in order, and delivered it twice.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import uvicorn


class EmbeddedServer(uvicorn.Server):
    """uvicorn without its signal handlers: it stops when its owner sets ``should_exit``."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield
