"""``chequered rebuild classification``: a fresh set of read models from the log, switched to atomically.

The log is read with the bulk reader and folded with the same pure fold as
the live projector, into a new versioned bucket
(``chequered_classification_v2``, then ``_v3``, then ``_v2`` again: the one
readers do not use is replaced, so the operations role may write these two
buckets and no other read model). Once it has caught up with the head of the
stream, the pointer in ``chequered_read_models`` moves to it in one KV write:
readers and the live projector follow the pointer, and the live projector
writes into the new bucket everything it folded since, so no update is lost at
the switch. With ``--session`` only that session is refolded; the
other sessions' values are carried over.

A log of many sessions is folded by several processes at once (``--workers``,
one per core by default): each reads, folds and writes the sessions of its
share of the log's partitions (:func:`~services.broker.partition.balance`, by
the events each holds), as projector replicas read theirs, and the pointer
moves once every share is written. Should one fail, none is switched to.

One session (``--session``, or a log too short for two workers, or all in one
partition) is shared the other way: this process reads it and a forked
:class:`~services.ops.fold_process.FoldProcess` decodes and folds each batch
as the next is read.

One rebuild runs at a time (:mod:`services.ops.rebuild_lock`): a second is
refused, told whose is running.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import multiprocessing
import os
import queue
import signal
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from multiprocessing.queues import Queue
from typing import NamedTuple

from nats.errors import Error as NatsError
from nats.errors import MaxPayloadError
from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from schemas.events import SessionRef
from schemas.subjects import (
    CLASSIFICATION_BUCKET,
    CLASSIFICATION_PROJECTION,
    EVENTS_STREAM,
    PARTITIONS,
    READ_MODELS_BUCKET,
    UNPARTITIONED_FILTER,
    partition_filter,
    partition_of,
    session_filters,
    session_key_of,
)
from services.broker.bulkread import BulkReadError, read_to_head
from services.broker.connection import connect
from services.broker.partition import balance
from services.broker.reader import events_filter
from services.broker.topology import Topology, current_bucket
from services.classification.fold import ClassificationProjection
from services.heap import tune_collector
from services.ops import fold_process, rebuild_lock
from services.ops.fold_process import Folded, FoldFailed, FoldProcess
from services.ops.rebuild_lock import NotLocked, RebuildLock

PROJECTIONS = {CLASSIFICATION_PROJECTION: CLASSIFICATION_BUCKET}

EVENTS_PER_WORKER = 50_000
"""A worker process takes about half a second to start: a log this long per worker is what makes one worth it."""
BATCH_BESIDE = 2_000
"""Messages a batch handed to the fold process holds at most: the first is folded soon after reading begins, and
the last little after it ends."""


@dataclass
class RebuildReport:
    bucket: str
    events: int
    sessions: int
    seconds: float
    workers: int = 1


class RebuildFailed(RuntimeError):
    """The log could not be read or a value written: nothing was switched to (the reason says why)."""


def next_version(current: str, base: str) -> str:
    """``base`` -> ``base_v2`` -> ``base_v3`` -> ``base_v2`` ...: the rebuild bucket readers do not use now."""
    return f"{base}_v3" if current == f"{base}_v2" else f"{base}_v2"


async def rebuild(
    js: JetStreamContext,
    projection: str = CLASSIFICATION_PROJECTION,
    *,
    session: str | None = None,
    topology: Topology | None = None,
    console: Console | None = None,
    url: str | None = None,
    workers: int | None = 1,
) -> RebuildReport:
    """Rebuild ``projection`` (one ``session``, or all) into the bucket readers do not use, then switch to it, in
    ``workers`` processes (None: one per core). Worker processes fold the log's partitions (they connect to
    ``url``, the broker ``js`` is of; by default as many as the log is long enough for, :data:`EVENTS_PER_WORKER`
    each); with one share, this process reads and a fold process folds."""
    if projection not in PROJECTIONS:
        raise ValueError(f"unknown projection {projection!r}: choose from {', '.join(PROJECTIONS)}")
    if session is not None:
        session = SessionRef.parse(session).key  # a key, refused before anything is made: no pattern, no stray token
    try:
        async with rebuild_lock.held(js, projection) as lock:
            return await _rebuilt(js, projection, session, topology or Topology(), console, url, workers, lock)
    except NotLocked as error:
        raise RebuildFailed(str(error)) from None


async def _rebuilt(
    js: JetStreamContext,
    projection: str,
    session: str | None,
    topology: Topology,
    console: Console | None,
    url: str | None,
    workers: int | None,
    lock: RebuildLock,
) -> RebuildReport:
    base = PROJECTIONS[projection]
    if session is None:
        total = (await js.stream_info(EVENTS_STREAM)).state.messages
    else:
        total = sum([sum((await _counted(js, f)).values()) for f in session_filters(session)])
        if not total:  # a key mistyped: rebuilt, it would be nothing, and every other session carried over
            raise RebuildFailed(
                f"the log holds no event of session {session}: check its key (championship.event.session, as its "
                "events name it)"
            )
    old = await current_bucket(js, projection, base)
    new = next_version(old, base)
    with contextlib.suppress(NatsError):
        await js.delete_key_value(new)  # a rebuild that died before switching left it half-written
    kv = await js.create_key_value(topology.read_model_bucket(new))
    started = time.perf_counter()
    shares = [frozenset(range(PARTITIONS))]
    processes = workers or os.cpu_count() or 1
    spread = workers or min(processes, total // EVENTS_PER_WORKER)
    if session is None and url is not None and spread > 1:
        shares = balance(await _partition_weights(js), spread)
    beside = len(shares) == 1 and processes > 1 and fold_process.available()
    with _progress(f"rebuild → {new}", total, console) as advance:
        if len(shares) > 1:
            assert url is not None
            events, sessions = await _in_workers(url, new, shares, advance)
        else:
            filters = session_filters(session) if session is not None else [events_filter(None)]
            if beside:
                folded = await _folded_beside(js, filters, advance)
                events, sessions, values = folded.events, folded.sessions, iter(folded.values)
            else:
                fold, events = await _folded(js, filters, None, advance)
                sessions, values = len(fold.sessions), fold_process.values(fold)
            await _written(kv, new, values)
    if session is not None:
        await _carry_over(js, old, kv, keep=session)
    lock.check()  # still this rebuild's: no other has begun to fill the bucket since
    pointers = await js.key_value(READ_MODELS_BUCKET)
    await pointers.put(projection, new.encode())
    return RebuildReport(new, events, sessions, time.perf_counter() - started, 2 if beside else len(shares))


@contextlib.contextmanager
def _progress(title: str, total: int, console: Console | None) -> Iterator[Callable[[int], None]]:
    """A progress bar of events folded; yields what advances it."""
    progress = Progress(
        TextColumn(f"[bold]{title}"),
        BarColumn(bar_width=12),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]} ev/s"),
        TimeElapsedColumn(),
        console=console,
        disable=console is None,
    )
    started = time.perf_counter()
    done = 0
    with progress:
        task = progress.add_task("rebuild", total=total, rate="-")

        def advance(events: int) -> None:
            nonlocal done
            done += events
            rate = f"{done / max(time.perf_counter() - started, 1e-9):,.0f}"
            progress.update(task, completed=done, total=max(total, done), rate=rate)

        yield advance


async def _folded(
    js: JetStreamContext, filters: list[str], partitions: Collection[int] | None, advance: Callable[[int], None]
) -> tuple[ClassificationProjection, int]:
    """The log under ``filters`` folded to its head, only the sessions of ``partitions`` (None: all); and the
    events folded."""
    fold, events = ClassificationProjection(), 0
    reading = read_to_head(js, filters, max_size=20_000)
    try:
        async with contextlib.aclosing(reading):
            async for batch in reading:
                if partitions is not None:  # events stored before partitions are read by every worker: its own
                    batch = [stored for stored in batch if _partition(stored.subject) in partitions]
                count = fold_process.fold_messages(fold, batch)
                events += count
                advance(count)
    except BulkReadError as error:
        raise RebuildFailed(str(error)) from error
    return fold, events


async def _folded_beside(js: JetStreamContext, filters: list[str], advance: Callable[[int], None]) -> Folded:
    """The log under ``filters`` read in this process and folded in a :class:`~services.ops.fold_process.FoldProcess`
    as it is read."""
    reading = read_to_head(js, filters, max_size=BATCH_BESIDE)
    try:
        async with FoldProcess() as folding, contextlib.aclosing(reading):
            async for batch in reading:
                await folding.send(batch)
                advance(len(batch))
            return await folding.result()
    except (BulkReadError, FoldFailed) as error:
        raise RebuildFailed(str(error)) from error


@functools.lru_cache(maxsize=4096)  # asked for every message a worker reads, of the few subjects a log holds
def _partition(subject: str) -> int | None:
    key = session_key_of(subject)
    return None if key is None else partition_of(key)


async def _written(kv: KeyValue, bucket: str, values: Iterator[tuple[str, bytes]]) -> None:
    """Write each ``(key, value)`` to ``kv`` (the bucket ``bucket``)."""
    for key, value in values:
        try:
            await kv.put(key, value)
        except MaxPayloadError:
            raise RebuildFailed(
                f"the value of {key} ({len(value):,} bytes) is larger than the broker takes: raise max_payload in "
                "the server's configuration"
            ) from None
        except NatsError as error:  # the broker away
            raise RebuildFailed(f"the value of {key} could not be written to {bucket} ({error!r})") from error


async def _carry_over(js: JetStreamContext, old: str, kv: KeyValue, keep: str) -> None:
    """Copy every other session's value from the old bucket."""
    source = await js.key_value(old)
    try:
        keys = await source.keys()
    except (KeyNotFoundError, NatsError):
        return
    for key in keys:
        if key != keep:
            entry = await source.get(key)
            await kv.put(key, entry.value or b"")


