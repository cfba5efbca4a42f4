"""A fold in a process of its own, fed the log's messages as this one reads them: a rebuild on two cores.

One session's events are folded in order, so a rebuild of one session (or of
a log whose sessions share a partition) cannot be split by partitions. What
can be split is the work of an event: reading it (the bulk reader, about 3 µs)
and decoding and folding it (about 8 µs). This process reads and sends each
batch on as it arrives, raw, while the fold process decodes and folds the one
before; at the end it encodes every session's value and sends them back, and
this process writes them (it holds the broker connection).

The fold process is forked, not spawned: it needs no module this one has not
imported, so it folds within milliseconds (a spawned interpreter takes a few
hundred to import them, as long as folding a 24-hour race takes). It never
touches the broker connection or the event loop it inherits: it runs plain
code over its pipe and ends with ``os._exit`` (multiprocessing's own).

A batch is sent by a thread, one at a time, while the event loop reads the
next: the thread is woken as soon as the pipe drains. Written by the event
loop instead, the pipe waited for the loop's next turn, and the fold process
waited twice as long for its batches (0.07-0.10 s against 0.035-0.045 s of
a 24-hour race's 0.55 s).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import signal
from collections.abc import Iterable, Iterator
from multiprocessing.connection import Connection
from types import TracebackType

import msgspec

from services.broker.bulkread import StoredMsg
from services.broker.reader import decoded
from services.classification.fold import ClassificationProjection


class FoldFailed(RuntimeError):
    """The fold process stopped before it sent its values back (the reason says why)."""


class Folded(msgspec.Struct, frozen=True):
    """What the fold process sends back: the events it folded, the sessions, each open session's value; or why
    it stopped."""

    events: int = 0
    sessions: int = 0
    values: list[tuple[str, bytes]] = []
    failed: str | None = None


_END = b""
"""The frame after the last batch."""

_batches = msgspec.msgpack.Encoder()
_batch = msgspec.msgpack.Decoder(list[StoredMsg])
_folded = msgspec.msgpack.Decoder(Folded)


def available() -> bool:
    """Whether this platform can fork (Linux and the BSDs; not Windows)."""
    return "fork" in multiprocessing.get_all_start_methods()


def fold_messages(fold: ClassificationProjection, batch: Iterable[StoredMsg]) -> int:
    """Fold a batch of the log's messages into ``fold``; the events among them (the rest are left out as every
    reader leaves them out: :func:`~services.broker.reader.decoded`)."""
    events = 0
    for stored, event in decoded(batch):
        fold.apply(stored.seq, event)
        events += 1
    return events


def values(fold: ClassificationProjection) -> Iterator[tuple[str, bytes]]:
    """Every open session's value, in key order, each encoded when it is asked for (a log of many sessions is
    written as it is encoded, not held encoded whole)."""
    return ((key, state.encoded()) for key, state in sorted(fold.sessions.items()) if state.opened is not None)


class FoldProcess:
    """``async with FoldProcess() as folding``: ``await folding.send(batch)`` for every batch read, in order, then
    ``await folding.result()``. Leaving the block stops the process if it is still running (a failure, Ctrl-C)."""

    def __init__(self) -> None:
        self._ours, self._theirs = multiprocessing.Pipe()
        self._process = multiprocessing.get_context("fork").Process(
            target=_fold, args=(self._theirs, self._ours), name="rebuild-fold", daemon=True
        )
        self._sending: asyncio.Future[None] | None = None

    async def __aenter__(self) -> FoldProcess:
        self._process.start()
        self._theirs.close()  # the fold process holds the last copy: its end is seen here when it ends
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._process.is_alive() and error is not None:
            self._process.terminate()
        if self._sending is not None:
            await asyncio.gather(self._sending, return_exceptions=True)
        await asyncio.to_thread(self._process.join, 5)
        self._ours.close()

    async def send(self, batch: list[StoredMsg]) -> None:
        """Hand ``batch`` on; returns once the one before has been sent, so this process reads one batch ahead."""
        frame = _batches.encode(batch)
        await self._sent()
        self._sending = asyncio.ensure_future(asyncio.to_thread(self._ours.send_bytes, frame))

    async def result(self) -> Folded:
        """The fold of every batch sent; raises :class:`FoldFailed` with the reason if the process stopped."""
        await self._sent()
        try:
            self._ours.send_bytes(_END)
            folded = _folded.decode(await asyncio.to_thread(self._ours.recv_bytes))
        except (OSError, EOFError):
            raise FoldFailed(await self._ended()) from None
        if folded.failed is not None:
            raise FoldFailed(folded.failed)
        return folded

    async def _sent(self) -> None:
        if self._sending is None:
            return
        sending, self._sending = self._sending, None
        try:
            await sending
        except OSError:  # it stopped taking batches: it said why, or it was killed
            raise FoldFailed(await self._ended()) from None

    async def _ended(self) -> str:
        """Why the fold process stopped: what it sent before it did, else how it ended."""
        await asyncio.to_thread(self._process.join, 1)
        try:
            if self._ours.poll():
                return _folded.decode(self._ours.recv_bytes()).failed or "the fold process stopped early"
        except (OSError, EOFError, msgspec.MsgspecError):
            pass
        return f"the fold process ended before it had folded the log (exit code {self._process.exitcode})"


def _fold(conn: Connection, parents: Connection) -> None:
    """The fold process: batches from ``conn`` until the end frame, then the values back."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the parent, which stops this process
    signal.set_wakeup_fd(-1)  # the parent's event loop's: a signal here must not wake it
    parents.close()
    fold, events = ClassificationProjection(), 0
    try:
        while (frame := conn.recv_bytes()) != _END:
            events += fold_messages(fold, _batch.decode(frame))
        folded = Folded(events, len(fold.sessions), list(values(fold)))
    except EOFError:  # the parent is gone
        return
    except Exception as error:  # the parent says why and switches nothing
        folded = Folded(failed=f"the fold failed: {error!r}")
    conn.send_bytes(msgspec.msgpack.encode(folded))
