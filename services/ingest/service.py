"""The ingest service: a FastStream request/reply shell around :mod:`services.ingest.rules`.

A producer sends one event to ``chequered.ingest.<session key>`` and gets an
``Accepted`` (stream sequence, duplicate or not) or a ``Rejected`` (code and a
reason it can read); a batch (a JSON array) gets an array of replies, and a
batch that cannot be read as one gets an array of a single rejection, which
applies to every event in it. Every rejection is also stored in the rejects
stream for operations (``chequered rejects``). Requests are judged one at a
time, in arrival order, each against the ledger as the ones before it left it;
each is then stored and answered in its stage, in the same order, while the
next is judged (:mod:`services.ingest.stages`: what happens when the request
before was not stored).

A request's events that may be stored go to the stream as one atomic batch
(:class:`~services.broker.publisher.AtomicBatch`): one acknowledgement for all
of them, instead of one each, and the broker storing one request while ingest
judges the next, is what lets ingest take tens of thousands of events a
second. The batch keeps each event's
``Nats-Msg-Id``; one the stream turns down as a whole for holding an id it already
has (another writer stored it: ingest's ledger never sends a repeat) is published
again event by event, so each event still gets its own answer (``duplicate`` with
the first sequence).

Acknowledged means stored: ``Accepted`` is sent only for an event the stream
acknowledged. An event the stream refused (a full disk: ``storage_full``), did
not acknowledge in time, or that could not be sent (``unavailable``) is
forgotten by the ledger (it is read again from the log), so its retry is
judged afresh. Ingest answers only to inboxes: a request whose reply subject is
anything else is refused and kept, never answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from typing import Any, NamedTuple

import msgspec
from faststream.nats import NatsMessage
from faststream.nats.subscriber.usecases import LogicSubscriber as NatsSubscriber
from nats.errors import Error as NatsError

from schemas.events import Event, encode_event
from schemas.ingest import (
    MAX_BATCH_EVENTS,
    MAX_KEPT_PAYLOAD,
    RETRYABLE,
    Accepted,
    IngestReply,
    RejectCode,
    Rejected,
    RejectedEvent,
    RequestTag,
)
from schemas.subjects import (
    EVENTS_STREAM,
    INGEST_PREFIX,
    events_subject,
    rejects_subject,
    session_key_of,
)
from services.broker.connection import settled
from services.broker.lease import Lease
from services.broker.publisher import (
    BATCH_DUPLICATE,
    BATCH_NOT_ALLOWED,
    Ack,
    PipelinedPublisher,
    StoreRefused,
)
from services.broker.reader import read_batches
from services.broker.shell import NatsShell
from services.broker.topology import Topology
from services.ingest.rules import (
    MSG_ID_HEADER,
    IngestLedger,
    clip,
    decode_submission,
    fingerprint,
    reply_problem,
    size_problem,
    stored_size,
)
from services.ingest.stages import Stages, held
from services.observability import INGESTED
from services.tasks import cancel

log = logging.getLogger("chequered.ingest")

STOP_DRAIN_S = 1.0
"""How long a stop waits for the requests judged to be stored and answered: well within the grace a process's
services have to stop together (``runtime.STOP_GRACE_S``). A producer sends again what was not answered."""
_encode = msgspec.json.Encoder().encode
_batch_decoder = msgspec.json.Decoder(list[msgspec.Raw])
ACK_TIMEOUT_S = 5.0
"""How long a request waits for the stream's acknowledgements, all of them together."""
_NO_ACK = TimeoutError(f"no acknowledgement within {ACK_TIMEOUT_S:g}s")
_NOT_SETTLED = Rejected(RejectCode.UNAVAILABLE, "the stream is not answering; retry with the same id")


async def _raw_body(message: NatsMessage) -> bytes:
    """The request as sent: ingest decodes it itself (the default decoder would parse JSON to discard it)."""
    return message.body


