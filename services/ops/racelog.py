"""Race-log files: JSON lines of events, optionally gzip-compressed (``.gz``).

What the simulator writes, ``chequered record`` saves, and replay and the
offline folds read. Compressed logs are written with a zero mtime so the same
events always give the same bytes.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, cast

from schemas.events import Event, decode_event, encode_event


@contextmanager
def open_log(path: Path, mode: str) -> Iterator[IO[bytes]]:
    """Open a log for reading (``"r"``) or writing (``"w"``); ``.gz`` logs are gzip-compressed with no
    name or time in the header, so the same events give the same bytes under any file name."""
    if path.suffix != ".gz":
        with path.open(mode + "b") as plain:
            yield plain
    elif "w" in mode:
        with path.open("wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as packed:
            yield cast(IO[bytes], packed)
    else:
        with gzip.open(path, "rb") as packed:
            yield cast(IO[bytes], packed)


def write_log(events: Iterable[Event], path: Path) -> int:
    count = 0
    with open_log(path, "w") as out:
        for event in events:
            out.write(encode_event(event) + b"\n")
            count += 1
    return count


def read_log(path: Path) -> Iterator[Event]:
    """Events of a log file; a bad line raises ``ValueError`` naming the file and line."""
    with open_log(path, "r") as source:
        for number, line in enumerate(source, start=1):
            if line.strip():
                try:
                    yield decode_event(line)
                except ValueError as error:
                    raise ValueError(f"{path}:{number}: {error}") from None
