"""The classification projector: the stream, in order, through the fold, into KV.

The shell is short on purpose. It reads the whole log (what it holds with the
bulk reader, then its live tail the same way:
:class:`~services.broker.follower.LogFollower`), folds every message
with :class:`~services.classification.fold.ClassificationProjection`, and
writes the sessions it touched to the ``chequered_classification`` bucket behind
the fold (:mod:`services.broker.writebehind`: oldest first, a session touched
again before its turn written once). Each value carries ``last_seq``, the
sequence of the last event folded into it.

Exactly once over at-least-once: at start-up the fold is rebuilt from the log
(the pure fold is about ten times faster than a live subscriber), and a value
is written only when its ``last_seq`` is beyond the one already in KV, so a
restart neither skips an event nor counts one twice, and a reader never sees a
value go backwards; a restart also writes every session it restored from a
snapshot whose ``last_seq`` is beyond the bucket's (values still queued when
the snapshot was saved).

A message the fold refuses (undecodable, or impossible for the session) is
published once to ``chequered.dlq.classification`` with the reason, and the
projector goes on; the same message always gets the same verdict, so there is
nothing to gain from redelivering it. So is a read model the broker will never
take (larger than ``max_payload``): the other sessions go on being written.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import msgspec
from nats.errors import Error as NatsError
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from schemas.events import ResultsStatus
from schemas.results import decode_classification
from schemas.subjects import (
    CLASSIFICATION_BUCKET,
    CLASSIFICATION_PROJECTION,
    PARTITIONS,
    READ_MODELS_BUCKET,
    UNPARTITIONED_FILTER,
    partition_filter,
    partition_of,
    session_filters,
    session_key_of,
)
from services.broker.bulkread import StoredMsg, read_to_head
from services.broker.follower import BatchFailed, LogFollower
from services.broker.membership import Membership
from services.broker.partition import owned as owned_partitions
from services.broker.snapshots import SnapshotStore
from services.broker.topology import Topology, current_bucket
from services.broker.writebehind import WriteQueue
from services.classification import snapshot
from services.classification.fold import ClassificationProjection
from services.tasks import cancel

log = logging.getLogger("chequered.classification")

CAS_PAUSE_S = 0.01
"""Between two compare-and-set attempts at one value, after another writer's value (behind ours) won."""


def _owned(membership: Membership, replica: str) -> frozenset[int]:
    return owned_partitions(PARTITIONS, membership.members, replica)


EVICT_AFTER = 50_000
"""Events after a finished session's last one before it leaves memory (it stays in its snapshot)."""
SNAPSHOT_EVERY = 20_000
"""Events between snapshots: a 24-hour race is re-folded from at most this far back."""


