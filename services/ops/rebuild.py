"""``chequered rebuild classification``: a fresh set of read models from the log, switched to atomically.

The log is read with the raw ordered consumer and folded batch by batch with
the same pure fold as the live projector, into a new versioned bucket
(``chequered_classification_v2``, then ``_v3``, then ``_v2`` again: the one
readers do not use is replaced, so the operations role may write these two
buckets and no other read model). Once it has caught up with the head of the
stream, the pointer in ``chequered_read_models`` moves to it in one KV write:
readers and the live projector follow the pointer, and the live projector
writes into the new bucket everything it folded since, so no update is lost at
the switch. With ``--session`` only that session is refolded; the
other sessions' values are carried over.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass

from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from schemas.subjects import (
    CLASSIFICATION_BUCKET,
    CLASSIFICATION_PROJECTION,
    EVENTS_STREAM,
    READ_MODELS_BUCKET,
)
from services.broker.reader import read_batches
from services.broker.topology import Topology, current_bucket
from services.classification.fold import ClassificationProjection

PROJECTIONS = {CLASSIFICATION_PROJECTION: CLASSIFICATION_BUCKET}


@dataclass
class RebuildReport:
    bucket: str
    events: int
    sessions: int
    seconds: float


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
) -> RebuildReport:
    if projection not in PROJECTIONS:
        raise ValueError(f"unknown projection {projection!r}: choose from {', '.join(PROJECTIONS)}")
    topology = topology or Topology()
    base = PROJECTIONS[projection]
    old = await current_bucket(js, projection, base)
    new = next_version(old, base)
    with contextlib.suppress(NatsError):
        await js.delete_key_value(new)  # a rebuild that died before switching left it half-written
    kv = await js.create_key_value(topology.read_model_bucket(new))
    started = time.perf_counter()
    fold = ClassificationProjection()
    stream_info = await js.stream_info(EVENTS_STREAM)
    progress = Progress(
        TextColumn(f"[bold]rebuild {projection} → {new}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]} ev/s"),
        TimeElapsedColumn(),
        console=console,
        disable=console is None,
    )
    events = 0
    with progress:
        task = progress.add_task("rebuild", total=stream_info.state.last_seq, rate="-")
        async for batch in read_batches(js, session, max_size=20_000):
            for seq, event in batch:
                fold.apply(seq, event)
            events += len(batch)
            elapsed = time.perf_counter() - started
            if batch:
                progress.update(task, completed=batch[-1][0], rate=f"{events / elapsed:,.0f}")
    for key, state in sorted(fold.sessions.items()):
        if state.opened is not None:
            await kv.put(key, state.encoded())
    if session is not None:
        await _carry_over(js, old, kv, keep=session)
    pointers = await js.key_value(READ_MODELS_BUCKET)
    await pointers.put(projection, new.encode())
    return RebuildReport(new, events, len(fold.sessions), time.perf_counter() - started)


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
