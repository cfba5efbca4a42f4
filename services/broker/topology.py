"""The one place that declares chequered's streams and KV buckets.

Their names, like the subjects, are part of the contract (:mod:`schemas.subjects`). Set-up is
idempotent and never silently rewrites a running stream: a stream whose
configuration differs from ours is reported as a conflict, and only
``ensure_topology(..., update=True)`` (``chequered setup --update``) changes it.

The log is partitioned by the broker itself: the events stream's subject transform
appends ``{{partition(PARTITIONS, championship, event, session)}}`` to every subject
it stores, so a projector replica reads only the partitions it owns with consumer
filters (:func:`schemas.subjects.partition_filter`). It also allows atomic batch
publishing, which ingest uses to store a request's events with one acknowledgement.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, KeyValueConfig, ObjectStoreConfig, StorageType, StreamConfig, SubjectTransform
from nats.js.errors import BucketNotFoundError, KeyNotFoundError, NotFoundError
from nats.js.kv import KeyValue

from schemas.subjects import (
    CLASSIFICATION_BUCKET,
    DLQ_PREFIX,
    DOCUMENTS_BUCKET,
    EVENTS_PREFIX,
    EVENTS_STREAM,
    PARTITIONS,
    READ_MODELS_BUCKET,
    REJECTS_PREFIX,
    REJECTS_STREAM,
    SNAPSHOTS_BUCKET,
    STANDINGS_BUCKET,
    partition_transform,
)

DUPLICATE_WINDOW_S = 2 * 60 * 60
"""Server-side de-duplication window: two hours covers any producer retry. Ingest
also remembers every accepted id of a session for the session's whole life."""

REJECTS_MAX_BYTES = 1024**3
REJECTS_MAX_AGE_S = 30 * 24 * 60 * 60
"""The rejects stream keeps at most 1 GiB and 30 days of refused input and dead letters, the oldest going first,
so no producer can fill the disk with garbage (the log itself has no limit: it is the truth)."""

OBJECT_STORES = {SNAPSHOTS_BUCKET: "projector snapshots", DOCUMENTS_BUCKET: "official documents of declared results"}


class TopologyConflict(RuntimeError):
    """A stream exists with a configuration that differs from the one chequered needs."""


REPLICAS_ENV = "CHEQUERED_REPLICAS"


def _default_replicas() -> int:
    return int(os.environ.get(REPLICAS_ENV, "1"))


@dataclass(frozen=True)
class Topology:
    replicas: int = field(default_factory=_default_replicas)
    """Replicas of every stream and bucket: 1 on a single node, 3 on the cluster (``CHEQUERED_REPLICAS``)."""
    rejects_max_bytes: int = REJECTS_MAX_BYTES
    """JetStream reserves it for the rejects stream: a server needs that much room beside the log."""
    rejects_max_age_s: float = REJECTS_MAX_AGE_S

    def streams(self) -> list[StreamConfig]:
        return [
            StreamConfig(
                name=EVENTS_STREAM,
                description="chequered timing events: the log and source of truth",
                subjects=[f"{EVENTS_PREFIX}.>"],
                storage=StorageType.FILE,
                duplicate_window=DUPLICATE_WINDOW_S,
                num_replicas=self.replicas,
                deny_delete=True,
                deny_purge=True,
                subject_transform=SubjectTransform(*partition_transform(PARTITIONS)),
                allow_atomic=True,
            ),
            StreamConfig(
                name=REJECTS_STREAM,
                description="chequered rejected input and projector dead letters, with reasons",
                subjects=[f"{REJECTS_PREFIX}.>", f"{DLQ_PREFIX}.>"],
                storage=StorageType.FILE,
                duplicate_window=DUPLICATE_WINDOW_S,
                num_replicas=self.replicas,
                max_bytes=self.rejects_max_bytes,
                max_age=self.rejects_max_age_s,
                discard=DiscardPolicy.OLD,
            ),
        ]

    def buckets(self) -> list[KeyValueConfig]:
        return [
            self.read_model_bucket(CLASSIFICATION_BUCKET),
            self.read_model_bucket(STANDINGS_BUCKET),
            KeyValueConfig(
                bucket=READ_MODELS_BUCKET,
                description="which bucket holds each projection's read models",
                history=5,
                storage=StorageType.FILE,
                replicas=self.replicas,
            ),
        ]

    def read_model_bucket(self, name: str) -> KeyValueConfig:
        return KeyValueConfig(
            bucket=name,
            description="read models per session, each value carrying the last stream sequence folded in",
            history=1,
            storage=StorageType.FILE,
            replicas=self.replicas,
        )


_COMPARED = (
    "subjects",
    "storage",
    "duplicate_window",
    "num_replicas",
    "retention",
    "deny_delete",
    "deny_purge",
    "max_bytes",
    "max_age",
    "discard",
    "subject_transform",
    "allow_atomic",
)


def _differences(wanted: StreamConfig, actual: StreamConfig) -> list[str]:
    diffs = []
    for name in _COMPARED:
        want, have = getattr(wanted, name), getattr(actual, name)
        if want is None and name != "subjects":  # not ours to decide: the server's default, or an operator's
            continue
        if name == "subjects":
            want, have = sorted(want or []), sorted(have or [])
        if name in ("duplicate_window", "max_age"):
            want, have = float(want or 0), float(have or 0)
        if name == "subject_transform":
            want, have = _transform(want), _transform(have)
        if want != have:
            diffs.append(f"{name}: running {have!r}, wanted {want!r}")
    return diffs


def _transform(transform: SubjectTransform | None) -> str | None:
    return f"{transform.src} -> {transform.dest}" if transform is not None else None


async def ensure_topology(js: JetStreamContext, topology: Topology | None = None, *, update: bool = False) -> None:
    """Create what is missing; refuse (or, with ``update``, apply) configuration drift."""
    topology = topology or Topology()
    for wanted in topology.streams():
        assert wanted.name is not None
        try:
            info = await js.stream_info(wanted.name)
        except NotFoundError:
            await js.add_stream(wanted)
            continue
        diffs = _differences(wanted, info.config)
        if diffs and not update:
            raise TopologyConflict(
                f"stream {wanted.name} differs from chequered's configuration ({'; '.join(diffs)}); "
                "run 'chequered setup --update' to change it on purpose"
            )
        if diffs:
            await js.update_stream(wanted)
    for bucket in topology.buckets():
        await ensure_bucket(js, bucket)
    for name, description in OBJECT_STORES.items():
        try:
            await js.object_store(name)
        except (BucketNotFoundError, NotFoundError):
            await js.create_object_store(
                name,
                ObjectStoreConfig(
                    bucket=name, description=description, storage=StorageType.FILE, replicas=topology.replicas
                ),
            )


async def ensure_bucket(js: JetStreamContext, config: KeyValueConfig) -> KeyValue:
    try:
        return await js.key_value(config.bucket)
    except BucketNotFoundError:
        return await js.create_key_value(config)


async def current_bucket(js: JetStreamContext, projection: str, default: str) -> str:
    """The bucket that holds ``projection``'s read models now (moved by a rebuild)."""
    pointers = await js.key_value(READ_MODELS_BUCKET)
    try:
        entry = await pointers.get(projection)
    except KeyNotFoundError:
        return default
    return entry.value.decode() if entry.value else default