class ClassificationProjector(LogFollower):
    """One projector, or one replica of several (``replica`` names it).

    Replicas share the log's partitions (:data:`schemas.subjects.PARTITIONS`,
    made by the stream's own subject transform) evenly over the live members
    (:mod:`services.broker.membership`, :func:`services.broker.partition.assign`):
    each reads only its partitions, with consumer subject filters, so what each
    replica reads falls as one over the number of replicas. Events stored before
    the log was partitioned are read by every replica, which folds only its own
    sessions' (:data:`schemas.subjects.UNPARTITIONED_FILTER`). A replica that
    gains partitions (one left, or it started) folds their sessions from the log
    up to where it has read, then reads on with its new filters and writes them;
    one that loses partitions forgets their sessions. Writes are compare-and-set
    on the KV revision and only ever move ``last_seq`` forward, so two replicas
    in a hand-over cannot make a value go backwards. Sessions that finished long
    ago are evicted from memory after a snapshot and restored from it when a
    late event arrives.
    """

    projection_name = CLASSIFICATION_PROJECTION
    role = "classification"

    def __init__(
        self,
        nats_url: str,
        topology: Topology | None = None,
        *,
        snapshot_every: int = SNAPSHOT_EVERY,
        replica: str | None = None,
        evict_after: int = EVICT_AFTER,
    ) -> None:
        super().__init__(nats_url, topology)
        self.replica = replica
        self.evict_after = evict_after
        self.evicted: set[str] = set()
        self._evict_at: int | None = 0
        """The head of the log from which a session with final results may be due to leave memory (0: look at every
        session at the next batch; None: no session has final results). Not a walk over every session at each
        batch: a replica holding thousands of sessions reads a batch every few milliseconds."""
        self.membership: Membership | None = None
        self.projection = ClassificationProjection()
        self.snapshot_every = snapshot_every
        self.resumed_from = 0
        """The stream sequence the fold was restored at (0: folded from the start)."""
        self._snapshot_seq = 0
        self._changed_since_snapshot: set[str] = set()
        self._snapshots: SnapshotStore | None = None
        self.written: dict[str, int] = {}
        """Session key -> ``last_seq`` of the value in KV."""
        self._revisions: dict[str, int] = {}
        self.partitions: frozenset[int] = frozenset(range(PARTITIONS))
        """The log's partitions this projector reads (a replica: its share)."""
        self.bucket = CLASSIFICATION_BUCKET
        self._following: asyncio.Task[None] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        """The bucket watcher and any take-over of sessions: cancelled at stop."""
        self._kv: KeyValue | None = None
        self._pointer: KeyValue.KeyWatcher | None = None
        self._queue = WriteQueue(self._write, "classification")

    @property
    def ready(self) -> bool:
        """Caught up, connected, following the log and the rebuilds, and (as a replica) still a member."""
        return super().ready and self._queue.failed is None and (self.membership is None or self.membership.running)

    def flushed(self) -> str:
        written = max(self.written.values(), default=0)
        return f"classification folded to seq {self.projection.last_seq:,}, its read models written to {written:,}"

    async def start(self) -> None:
        await self.connect()
        self.bucket = await current_bucket(self.js, CLASSIFICATION_PROJECTION, CLASSIFICATION_BUCKET)
        self._kv = await self.js.key_value(self.bucket)
        await self._load_checkpoints(self._kv)
        self._snapshots = SnapshotStore(
            self.js,
            CLASSIFICATION_PROJECTION if self.replica is None else f"{CLASSIFICATION_PROJECTION}.{self.replica}",
        )
        await self._restore()
        if self.replica is not None:
            self.membership = Membership(self.js, CLASSIFICATION_PROJECTION, self.replica, self.refilter)
            await self.membership.start()
            await self.reassign(self.resumed_from)
        # a value a crash kept from the bucket: the log after the snapshot may never touch its session again
        sessions = self.projection.sessions
        self._queue.add(key for key, state in sessions.items() if state.last_seq > self.written.get(key, 0))
        await self.broker.start()
        self._pointer = await (await self.js.key_value(READ_MODELS_BUCKET)).watch(
            CLASSIFICATION_PROJECTION, include_history=False
        )
        self._queue.start()
        self._following = self.spawn(self.follow(self.resumed_from + 1), "classification-projector")
        self._following.add_done_callback(self._leave)
        self._tasks = [self.spawn(self._follow_rebuilds(), "classification-bucket")]

    async def stop(self) -> None:
        """Stop following the log; safe to call twice."""
        if self._following is None:
            return
        self.stopping.set()  # the fold finishes the batch it is on (and its snapshot) first
        with contextlib.suppress(Exception):  # one that died has said why
            await self._following
        self._following = None
        with contextlib.suppress(Exception):  # one that died has said why
            await cancel(*self._tasks)
        self._tasks = []
        await self._queue.drained()  # what was folded is written (given up if the broker is away)
        await self._queue.stop()
        if self.membership is not None:
            await self.membership.stop()
        if self._pointer is not None:
            await self._pointer.stop()  # type: ignore[no-untyped-call]
        await self.disconnect()

    def _leave(self, following: asyncio.Task[None]) -> None:
        """A replica whose fold has ended leaves the members at once, so the others take its partitions (it would
        keep beating, and its sessions would go unwritten, until it is restarted)."""
        if self.membership is not None and not self.stopping.is_set():
            self._tasks.append(asyncio.create_task(self.membership.stop(), name="classification-leave"))

    async def _follow_rebuilds(self) -> None:
        """When ``chequered rebuild`` moves the read models to a new bucket, write there from now on."""
        assert self._pointer is not None
        async for entry in self._pointer:
            if entry is None or not entry.value or entry.value.decode() == self.bucket:
                continue
            async with self._queue.paused():
                self.bucket = entry.value.decode()
                self._kv = await self.js.key_value(self.bucket)
                self.written, self._revisions = {}, {}
                await self._load_checkpoints(self._kv)
            self._queue.add(sorted(self.projection.sessions))  # anything folded since the rebuild read the log
            log.info("classification read models now in %s", self.bucket)

    async def _load_checkpoints(self, kv: KeyValue) -> None:
        try:
            keys = await kv.keys()
        except (KeyNotFoundError, NatsError):  # an empty bucket answers "no keys found"
            keys = []
        for key in keys:
            await self._checkpoint(kv, key)

    async def _checkpoint(self, kv: KeyValue, key: str) -> int:
        """Read what KV holds for ``key`` now: its ``last_seq`` (0 for nothing) and revision. A value that is no
        classification this version reads (another version's, an operator's put) counts as nothing: the next
        write replaces it."""
        try:
            entry = await kv.get(key)
        except KeyNotFoundError:
            self._revisions.pop(key, None)
            self.written.pop(key, None)
            return 0
        self._revisions[key] = entry.revision or 0
        try:
            self.written[key] = decode_classification(entry.value).last_seq if entry.value else 0
        except msgspec.MsgspecError as error:
            log.warning("the value of %s in %s is no classification (%s): it will be replaced", key, self.bucket, error)
            self.written[key] = 0
        return self.written[key]

    def owns(self, key: str) -> bool:
        return self.membership is None or partition_of(key) in self.partitions

    def subjects(self) -> list[str]:
        """A replica's partitions, and the events stored before there were partitions; else the whole log."""
        if self.membership is None:
            return super().subjects()
        return [UNPARTITIONED_FILTER, *(partition_filter(p) for p in sorted(self.partitions))]

    async def reassign(self, position: int) -> None:
        """Take the partitions the members now give this replica: forget the sessions of those it lost, fold those
        it gained from the log up to ``position`` (what it has read so far; it reads on from there) and write
        them."""
        assert self.membership is not None and self._snapshots is not None
        owned = frozenset(range(PARTITIONS)) if self.replica is None else _owned(self.membership, self.replica)
        gained = owned - self.partitions
        # the gained partitions are read first: should the broker fail the read, nothing has changed yet and the
        # follower tries the whole reassignment again
        caught = ClassificationProjection()
        if gained and position:
            filters = [UNPARTITIONED_FILTER, *map(partition_filter, sorted(gained))]
            caught = await self._folded(filters, position, lambda key: partition_of(key) in gained)
        async with self._queue.paused():  # no write of a session it forgets is in flight
            self._take(owned, caught)
        self._queue.add(sorted(caught.sessions))  # compare-and-set: a value another replica wrote further on stays

    def _take(self, owned: frozenset[int], caught: ClassificationProjection) -> None:
        """Read the partitions ``owned`` from now on: forget the sessions of those lost or gained, and take those
        ``caught`` up with the log for the gained ones."""
        assert self._snapshots is not None
        lost, gained = self.partitions - owned, owned - self.partitions
        self.partitions = owned
        gone = {key for key in [*self.projection.sessions, *self.evicted] if partition_of(key) in lost | gained}
        for key in gone:  # a gained partition's sessions are folded afresh from the log
            self.projection.sessions.pop(key, None)
            self.written.pop(key, None)
            self._revisions.pop(key, None)
            self.unwritable.pop(key, None)
        self.evicted -= gone
        self._changed_since_snapshot -= gone
        self._snapshots.forget(gone)
        if lost or gained:
            log.info("replica %s reads partitions %s", self.replica, ",".join(map(str, sorted(owned))) or "none")
        self.projection.sessions.update(caught.sessions)
        self._changed_since_snapshot |= set(caught.sessions)
        self._evict_at = 0

    async def _folded(
        self, filters: list[str], position: int, wanted: Callable[[str], bool]
    ) -> ClassificationProjection:
        """The ``wanted`` sessions of the log under ``filters`` folded up to ``position``."""
        caught = ClassificationProjection()
        reading = read_to_head(self.js, filters)
        async with contextlib.aclosing(reading):
            async for batch in reading:
                self.events_read += len(batch)
                for stored in batch:
                    if stored.seq > position:
                        return caught
                    session = session_key_of(stored.subject)
                    if session is not None and wanted(session):
                        caught.apply_raw(stored.seq, stored.subject, stored.data)
        return caught

    async def _restore(self) -> None:
        assert self._snapshots is not None
        seq, saved = await self._snapshots.load()
        states = {key: snapshot.decode(data) for key, data in saved.items()}
        if seq and all(state is not None for state in states.values()):
            self.projection.sessions = {key: state for key, state in states.items() if state is not None}
            self.projection.last_seq = self.resumed_from = self._snapshot_seq = seq
            self.evicted = set(self._snapshots.evicted)
            self._evict_at = 0
            if self._snapshots.partitions is not None:  # a replica's: it holds its partitions of then
                self.partitions = self._snapshots.partitions
        elif seq:
            log.warning("snapshots at seq %d are of another format: folding from the start of the log", seq)

    async def _save_snapshots(self, evicting: set[str] | None = None) -> bool:
        """Snapshots of every session changed since the last, at the current sequence; False if not saved."""
        assert self._snapshots is not None
        changed = {key: snapshot.encode(self.projection.sessions[key]) for key in self._changed_since_snapshot}
        partitions = self.partitions if self.membership is not None else None
        try:
            await self._snapshots.save(self.projection.last_seq, changed, evicting, partitions)
        except NatsError as error:  # a snapshot is an optimisation: the log is still there
            log.warning("snapshot at seq %d not saved: %s", self.projection.last_seq, error)
            return False
        self._snapshot_seq = self.projection.last_seq
        self._changed_since_snapshot.clear()
        return True

    async def written_out(self) -> None:
        await self._queue.drained()
        self.raise_if_failed()

    def raise_if_failed(self) -> None:
        if self._queue.failed is not None:
            raise BatchFailed(f"a classification could not be written: {self._queue.failed!r}")

    async def idle(self) -> None:
        await super().idle()
        await self._evict()  # a session whose last value has been written since its last batch

    async def fold_batch(self, batch: list[StoredMsg]) -> None:
        touched: dict[str, None] = {}
        for stored in batch:
            if self.membership is not None and not self._ours(stored.subject):
                self.projection.last_seq = max(self.projection.last_seq, stored.seq)
                continue
            if self.evicted and (evicted := session_key_of(stored.subject)) in self.evicted:
                await self._reload(evicted)
            key, refused = self.projection.apply_raw(stored.seq, stored.subject, stored.data)
            if refused is not None:
                await self.dead_letter(stored.seq, stored.subject, refused.reason, stored.data)
            if key is not None and key in self.projection.sessions:
                touched[key] = None
        self._queue.add(touched)
        for key in touched:
            state = self.projection.sessions[key]
            if state.results is ResultsStatus.FINAL:
                self._due(state.last_seq + self.evict_after)
        await asyncio.sleep(0)  # the writers woken start before this batch's bookkeeping: one hop, not a wait
        self._changed_since_snapshot |= touched.keys()
        if self.projection.last_seq - self._snapshot_seq >= self.snapshot_every:
            await self._save_snapshots()
        await self._evict()

    async def _evict(self) -> None:
        """Sessions with final results and nothing new for ``evict_after`` events leave memory, once their last
        value is written (or cannot be)."""
        head = self.projection.last_seq
        if self._evict_at is None or head < self._evict_at:
            return
        done: set[str] = set()
        self._evict_at = None
        for key, state in self.projection.sessions.items():
            if state.results is not ResultsStatus.FINAL:
                continue
            due = state.last_seq + self.evict_after
            self._due(due)  # looked at again from then on, should it still be here (its last value to be written)
            if head >= due and (self.written.get(key, 0) >= state.last_seq or key in self.unwritable):
                done.add(key)
        if not done:
            return
        # A full snapshot: the index moves to ``head``, so every changed session is saved with it.
        self._changed_since_snapshot |= done
        if not await self._save_snapshots(evicting=done):
            return
        for key in done:
            del self.projection.sessions[key]
        self.evicted |= done

    def _due(self, at: int) -> None:
        """A session with final results may be due to leave memory from head ``at`` on."""
        self._evict_at = at if self._evict_at is None else min(self._evict_at, at)

    async def _reload(self, key: str) -> None:
        """A late event for an evicted session (a penalty hours later): its state comes back from its snapshot, or,
        should that be gone or unreadable, from the log (its events up to what has been folded)."""
        assert self._snapshots is not None
        data = await self._snapshots.load_one(key)
        state = snapshot.decode(data) if data else None
        if state is None:
            log.warning("the snapshot of evicted session %s is gone or unreadable: folding it from the log", key)
            state = (await self._folded(session_filters(key), self.projection.last_seq, key.__eq__)).sessions.get(key)
        if state is not None:
            self.projection.sessions[key] = state
            self._evict_at = 0
        self.evicted.discard(key)

    def _ours(self, subject: str) -> bool:
        """An event of the log before partitions is a replica's when its session's partition is."""
        key = session_key_of(subject)
        return key is None or subject.count(".") > 4 or partition_of(key) in self.partitions

    async def _write(self, key: str) -> None:
        state = self.projection.sessions.get(key)
        if not self.owns(key):
            return
        if state is None or state.opened is None or state.last_seq <= self.written.get(key, 0):
            return
        seq = state.last_seq  # the fold goes on while the value is written: what it holds is as of now
        try:
            value = state.encoded()
        except Exception as error:  # the pure rules failed on this session: the others go on
            await self.cannot_store(self.bucket, key, seq, f"its classification failed: {error!r}")
            return
        kv = self._kv
        assert kv is not None
        ahead = False

        async def write() -> None:
            nonlocal ahead
            while True:
                try:
                    revision = self._revisions.get(key)
                    if revision is None:
                        self._revisions[key] = await kv.create(key, value)
                    else:
                        self._revisions[key] = await kv.update(key, value, last=revision)
                    return
                except KeyWrongLastSequenceError:  # another writer got there: go on only if we are ahead of it
                    if await self._checkpoint(kv, key) >= seq:
                        ahead = True
                        return
                    await asyncio.sleep(CAS_PAUSE_S)  # a read that lags the write it lost to: not a busy loop

        if await self.persist(self.bucket, key, seq, value, write):
            if not ahead:
                self.written[key] = seq
        elif self.stopping.is_set():  # given up on the way out, the broker away: the rest would be, one by one
            self._queue.abandon()
