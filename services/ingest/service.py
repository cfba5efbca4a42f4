"""The ingest service: a FastStream request/reply shell around :mod:`services.ingest.rules`.

A producer sends one event to ``chequered.ingest.<session key>`` and gets an
``Accepted`` (stream sequence, duplicate or not) or a ``Rejected`` (code and a
reason it can read). Every rejection is also stored in the rejects stream for
operations (``chequered rejects``). Requests are handled one at a time, in
arrival order, so the ledger's view of a session is never stale.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from typing import Any

import msgspec
from faststream.nats import NatsMessage
from faststream.nats.subscriber.usecases import LogicSubscriber as NatsSubscriber
from nats.errors import Error as NatsError
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import PubAck
from nats.js.errors import APIError

from schemas.events import Event, decode_event, encode_event
from schemas.ingest import Accepted, IngestReply, RejectCode, Rejected, RejectedEvent
from schemas.subjects import EVENTS_PREFIX, INGEST_PREFIX, events_subject, rejects_subject, session_key_of
from services.broker.lease import Lease
from services.broker.reader import StreamTail
from services.broker.shell import NatsShell
from services.broker.topology import Topology
from services.ingest.rules import IngestLedger, decode_submission
from services.observability import INGESTED

log = logging.getLogger("chequered.ingest")

_encode = msgspec.json.Encoder().encode
_batch_decoder = msgspec.json.Decoder(list[msgspec.Raw])
ACK_TIMEOUT_S = 5.0


async def _raw_body(message: NatsMessage) -> bytes:
    """The request as sent: ingest decodes it itself (the default decoder would parse JSON to discard it)."""
    return message.body


def _outcome(reply: IngestReply) -> str:
    if isinstance(reply, Accepted):
        return "duplicate" if reply.duplicate else "accepted"
    return "unavailable" if reply.code is RejectCode.UNAVAILABLE else "rejected"


class IngestService(NatsShell):
    """Ingest, alone (``instance`` None), or as one ``instance`` of several of which the one holding the
    ``ingest`` lease answers and the others stand by: when the active one stops renewing it (killed, cut
    off), another takes the lease within about two seconds, reads the ledger from the log and answers.
    Producers retry with the same ids meanwhile, so nothing is lost or stored twice."""

    def __init__(self, nats_url: str, topology: Topology | None = None, *, instance: str | None = None) -> None:
        super().__init__(nats_url, topology)
        self.ledger = IngestLedger()
        self.instance = instance
        self.accepted = 0
        self.rejected = 0
        self.ready = False
        self.active = False
        """Answering requests now (standing by: False)."""
        self._unsettled: set[str] = set()
        """Sessions whose ledger holds provisional admissions the stream may not have stored."""
        self._subscriber: NatsSubscriber[Any] | None = None
        self._lease: Lease | None = None
        self._lease_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.connect()
        await self.broker.start()
        if self.instance is None:
            await self._activate()
        else:
            self._lease = Lease(self.js, "ingest", self.instance, self._activate, self._deactivate)
            self._lease_task = asyncio.create_task(self._lease.run(), name="ingest-lease")
        self.ready = True

    async def stop(self) -> None:
        if self._lease_task is not None:
            self._lease_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._lease_task
        if self._lease is not None:
            await self._lease.release()  # a standby takes over now, not after the lease expires
        await self.disconnect()

    async def _activate(self) -> None:
        """Read the ledger from the log (all a previous holder stored is there), then answer."""
        self.ledger = await self._load_ledger()
        self._unsettled.clear()
        if self._subscriber is None:
            self._subscriber = self.broker.subscriber(
                f"{INGEST_PREFIX}.>", title="ingest", decoder=_raw_body, persistent=False
            )
            self._subscriber(self._handle)
        await self._subscriber.start()
        await self.broker.connection.flush()  # the subscription is live before this returns
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
        subject = f"{EVENTS_PREFIX}.{session_key}" if session_key else f"{EVENTS_PREFIX}.>"
        async with StreamTail(self.js, subject) as tail:
            async for batch in tail.to_head():
                for stored in batch:
                    try:
                        event = decode_event(stored.data)
                    except msgspec.MsgspecError as error:
                        log.error("stream message %d is not an event (%s); ignored", stored.seq, error)
                        continue
                    ledger.admit(event, stored.seq)
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

    async def _handle(self, body: bytes) -> bytes:
        # The subject comes from the message context, not from a ``NatsMessage`` parameter: FastStream
        # resolves such a parameter with a synchronous call it hands to a worker thread, a thread hop per
        # request that cost a third of the ingest process's CPU at 200 events/s.
        message: NatsMessage = self.broker.context.get_local("message")
        subject = message.raw_message.subject
        try:
            return await self._answer(subject, body)
        except Exception as error:  # a producer always gets an answer, and ingest keeps going
            log.exception("ingest failed on a request to %s", subject)
            return _encode(Rejected(RejectCode.UNAVAILABLE, f"ingest could not judge this ({error!r}); retry"))

    async def _answer(self, subject: str, body: bytes) -> bytes:
        if body[:1] == b"[":  # a batch: a JSON array of events, answered by an array of replies
            try:
                items = [bytes(raw) for raw in _batch_decoder.decode(body)]
            except msgspec.MsgspecError as error:
                return _encode(await self._reject(subject, body, Rejected(RejectCode.MALFORMED, str(error)), None))
            return _encode(await self.submit_many(subject, items))
        return _encode((await self.submit_many(subject, [body]))[0])

    async def submit_many(self, subject: str, items: list[bytes]) -> list[IngestReply]:
        """Judge each event in order (each against the ledger as the ones before it leave it), publish
        the accepted ones pipelined, and answer once the stream has acknowledged them."""
        key = session_key_of(subject, INGEST_PREFIX)
        if key in self._unsettled and not await self._settle(key):
            unavailable = Rejected(RejectCode.UNAVAILABLE, "the stream is not answering; retry with the same id")
            return [unavailable] * len(items)
        replies: list[IngestReply | None] = [None] * len(items)
        in_flight: list[tuple[int, Event, asyncio.Future[PubAck]]] = []
        repeats: list[tuple[int, Event]] = []
        for i, data in enumerate(items):
            decoded = decode_submission(subject, data, key)
            if isinstance(decoded, Rejected):
                replies[i] = await self._reject(subject, data, decoded, None)
                continue
            event = decoded
            if self.ledger.duplicate_of(event) is not None:
                repeats.append((i, event))  # answered once what it repeats has its sequence
                continue
            problem = self.ledger.check(event)
            if problem is not None:
                replies[i] = await self._reject(subject, data, problem, event)
                continue
            self.ledger.admit(event, 0)  # provisional: the events after it are judged with it
            future = await self.js.publish_async(
                events_subject(event.session), encode_event(event), headers={"Nats-Msg-Id": event.msg_id}
            )
            in_flight.append((i, event, future))
        for i, event, future in in_flight:
            try:
                ack = await asyncio.wait_for(future, ACK_TIMEOUT_S)
            except (TimeoutError, NatsError) as error:
                log.warning("stream did not acknowledge %s: %s", event.msg_id, error)
                replies[i] = Rejected(
                    RejectCode.UNAVAILABLE, f"the stream did not acknowledge ({error!r}); retry with the same id"
                )
                self._unsettled.add(event.session.key)
                continue
            self.ledger.admit(event, ack.seq)
            self.accepted += 1
            replies[i] = Accepted(seq=ack.seq, duplicate=bool(ack.duplicate))
        for unsettled in sorted(self._unsettled):
            await self._settle(unsettled)
        for i, event in repeats:
            replies[i] = self.ledger.duplicate_of(event) or Rejected(
                RejectCode.UNAVAILABLE, "what this repeats was not stored; retry with the same id"
            )
        settled = [reply for reply in replies if reply is not None]
        for outcome, count in Counter(_outcome(reply) for reply in settled).items():
            INGESTED.labels(outcome).inc(count)
        assert len(settled) == len(items), "every event gets an answer"
        return settled

    async def _reject(self, subject: str, data: bytes, rejected: Rejected, event: Event | None) -> Rejected:
        self.rejected += 1
        record = RejectedEvent(
            subject=subject,
            code=rejected.code,
            reason=rejected.reason,
            payload=data.decode("utf-8", "replace"),
            event_id=event.id if event else None,
            producer=event.producer if event else None,
        )
        try:
            await self.js.publish(rejects_subject(session_key_of(subject, INGEST_PREFIX)), _encode(record), timeout=5.0)
        except (NatsTimeout, APIError) as error:
            log.error("could not store rejection of %s (%s): %s", subject, rejected.reason, error)
        return rejected