def _outcome(reply: IngestReply) -> str:
    if isinstance(reply, Accepted):
        return "duplicate" if reply.duplicate else "accepted"
    return "unavailable" if reply.code is RejectCode.UNAVAILABLE else "rejected"


def _not_stored(error: BaseException) -> Rejected:
    if isinstance(error, StoreRefused) and error.storage_full:
        return Rejected(
            RejectCode.STORAGE_FULL,
            f"the stream has no room ({error.description}): nothing was stored; retry with the same id later",
        )
    return Rejected(RejectCode.UNAVAILABLE, clip(f"the stream did not store it ({error!r}); retry with the same id"))


class _Admitted(NamedTuple):
    """An event of a request admitted to be stored, with what storing it takes."""

    place: int
    """Its place in the request."""
    key: str
    """Its session's."""
    subject: str
    """Where it is stored."""
    msg_id: str
    digest: bytes
    encoded: bytes


class _Judged(NamedTuple):
    """A request judged: what is answered already, what is to be stored, what repeats an event stored before."""

    single: bool
    """One event, answered by one reply (not an array)."""
    replies: list[IngestReply | None]
    admitted: list[_Admitted]
    repeats: list[tuple[int, str, str]]
    """(place, session key, id) of each event that repeats one stored (answered with its sequence)."""

    @classmethod
    def all(cls, single: bool, reply: IngestReply) -> _Judged:
        """A request answered as a whole by ``reply`` (a batch by an array of it alone, which the producer client
        applies to every event)."""
        return cls(single, [reply], [], [])


def _could_not(error: BaseException) -> Rejected:
    return Rejected(RejectCode.UNAVAILABLE, clip(f"ingest could not judge this ({error!r}); retry"))


def _not_followed(tag: RequestTag) -> Rejected:
    return Rejected(
        RejectCode.UNAVAILABLE,
        f"request {tag.follows} of {tag.stream}, which this one follows, has not reached ingest: nothing was "
        "stored; send it again once that one is answered",
    )


_AHEAD_NOT_STORED = Rejected(
    RejectCode.UNAVAILABLE,
    "a request judged before this one was not all stored: nothing of this one was stored; send it again",
)


