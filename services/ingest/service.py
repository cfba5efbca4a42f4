"""The ingest service: a FastStream request/reply shell around :mod:`services.ingest.rules`.

A producer sends one event to ``chequered.ingest.<session key>`` and gets an
``Accepted`` (stream sequence, duplicate or not) or a ``Rejected`` (code and a
reason it can read). Every rejection is also stored in the rejects stream for
operations (``chequered rejects``). Requests are handled one at a time, in
arrival order, so the ledger's view of a session is never stale.
"""

from __future__ import annotations

import asyncio
import logging

import msgspec
from faststream.nats import NatsMessage
from nats.errors import Error as NatsError
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import PubAck
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
_batch_decoder = msgspec.json.Decoder(list[msgspec.Raw])
ACK_TIMEOUT_S = 5.0


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

    async def _load_ledger(self, session_key: str | None = None) -> None:
        """Rebuild the ledger (of one session, or all) from the log: the stream is the truth."""
        if session_key is not None:
            self.ledger.sessions.pop(session_key, None)
        subject = f"{EVENTS_PREFIX}.{session_key}" if session_key else f"{EVENTS_PREFIX}.>"
        async with StreamTail(self.js, subject) as tail:
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
        body = msg.body
        if body[:1] == b"[":  # a batch: a JSON array of events, answered by an array of replies
            try:
                items = [bytes(raw) for raw in _batch_decoder.decode(body)]
            except msgspec.MsgspecError as error:
                return _encode(await self._reject(subject, body, Rejected(RejectCode.MALFORMED, str(error)), None))
            return _encode(await self.submit_many(subject, items))
        return _encode((await self.submit_many(subject, [body]))[0])

    async def submit(self, subject: str, data: bytes) -> IngestReply:
        return (await self.submit_many(subject, [data]))[0]

    async def submit_many(self, subject: str, items: list[bytes]) -> list[IngestReply]:
        """Judge each event in order (each against the ledger as the ones before it leave it), publish
        the accepted ones pipelined, and answer once the stream has acknowledged them."""
        replies: list[IngestReply | None] = [None] * len(items)
        in_flight: list[tuple[int, Event, asyncio.Future[PubAck]]] = []
        repeats: list[tuple[int, Event]] = []
        for i, data in enumerate(items):
            decoded = decode_submission(subject, data)
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
        unsettled: set[str] = set()
        for i, event, future in in_flight:
            try:
                ack = await asyncio.wait_for(future, ACK_TIMEOUT_S)
            except (TimeoutError, NatsError) as error:
                log.warning("stream did not acknowledge %s: %s", event.msg_id, error)
                replies[i] = Rejected(
                    RejectCode.UNAVAILABLE, f"the stream did not acknowledge ({error!r}); retry with the same id"
                )
                unsettled.add(event.session.key)
                continue
            self.ledger.admit(event, ack.seq)
            self.accepted += 1
            replies[i] = Accepted(seq=ack.seq, duplicate=bool(ack.duplicate))
        for key in sorted(unsettled):
            await self._load_ledger(key)  # forget what was admitted provisionally and not stored
        for i, event in repeats:
            replies[i] = self.ledger.duplicate_of(event) or Rejected(
                RejectCode.UNAVAILABLE, "what this repeats was not stored; retry with the same id"
            )
        settled = [reply for reply in replies if reply is not None]
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