async def _counted(js: JetStreamContext, subjects: str) -> dict[str, int]:
    """The events stored on each subject ``subjects`` matches."""
    return (await js.stream_info(EVENTS_STREAM, subjects_filter=subjects)).state.subjects or {}


async def _partition_weights(js: JetStreamContext) -> dict[int, int]:
    """Partition -> the events it holds now (those stored before partitions counted in their session's); asked
    partition by partition, so no answer lists more than a 32nd of the sessions."""
    weights = {p: sum((await _counted(js, partition_filter(p))).values()) for p in range(PARTITIONS)}
    for subject, count in (await _counted(js, UNPARTITIONED_FILTER)).items():
        if (partition := _partition(subject)) is not None:
            weights[partition] += count
    return weights


# -- worker processes -------------------------------------------------------


class WorkerReport(NamedTuple):
    """What a worker tells its parent: events folded as it goes (``done`` False), then its whole share written
    (``done``: the events and sessions in all), or why it stopped (``failed``)."""

    events: int
    sessions: int = 0
    done: bool = False
    failed: str | None = None


async def _in_workers(
    url: str, bucket: str, shares: list[frozenset[int]], advance: Callable[[int], None]
) -> tuple[int, int]:
    """Fold and write each share in a process of its own; (events, sessions) once all have written theirs."""
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no copy of this one's event loop
    reports: Queue[WorkerReport] = context.Queue()
    processes: list[BaseProcess] = [
        context.Process(target=_worker, args=(url, bucket, share, reports), name=f"rebuild-{i}", daemon=True)
        for i, share in enumerate(shares)
    ]
    events = sessions = written = 0
    try:
        for process in processes:
            process.start()
        while written < len(processes):
            try:
                report = await asyncio.to_thread(reports.get, True, 0.2)
            except queue.Empty:
                if any(process.exitcode not in (None, 0) for process in processes):
                    raise RebuildFailed("a worker process ended before it had written its share") from None
                continue
            if report.failed is not None:
                raise RebuildFailed(report.failed)
            if report.done:
                written, events, sessions = written + 1, events + report.events, sessions + report.sessions
            else:
                advance(report.events)
    finally:
        for process in processes:
            if written < len(processes) and process.is_alive():
                process.terminate()  # one failed, or Ctrl-C: the others stop now; each that wrote ends by itself
            process.join(5)
    return events, sessions


def _worker(url: str, bucket: str, partitions: frozenset[int], reports: Queue[WorkerReport]) -> None:
    """A worker process: its parent ends it (Ctrl-C reaches the parent, which stops every worker)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    tune_collector()
    try:
        asyncio.run(_share(url, bucket, partitions, reports))
    except RebuildFailed as error:
        reports.put(WorkerReport(0, failed=str(error)))
    except Exception as error:  # the parent stops the others and says why
        reports.put(WorkerReport(0, failed=f"the worker for partitions {sorted(partitions)} failed: {error!r}"))


async def _share(url: str, bucket: str, partitions: frozenset[int], reports: Queue[WorkerReport]) -> None:
    nc = await connect(url, "chequered-rebuild-worker", within=5.0)
    try:
        js = nc.jetstream()
        filters = [UNPARTITIONED_FILTER, *(partition_filter(p) for p in sorted(partitions))]
        fold, events = await _folded(js, filters, partitions, lambda count: reports.put(WorkerReport(count)))
        await _written(await js.key_value(bucket), bucket, fold_process.values(fold))
        reports.put(WorkerReport(events, len(fold.sessions), done=True))
    finally:
        await nc.close()
