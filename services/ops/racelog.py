"""Race-log files: JSON lines of events, optionally gzip-compressed (``.gz``).

What the simulator writes, ``chequered record`` saves, and replay and the
offline folds read. Compressed logs are written with a zero mtime so the same
events always give the same bytes.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from schemas.events import Event, decode_event, encode_event


def _open(path: Path, mode: str) -> IO[bytes] | gzip.GzipFile:
    if path.suffix == ".gz":
        if "w" in mode:
            return gzip.GzipFile(filename=path, mode="wb", mtime=0)
        return gzip.open(path, "rb")
    return path.open(mode + "b")


def write_log(events: Iterable[Event], path: Path) -> int:
    count = 0
    with _open(path, "w") as out:
        for event in events:
            out.write(encode_event(event) + b"\n")
            count += 1
    return count


def read_log(path: Path) -> Iterator[Event]:
    """Events of a log file; a bad line raises ``ValueError`` naming the file and line."""
    with _open(path, "r") as source:
        for number, line in enumerate(source, start=1):
            if line.strip():
                try:
                    yield decode_event(line)
                except ValueError as error:
                    raise ValueError(f"{path}:{number}: {error}") from None
