"""What every projector shell shares: the whole log, in order, batch by batch, measured; dead letters; and writes
that tell a broker that is away (retry) from one that refuses (give up, say so, go on).

A subclass names its ``projection_name`` and folds a batch in ``fold_batch``;
:meth:`LogFollower.follow` reads what the stream holds from ``start_seq`` with the bulk reader,
then follows its live tail the same way, and stops between batches when asked, so a batch (and its
snapshot) is never cut in half by a clean stop. A follower that reads part of
the log (some partitions: :meth:`LogFollower.subjects`) is told to read another
part with :meth:`LogFollower.refilter`: between two batches it calls
:meth:`LogFollower.reassign` with the sequence it has read up to, then reads on
from there with its new filters.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import msgspec
from nats.errors import BadSubjectError, MaxPayloadError
from nats.errors import Error as NatsError
from nats.js.errors import APIError

from schemas.ingest import DeadLetter
from schemas.subjects import dlq_subject
from services.broker.bulkread import StoredMsg, StreamTail, read_to_head
from services.broker.reader import events_filter
from services.broker.shell import NatsShell
from services.broker.topology import Topology
from services.observability import BATCH_SECONDS, DEAD_LETTERS, EVENTS_APPLIED, LAG, UNWRITABLE

STOP_POLL_S = 0.2
"""How often an idle projector looks up from the log to see whether it is asked to stop."""
RETRY_PAUSE_S = 0.5
MAX_RETRY_PAUSE_S = 10.0
"""The pause before reading on after the broker failed a read, doubling while it keeps failing, up to this."""
BAD_REQUEST = 400

log = logging.getLogger("chequered.projector")


def refused_for_good(error: NatsError) -> bool:
    """A write the broker refuses however often it is tried (too large, malformed); anything else (a time-out,
    the broker restarting or electing a leader, a full disk) passes and is retried."""
    if isinstance(error, MaxPayloadError | BadSubjectError):
        return True
    return isinstance(error, APIError) and error.code == BAD_REQUEST


class BatchFailed(RuntimeError):
    """A batch's fold failed on the broker (a write given up, a snapshot unreadable), or a write behind the fold
    failed: the follower ends, its service reports unready and is restarted from what it saved, rather than fold
    part of a batch twice or fold on with nothing written."""


class LogFollower(NatsShell):
    projection_name = "projection"

    def __init__(self, nats_url: str, topology: Topology | None = None) -> None:
        super().__init__(nats_url, topology)
        self.caught_up = asyncio.Event()
        """Set once the projector has folded the log as it was when it started, and written what it folded."""
        self.dead_letters = 0
        self.unwritable: dict[str, int] = {}
        """Read-model key -> the sequence its value could not be written at (dead-lettered once)."""
        self.events_read = 0
        """Messages this follower has read from the log (its share, when it reads some partitions)."""
        self.position = 0
        """The last sequence of the log folded whole (its batch applied)."""
        self._refilter = asyncio.Event()

    @property
    def ready(self) -> bool:
        """Caught up with the log, connected, and still following it."""
        return self.caught_up.is_set() and self.healthy

    def subjects(self) -> list[str]:
        """The subject filters of what this follower reads: the whole log."""
        return [events_filter(None)]

    def refilter(self) -> None:
        """Read other subjects (:meth:`subjects` has changed) from the next batch on."""
        self._refilter.set()

    async def reassign(self, position: int) -> None:
        """Make the state whole for the new :meth:`subjects` up to ``position`` (the last sequence read)."""

    async def follow(self, start_seq: int = 1) -> None:
        """Fold the log from ``start_seq`` until stopped. Should the broker fail a read or a reassignment, the
        follower reads on from the last batch it folded, after a pause that grows while it keeps failing. A batch
        whose fold fails is not tried again here (:class:`BatchFailed`: the follower ends and says so)."""
        self.position = start_seq - 1
        pause = RETRY_PAUSE_S
        while not self.stopping.is_set():
            try:
                await self._follow_round()
                pause = RETRY_PAUSE_S
            except NatsError as error:
                log.warning(
                    "%s: the log failed at seq %d (%r); reading on in %.1f s",
                    self.projection_name, self.position, error, pause,
                )  # fmt: skip
                await asyncio.sleep(pause)
                pause = min(2 * pause, MAX_RETRY_PAUSE_S)

    async def _follow_round(self) -> None:
        """Catch up, follow the tail until stopped or told to read other subjects, then take those."""
        await self._catch_up()
        async with StreamTail(self.js, self.subjects(), start_seq=self.position + 1) as tail:
            if not tail.backlog_at_open:
                await self._now_caught_up()
            while not self.stopping.is_set() and not self._refilter.is_set():
                batch = await tail.next_batch(timeout=STOP_POLL_S)
                if not batch:
                    await self.idle()
                    continue
                await self._apply(batch)
                if batch[-1].pending == 0:
                    await self._now_caught_up()
        if self._refilter.is_set() and not self.stopping.is_set():
            self._refilter.clear()  # a change during the reassignment is seen by the next round
            self.caught_up.clear()  # not caught up with what it gains until its tail is
            try:
                await self.reassign(self.position)
            except BaseException:
                self._refilter.set()  # not taken: the next round tries again
                raise

    async def _now_caught_up(self) -> None:
        if not self.caught_up.is_set():
            await self.written_out()  # ready means the read models say what the log says
            self.caught_up.set()

    async def idle(self) -> None:
        """The tail had nothing new for a poll: what waits for no event. A follower whose work goes on beside the
        fold ends here once that has failed, without waiting for the next event."""
        self.raise_if_failed()

    def raise_if_failed(self) -> None:
        """Raise :class:`BatchFailed` once work that goes on beside the fold (values written behind it) has
        failed; checked before each batch and at each idle poll of the tail."""

    async def written_out(self) -> None:
        """Return once what has been folded is written (a follower that writes behind its fold waits here)."""

    async def _catch_up(self) -> None:
        """Fold what the log already holds after :attr:`position` with the bulk reader, faster than the live tail
        reads it. Should the bulk read fail (the broker away), the live tail, which waits for it, reads the rest."""
        reading = read_to_head(self.js, self.subjects(), start_seq=self.position + 1)
        try:
            async with contextlib.aclosing(reading):
                async for batch in reading:
                    await self._apply(batch)
                    if self.stopping.is_set() or self._refilter.is_set():
                        break
        except NatsError as error:
            log.warning(
                "%s: catching up from seq %d left to the live tail: %r", self.projection_name, self.position, error
            )

    async def _apply(self, batch: list[StoredMsg]) -> None:
        self.raise_if_failed()
        try:
            await self.apply_batch(batch)
        except NatsError as error:  # half folded, perhaps: not the log's failure, and not one to fold again
            raise BatchFailed(f"folding seq {batch[0].seq}-{batch[-1].seq} failed: {error!r}") from error
        self.position = batch[-1].seq

    async def apply_batch(self, batch: list[StoredMsg]) -> None:
        self.events_read += len(batch)
        with BATCH_SECONDS.labels(self.projection_name).time():
            await self.fold_batch(batch)
        EVENTS_APPLIED.labels(self.projection_name).inc(len(batch))
        LAG.labels(self.projection_name).set(batch[-1].pending)

    async def fold_batch(self, batch: list[StoredMsg]) -> None:
        raise NotImplementedError

    async def dead_letter(self, seq: int, subject: str, reason: str, payload: bytes = b"", key: str = "") -> None:
        """Keep what could not be folded or written in ``chequered.dlq.<projection>``, with the reason, and go on.
        ``key``: the read model concerned, when it is a value that could not be written, not an event."""
        self.dead_letters += 1
        DEAD_LETTERS.labels(self.projection_name).inc()
        log.error("%s: seq %d %s: %s", self.projection_name, seq, f"({key})" if key else "refused", reason)
        letter = DeadLetter(self.projection_name, seq, subject, reason, payload.decode("utf-8", "replace"))
        try:
            await self.js.publish(
                dlq_subject(self.projection_name),
                msgspec.json.encode(letter),
                headers={"Nats-Msg-Id": f"dlq:{self.projection_name}:{seq}" + (f":{key}" if key else "")},
                timeout=5.0,
            )
        except NatsError as error:
            log.error("could not dead-letter seq %d: %s", seq, error)

    def too_large(self, value: bytes) -> bool:
        return len(value) > self.nc.max_payload

    async def persist(
        self, bucket: str, key: str, seq: int, value: bytes, write: Callable[[], Awaitable[None]]
    ) -> bool:
        """Run ``write`` (of ``value``, the read model ``key`` of ``bucket`` as of ``seq``) until it succeeds: True.
        While the
        broker is away it is retried; a value the broker refuses for good (larger than ``max_payload``, or
        refused as malformed) is dead-lettered once and given up (False), as is any write once the projector is
        stopping (a restart writes it again from the log)."""
        problem = f"{len(value):,} bytes, more than the {self.nc.max_payload:,} the broker takes"
        delay = 0.05
        while not self.too_large(value):
            try:
                await write()
            except NatsError as error:
                if refused_for_good(error):
                    problem = repr(error)
                    break
                if self.stopping.is_set():
                    log.warning("KV write of %s given up on the way out (%s); a restart writes it", key, error)
                    return False
                log.warning("KV write of %s failed (%s); retrying", key, error)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
            else:
                if self.unwritable.pop(key, None) is not None:
                    UNWRITABLE.labels(self.projection_name).set(len(self.unwritable))
                return True
        await self.cannot_store(bucket, key, seq, problem)
        return False

    async def cannot_store(self, bucket: str, key: str, seq: int, problem: str) -> None:
        """A read model that cannot be stored keeps its last value; said once (a dead letter, the
        ``chequered_read_models_unwritable`` gauge) until it can be stored again. The others go on."""
        if key not in self.unwritable:
            reason = f"the read model {key} at seq {seq} cannot be stored ({problem}); the projector goes on"
            await self.dead_letter(seq, f"$KV.{bucket}.{key}", reason, key=key)
        self.unwritable[key] = seq
        UNWRITABLE.labels(self.projection_name).set(len(self.unwritable))
