"""The documents service: a session's official documents, generated when its results are declared.

It follows the whole log (like the projectors) and notes each session's
latest ``results_declared``. Once it has read everything the stream holds,
and whenever a later declaration arrives, it reads the session's events,
renders its documents as the log stood at the declaration
(:func:`~services.documents.report.session_documents` with ``until_seq``) in
a worker thread, and stores them in the ``chequered_documents`` object store
as ``<session key>/<file name>``, then ``<session key>/index.json`` (a
:class:`~schemas.analysis.DocumentsIndex`) last, so the index only ever names
documents that are there. A session whose stored index is of its latest
declaration is not generated again, so a restart costs a read of the log
and nothing more. A session whose documents cannot be rendered is logged and
skipped: no session stops the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import msgspec
from nats.js.object_store import ObjectStore

from schemas.analysis import DocumentsIndex
from schemas.events import ResultsDeclared, SessionRef
from schemas.subjects import DOCUMENTS_BUCKET, DOCUMENTS_PROJECTION
from services.broker.bulkread import StoredMsg
from services.broker.follower import LogFollower
from services.broker.objects import ObjectUnreadable
from services.broker.reader import decoded, read_events
from services.broker.topology import Topology
from services.documents.report import session_documents
from services.documents.store import INDEX, object_name, stored_index

log = logging.getLogger("chequered.documents")

DECLARED = b'"results_declared"'
"""The tag of a declaration, looked for in the raw bytes before decoding: most events are laps."""


class DocumentsService(LogFollower):
    projection_name = DOCUMENTS_PROJECTION
    role = "documents"

    def __init__(self, nats_url: str, topology: Topology | None = None) -> None:
        super().__init__(nats_url, topology)
        self.declared: dict[str, int] = {}
        """Session key -> stream sequence of its latest declaration."""
        self.generated: dict[str, int] = {}
        """Session key -> the declaration its stored documents are of (0: rendering failed)."""
        self._task: asyncio.Task[None] | None = None
        self._store: ObjectStore | None = None

    def flushed(self) -> str:
        return f"documents stored for {sum(1 for seq in self.generated.values() if seq):,} session(s)"

    async def start(self) -> None:
        await self.connect()
        self._store = await self.js.object_store(DOCUMENTS_BUCKET)
        self._task = asyncio.create_task(self.follow(), name="documents")

    async def stop(self) -> None:
        """Stop after the session being rendered, if any; safe to call twice."""
        if self._task is None:
            return
        self.stopping.set()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        await self.disconnect()

    async def fold_batch(self, batch: list[StoredMsg]) -> None:
        for message, event in decoded(m for m in batch if DECLARED in m.data):
            if isinstance(event.body, ResultsDeclared):
                self.declared[event.session.key] = message.seq
        if batch[-1].pending == 0:  # everything the stream held is read: generate what is behind
            for key in sorted(self.declared):
                if self.stopping.is_set():
                    return
                await self._generate(key, self.declared[key])

    async def _generate(self, key: str, seq: int) -> None:
        if self.generated.get(key, -1) >= seq:
            return
        store = self._store
        assert store is not None
        try:
            held = await stored_index(self.js, store, key)
        except ObjectUnreadable:  # another instance is publishing them: render them (again), as the log says
            held = None
        if held is not None and held.declared_seq >= seq:
            self.generated[key] = held.declared_seq
            return
        session = SessionRef.parse(key)
        events = await read_events(self.js, key)
        try:
            documents = await asyncio.to_thread(session_documents, events, session, until_seq=seq)
        except Exception:
            log.exception("the documents of %s (declared at seq %d) could not be rendered; skipped", key, seq)
            self.generated[key] = seq
            return
        for document in documents:
            await store.put(object_name(key, document.name), document.data)
        declared = next(e.body for s, e in events if s == seq)
        assert isinstance(declared, ResultsDeclared)
        index = DocumentsIndex(
            session=session, results=declared.status, declared_seq=seq, documents=[d.info for d in documents]
        )
        await store.put(object_name(key, INDEX), msgspec.json.encode(index))
        self.generated[key] = seq
        log.info("documents of %s (%s results, seq %d) stored: %d", key, declared.status, seq, len(documents))