class IngestService(NatsShell):
    """Ingest, alone (``instance`` None), or as one ``instance`` of several of which the one holding the
    ``ingest`` lease answers and the others stand by: when the active one stops renewing it (killed, cut
    off), another takes the lease within about two seconds, reads the ledger from the log and answers.
    Producers retry with the same ids meanwhile, so nothing is lost or stored twice."""

    role = "ingest"

    def __init__(self, nats_url: str, topology: Topology | None = None, *, instance: str | None = None) -> None:
        super().__init__(nats_url, topology)
        self.ledger = IngestLedger()
        self.instance = instance
        self.accepted = 0
        self.rejected = 0
        self.active = False
        """Answering requests now (standing by: False)."""
        self._started = False
        self._unsettled: set[str] = set()
        """Sessions whose ledger holds provisional admissions the stream may not have stored."""
        self._subscriber: NatsSubscriber[Any] | None = None
        self._lease: Lease | None = None
        self._lease_task: asyncio.Task[None] | None = None
        self._publisher: PipelinedPublisher | None = None
        self._kept: list[asyncio.Future[Ack]] = []
        """Rejections on their way to the rejects stream (awaited, with the events, before answering)."""
        self._stages = Stages()

    @property
    def ready(self) -> bool:
        """Started, connected, and (as one of several instances) still taking part in the lease."""
        return self._started and self.healthy

    def flushed(self) -> str:
        return f"ingest acknowledged {self.accepted:,} events, each stored in the stream first"

    async def start(self) -> None:
        await self.connect()
        await self.broker.start()
        self._publisher = PipelinedPublisher(self.nc)
        await self._publisher.start()
        if self.instance is None:
            await self._activate()
        else:
            self._lease = Lease(self.js, "ingest", self.instance, self._activate, self._deactivate)
            self._lease_task = self.spawn(self._lease.run(), "ingest-lease")
        self._started = True

    async def stop(self) -> None:
        self.stopping.set()
        if self._lease_task is not None:
            await cancel(self._lease_task)
        await self._stages.drained(STOP_DRAIN_S)  # the requests judged are stored and answered
        self._stages.cancel()
        if self._lease is not None:
            await self._lease.release()  # a standby takes over now, not after the lease expires
        if self._publisher is not None:
            with contextlib.suppress(NatsError):
                await self._publisher.stop()
        await self.disconnect()

    async def _activate(self) -> None:
        """Read the ledger from the log (all a previous holder stored is there), then answer."""
        self.ledger = await self._load_ledger()
        self._unsettled.clear()
        if self._subscriber is None:
            # no_reply: ingest answers itself, and only to an inbox (see _handle)
            self._subscriber = self.broker.subscriber(
                f"{INGEST_PREFIX}.>", title="ingest", decoder=_raw_body, persistent=False, no_reply=True
            )
            self._subscriber(self._handle)
        await self._subscriber.start()
        await settled(self.nc)  # the subscription is live before this returns
        self.active = True
        if self.instance is not None:
            log.info("ingest %s is answering", self.instance)

    async def _deactivate(self) -> None:
        self.active = False
        if self._subscriber is not None:
            await self._subscriber.stop()

    async def _load_ledger(self, session_key: str | None = None) -> IngestLedger:
        """A ledger (of one session, or all) read from the log: the stream is the truth."""
        ledger = IngestLedger()
        async for batch in read_batches(self.js, session_key):
            for seq, event in batch:
                ledger.admit(event, seq, fingerprint(encode_event(event)))
        return ledger

    async def _settle(self, session_key: str) -> bool:
        """Forget what was admitted provisionally and not stored; False while the stream cannot be read."""
        try:
            fresh = await asyncio.wait_for(self._load_ledger(session_key), ACK_TIMEOUT_S)
        except (TimeoutError, NatsError) as error:
            log.warning("session %s not settled yet (%r); its events are answered 'unavailable'", session_key, error)
            return False
        self.ledger.sessions.pop(session_key, None)
        self.ledger.sessions.update(fresh.sessions)
        self._unsettled.discard(session_key)
        return True

    async def _handle(self, body: bytes) -> None:
        # The subject comes from the message context, not from a ``NatsMessage`` parameter: FastStream
        # resolves such a parameter with a synchronous call it hands to a worker thread, a thread hop per
        # request that cost a third of the ingest process's CPU at 200 events/s.
        message: NatsMessage = self.broker.context.get_local("message")
        subject, reply = message.raw_message.subject, message.raw_message.reply
        if reply and (refused := reply_problem(reply)):
            log.warning("request to %s refused: %s", subject, refused.reason)
            await self._refuse(subject, body, refused, None)
            await self._kept_now()
            return
        tag = RequestTag.of(message.raw_message.headers)
        await self._stages.room()
        before = self._stages.last  # still storing: this request is judged with its events as admitted
        followed = self._stages.followed(tag) if tag is not None and tag.follows is not None else None
        single = body[:1] != b"["
        try:
            if tag is not None and tag.follows is not None and followed is None:
                judged = _Judged.all(single, _not_followed(tag))
            else:
                judged = await self._judge(subject, body, single)
        except Exception as error:  # a producer always gets an answer, and ingest keeps going
            log.exception("ingest failed on a request to %s", subject)
            judged = _Judged.all(single, _could_not(error))
            if (key := session_key_of(subject, INGEST_PREFIX)) is not None:
                self._unsettled.add(key)  # what it admitted before it failed is forgotten
        stage = asyncio.create_task(self._stage(subject, reply, judged, before, followed))
        self._stages.add(stage, tag)

    async def _stage(
        self,
        subject: str,
        reply: str | None,
        judged: _Judged,
        before: asyncio.Task[bool] | None,
        followed: asyncio.Task[bool] | None,
    ) -> bool:
        """Store a judged request once the request before it is stored, and answer it: True when it held (every
        event stored or refused for good)."""
        try:
            if before is not None:
                await asyncio.wait([before])
            ahead_held = (before is None or held(before)) and (followed is None or held(followed))
            replies = await self._stored(judged, ahead_held)
        except Exception as error:  # a producer always gets an answer, and ingest keeps going
            log.exception("ingest failed to store a request to %s", subject)
            replies = [_could_not(error)] * len(judged.replies)
            self._unsettled.update(one.key for one in judged.admitted)
        if reply:
            answer = replies[0] if judged.single else replies
            try:
                await self.nc.publish(reply, self._encode_answer(answer))
            except NatsError as error:  # the producer retries with the same ids: nothing is lost
                log.warning("could not answer a request to %s: %r", subject, error)
        return not any(isinstance(r, Rejected) and r.code in RETRYABLE for r in replies)

    def _encode_answer(self, answer: IngestReply | list[IngestReply]) -> bytes:
        data = _encode(answer)
        if len(data) <= self.nc.max_payload or not isinstance(answer, list):
            return data
        # a huge batch of refusals: the codes alone (the reasons are in the rejects stream)
        return _encode([Rejected(r.code, r.code.value) if isinstance(r, Rejected) else r for r in answer])

    async def _judge(self, subject: str, body: bytes, single: bool) -> _Judged:
        if single:
            return await self._judged(subject, [body], single=True)
        try:
            items = [bytes(raw) for raw in _batch_decoder.decode(body)]
        except msgspec.MsgspecError as error:
            refused = Rejected(RejectCode.MALFORMED, clip(f"not a JSON array of events: {error}"))
        else:
            if len(items) <= MAX_BATCH_EVENTS:
                return await self._judged(subject, items, single=False)
            refused = Rejected(
                RejectCode.TOO_LARGE,
                f"a batch holds at most {MAX_BATCH_EVENTS:,} events, this one {len(items):,}: send it in parts",
            )
        await self._refuse(subject, body, refused, None)
        return _Judged.all(single, refused)

    async def _judged(self, subject: str, items: list[bytes], *, single: bool) -> _Judged:
        """Judge each event in order, each against the ledger as the ones before it leave it (those admitted are
        in it provisionally, until the request's stage has stored them)."""
        key = session_key_of(subject, INGEST_PREFIX)
        if key in self._unsettled:
            await self._stages.drained()  # the log holds all that will be stored of it
            if not await self._settle(key):
                return _Judged(single, [_NOT_SETTLED] * len(items), [], [])
        judged = _Judged(single, [None] * len(items), [], [])
        replies = judged.replies
        target = ""  # where the request's events are stored: every one is of its subject's session
        max_payload = self.nc.max_payload  # read once: through the broker's properties it costs 0.4 us
        for i, data in enumerate(items):
            decoded = decode_submission(subject, data, key)
            if isinstance(decoded, Rejected):
                replies[i] = await self._refuse(subject, data, decoded, None)
                continue
            event = decoded
            assert key is not None  # decode_submission refuses an event that is not of the subject's session
            encoded = encode_event(event)
            digest = fingerprint(encoded)
            msg_id = event.msg_id  # worked out once: each time costs 0.6 µs
            known = self.ledger.known(key, msg_id)
            if known is not None:
                if known[1] == digest:
                    judged.repeats.append((i, key, msg_id))  # answered once what it repeats has its sequence
                else:
                    replies[i] = await self._conflict(subject, data, event, known[0])
                continue
            problem = self.ledger.check(event) or size_problem(stored_size(msg_id, encoded), max_payload)
            if problem is not None:
                replies[i] = await self._refuse(subject, data, problem, event)
                continue
            self.ledger.admit(event, 0, digest)  # provisional: the events after it are judged with it
            target = target or events_subject(event.session)
            judged.admitted.append(_Admitted(i, key, target, msg_id, digest, encoded))
        return judged

    async def _stored(self, judged: _Judged, ahead_held: bool) -> list[IngestReply]:
        """Store the admitted events (several as one atomic batch; one alone on its own: a batch would store its
        headers with it and save nothing) and answer each once the stream has acknowledged it. Nothing is stored
        when what was ahead of the request did not hold."""
        replies, admitted = judged.replies, judged.admitted
        if admitted and not ahead_held:
            for one in admitted:
                replies[one.place] = _AHEAD_NOT_STORED
                self._unsettled.add(one.key)
        elif admitted and (len(replies) == 1 or not await self._stored_as_batch(admitted, replies)):
            await self._acknowledged(await self._sent_one_by_one(admitted, replies), replies)
        for unsettled in sorted(self._unsettled):
            await self._settle(unsettled)
        for i, key, msg_id in judged.repeats:
            replies[i] = self.ledger.duplicate_of(key, msg_id) or Rejected(
                RejectCode.UNAVAILABLE, "what this repeats was not stored; retry with the same id"
            )
        await self._kept_now()
        settled = [reply for reply in replies if reply is not None]
        for outcome, count in Counter(_outcome(reply) for reply in settled).items():
            INGESTED.labels(outcome).inc(count)
        assert len(settled) == len(replies), "every event gets an answer"
        return settled

    def _not_stored(self, admitted: list[_Admitted], replies: list[IngestReply | None], error: BaseException) -> None:
        """Answer ``admitted`` as not stored; their sessions' ledgers are read from the log again."""
        refused = _not_stored(error)
        for one in admitted:
            replies[one.place] = refused
            self._unsettled.add(one.key)

    async def _stored_as_batch(self, admitted: list[_Admitted], replies: list[IngestReply | None]) -> bool:
        """Store ``admitted`` as one atomic batch and record the answers; False when the stream turned it down for
        an id it already has, or takes no batches: then nothing of it was stored, and each is sent on its own."""
        assert self._publisher is not None
        batch = self._publisher.batch()
        try:
            for one in admitted:
                batch.add(one.subject, one.encoded, {MSG_ID_HEADER: one.msg_id})
            committed = await batch.commit()
        except NatsError as error:
            log.warning("could not send a batch to the stream: %r", error)
            self._not_stored(admitted, replies, error)
            return True
        try:
            acks = await asyncio.wait_for(committed, ACK_TIMEOUT_S)
        except StoreRefused as refused:
            if refused.err_code in (BATCH_DUPLICATE, BATCH_NOT_ALLOWED):
                log.info("a batch of %d events sent again one by one: %s", len(admitted), refused.description)
                return False
            log.warning("stream did not store a batch of %d events: %r", len(admitted), refused)
            self._not_stored(admitted, replies, refused)
            return True
        except (NatsError, TimeoutError) as error:
            log.warning("stream did not store a batch of %d events: %r", len(admitted), error)
            self._not_stored(admitted, replies, error if isinstance(error, NatsError) else _NO_ACK)
            return True
        for one, ack in zip(admitted, acks, strict=True):
            self.ledger.stored(one.key, one.msg_id, ack.seq, one.digest)
            replies[one.place] = Accepted(seq=ack.seq)
        self.accepted += len(admitted)
        return True

    async def _sent_one_by_one(
        self, admitted: list[_Admitted], replies: list[IngestReply | None]
    ) -> list[tuple[_Admitted, asyncio.Future[Ack]]]:
        """Publish each event pipelined, in order; once one cannot be sent, nor are the ones after it."""
        assert self._publisher is not None
        in_flight: list[tuple[_Admitted, asyncio.Future[Ack]]] = []
        halted: Rejected | None = None
        for one in admitted:
            if halted is not None:
                replies[one.place] = halted
                self._unsettled.add(one.key)
                continue
            try:
                future = await self._publisher.publish(one.subject, one.encoded, {MSG_ID_HEADER: one.msg_id})
            except NatsError as error:
                log.warning("could not send %s to the stream: %r", one.msg_id, error)
                self._unsettled.add(one.key)
                replies[one.place] = halted = _not_stored(error)
                continue
            in_flight.append((one, future))
        return in_flight

    async def _acknowledged(
        self, in_flight: list[tuple[_Admitted, asyncio.Future[Ack]]], replies: list[IngestReply | None]
    ) -> None:
        """Wait for the stream's answers, all within one :data:`ACK_TIMEOUT_S`, and record them."""
        if not in_flight:
            return
        await asyncio.wait([future for _, future in in_flight], timeout=ACK_TIMEOUT_S)
        for one, future in in_flight:
            error: BaseException | None
            if not future.done():
                future.cancel()
                error = _NO_ACK
            else:
                error = future.exception()
            if error is not None:
                log.warning("stream did not store %s: %r", one.msg_id, error)
                replies[one.place] = _not_stored(error)
                self._unsettled.add(one.key)
                continue
            ack = future.result()
            self.ledger.stored(one.key, one.msg_id, ack.seq, one.digest)  # admitted provisionally before it was sent
            self.accepted += 1
            replies[one.place] = Accepted(seq=ack.seq, duplicate=ack.duplicate)

    async def _conflict(self, subject: str, data: bytes, event: Event, seq: int) -> Rejected:
        """The id was stored with other content: refused, and kept with both versions."""
        stored: str | None = None
        if seq:
            with contextlib.suppress(NatsError):
                stored = ((await self.js.get_msg(EVENTS_STREAM, seq)).data or b"").decode("utf-8", "replace")
        refused = Rejected(
            RejectCode.CONFLICT,
            f"event {event.id} of {event.producer} was stored at seq {seq} with other content: an id names one "
            "event for ever; give a changed event a new id",
        )
        return await self._refuse(subject, data, refused, event, stored_seq=seq or None, stored_payload=stored)

    async def _refuse(
        self,
        subject: str,
        data: bytes,
        rejected: Rejected,
        event: Event | None,
        *,
        stored_seq: int | None = None,
        stored_payload: str | None = None,
    ) -> Rejected:
        """Count a refusal and send it to the rejects stream (acknowledged with the request's events)."""
        assert self._publisher is not None
        self.rejected += 1
        record = RejectedEvent(
            subject=subject,
            code=rejected.code,
            reason=rejected.reason,
            payload=data[:MAX_KEPT_PAYLOAD].decode("utf-8", "replace"),
            event_id=event.id if event else None,
            producer=event.producer if event else None,
            payload_bytes=len(data) if len(data) > MAX_KEPT_PAYLOAD else None,
            stored_seq=stored_seq,
            stored_payload=stored_payload,
        )
        encoded = _encode(record)
        if len(encoded) > self.nc.max_payload:  # control characters escape to six times their size
            encoded = _encode(msgspec.structs.replace(record, payload=record.payload[:1024], stored_payload=None))
        target = rejects_subject(session_key_of(subject, INGEST_PREFIX))
        try:
            self._kept.append(await self._publisher.publish(target, encoded, {}))
        except NatsError as error:
            log.error("could not store rejection of %s (%s): %r", subject, rejected.reason, error)
        return rejected

    async def _kept_now(self) -> None:
        """Wait (within :data:`ACK_TIMEOUT_S`) for the rejections sent since the last call to be stored."""
        kept, self._kept = self._kept, []
        if not kept:
            return
        await asyncio.wait(kept, timeout=ACK_TIMEOUT_S)
        for future in kept:
            if not future.done():
                future.cancel()
                log.error("the rejects stream did not acknowledge a rejection in time")
            elif (error := future.exception()) is not None:
                log.error("the rejects stream did not store a rejection: %r", error)
