"""``chequered record``: a session's events from the stream into a race-log file."""

from __future__ import annotations

import asyncio
import logging
import secrets
from pathlib import Path
from typing import IO

from nats.errors import Error as NatsError
from nats.js import JetStreamContext

from schemas.events import SessionRef
from schemas.subjects import session_filters
from services.broker.bulkread import StoredMsg, StreamTail, read_to_head
from services.broker.reader import decoded
from services.ops.racelog import open_log

FOLLOW_POLL_S = 0.5

log = logging.getLogger("chequered.record")


async def record(js: JetStreamContext, session: SessionRef, path: Path, *, follow: asyncio.Event | None = None) -> int:
    """Write the session's events to ``path``; with ``follow``, keep writing new ones until it is set (then what
    the stream holds at that moment: a Ctrl-C right after an event leaves none out), through a broker away for a
    while.

    Without ``follow`` the log is written beside ``path`` and put in its place once whole, and a session the
    stream holds no event of is refused (``LookupError``) with ``path`` untouched: a key mistyped once replaced a
    recorded log with an empty one."""
    _check_writable(path)
    if follow is not None:
        with open_log(path, "w") as out:
            count, last = await _written_to_head(js, session, out)
            while not follow.is_set():
                try:
                    async with StreamTail(js, session_filters(session.key), start_seq=last + 1) as tail:
                        while not follow.is_set():
                            if batch := await tail.next_batch(timeout=FOLLOW_POLL_S):
                                count, last = count + _write(out, batch), batch[-1].seq
                except NatsError as error:  # the broker away for a while: follow on once it is back
                    log.warning("recording %s: the log could not be read (%r); reading on", session.key, error)
                    await asyncio.sleep(FOLLOW_POLL_S)
            more, _ = await _written_to_head(js, session, out, after=last)  # all it holds at the Ctrl-C
        return count + more
    partial = _partial(path)
    try:
        with open_log(partial, "w") as out:
            count, _ = await _written_to_head(js, session, out)
        if not count:
            key = session.key
            raise LookupError(f"the stream holds no event of session {key}: check its key ({path} is untouched)")
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    return count


def _partial(path: Path) -> Path:
    """A file beside ``path`` to write its log in, of this command's own (two recording to the same file at once
    would otherwise write one partial file together), ending as ``path`` does (``.gz`` is compressed alike)."""
    return path.with_name(f".partial-{secrets.token_hex(6)}-{path.name}")


def _check_writable(path: Path) -> None:
    """A path that is a directory, or in no directory, refused before the log is read (and by its own name: writing
    would fail on the partial file beside it)."""
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a directory: give the file to write the log to (race.jsonl.gz)")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"no directory {path.parent} to write {path.name} in")


async def _written_to_head(
    js: JetStreamContext, session: SessionRef, out: IO[bytes], *, after: int = 0
) -> tuple[int, int]:
    """The session's events stored so far (after sequence ``after``), written to ``out``: how many, and the
    sequence of the last read."""
    count, last = 0, after
    async for batch in read_to_head(js, session_filters(session.key), start_seq=after + 1):
        count += _write(out, batch)
        last = batch[-1].seq
    return count, last


def _write(out: IO[bytes], batch: list[StoredMsg]) -> int:
    """Only messages that are events go into a log (a poison message stays in the dead letters)."""
    written = 0
    for stored, _ in decoded(batch):
        out.write(stored.data + b"\n")
        written += 1
    return written
