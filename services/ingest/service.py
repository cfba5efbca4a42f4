"""The ingest service: a FastStream request/reply shell around :mod:`services.ingest.rules`.

A producer sends one event to ``chequered.ingest.<session key>`` and gets an
``Accepted`` (stream sequence, duplicate or not) or a ``Rejected`` (code and a
reason it can read). Every rejection is also stored in the rejects stream for
operations (``chequered rejects``). Requests are handled one at a time, in
arrival order, so the ledger's view of a session is never stale.
"""

from __future__ import annotations

import logging

import msgspec
from faststream.nats import NatsMessage
from nats.errors import TimeoutError as NatsTimeout
from nats.js.errors import APIError

from schemas.events import Event, decode_event, encode_event
from schemas.ingest import Accepted, IngestReply, RejectCode, Rejected, RejectedEvent
from schemas.subjects import EVENTS_PREFIX, INGEST_PREFIX, events_subject, rejects_subject, session_key_of
from services.broker.reader import StreamTail
from services.broker.shell import NatsShell
from services.broker.topology import Topology
from services.ingest.rules import IngestLedger, decode_submission

log = logging.getLogger("chequered.ingest")

_encode = msgspec.json.Encoder().encode


class IngestService(NatsShell):
    def __init__(self, nats_url: str, topology: Topology | None = None) -> None:
        super().__init__(nats_url, topology)
        self.ledger = IngestLedger()
        self.broker.subscriber(f"{INGEST_PREFIX}.>", title="ingest")(self._handle)
        self.accepted = 0
        self.rejected = 0

    async def start(self) -> None:
        await self.connect()
        await self._load_ledger()
        await self.broker.start()
        await self.broker.connection.flush()  # the subscription is live before start() returns

    async def stop(self) -> None:
        await self.broker.stop()

    async def _load_ledger(self) -> None:
        """Rebuild the ledger from the log, so a restarted ingest judges as before."""
        async with StreamTail(self.js, f"{EVENTS_PREFIX}.>") as tail:
            async for batch in tail.to_head():
                for stored in batch:
                    try:
                        event = decode_event(stored.data)
                    except msgspec.MsgspecError as error:
                        log.error("stream message %d is not an event (%s); ignored", stored.seq, error)
                        continue
                    self.ledger.admit(event, stored.seq)

    async def _handle(self, msg: NatsMessage) -> bytes:
        subject = msg.raw_message.subject
        reply = await self.submit(subject, msg.body)
        return _encode(reply)

    async def submit(self, subject: str, data: bytes) -> IngestReply:
        decoded = decode_submission(subject, data)
        if isinstance(decoded, Rejected):
            return await self._reject(subject, data, decoded, None)
        event = decoded
        duplicate = self.ledger.duplicate_of(event)
        if duplicate is not None:
            return duplicate
        problem = self.ledger.check(event)
        if problem is not None:
            return await self._reject(subject, data, problem, event)
        try:
            ack = await self.js.publish(
                events_subject(event.session),
                encode_event(event),
                headers={"Nats-Msg-Id": event.msg_id},
                timeout=5.0,
            )
        except (NatsTimeout, APIError) as error:
            log.warning("stream did not acknowledge %s: %s", event.msg_id, error)
            return Rejected(RejectCode.UNAVAILABLE, f"the stream did not acknowledge ({error}); retry with the same id")
        self.ledger.admit(event, ack.seq)
        self.accepted += 1
        return Accepted(seq=ack.seq, duplicate=bool(ack.duplicate))

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
