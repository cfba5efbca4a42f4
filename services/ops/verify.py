"""``chequered verify``: is what was served equal to a fresh fold of the log?

For every session in the live bucket, the log is folded afresh up to the
``last_seq`` the served value claims, and the two are compared field by field.
A difference is reported with the event where they diverge: the last event at
or before ``last_seq`` that touched what differs (that car, or the session),
i.e. from that event on the served value and the log disagree
(:func:`~services.ops.divergence.compare`, pure).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError

from schemas.events import SessionRef
from schemas.results import decode_classification
from schemas.subjects import CLASSIFICATION_BUCKET, CLASSIFICATION_PROJECTION
from services.broker.reader import read_events
from services.broker.topology import current_bucket
from services.ops.divergence import Divergence, compare, named


@dataclass
class VerifyReport:
    checked: int = 0
    divergences: list[Divergence] = field(default_factory=list)


async def verify_all(js: JetStreamContext, session: str | None = None) -> VerifyReport:
    """Compare every served classification (or one session's) with a fresh fold of the log. One session of which
    no read model is served: a divergence when the log holds events of it, ``LookupError`` when it holds none (a
    key mistyped: "0 checked, ok" would read as verified)."""
    if session is not None:
        session = SessionRef.parse(session).key
    kv = await js.key_value(await current_bucket(js, CLASSIFICATION_PROJECTION, CLASSIFICATION_BUCKET))
    try:
        keys = sorted(await kv.keys())
    except (KeyNotFoundError, NatsError):
        keys = []
    report = VerifyReport()
    for key in keys:
        if session is not None and key != session:
            continue
        entry = await kv.get(key)
        if not entry.value:
            continue
        report.checked += 1
        divergence = compare(decode_classification(entry.value), await read_events(js, key))
        if divergence is not None:
            report.divergences.append(divergence)
    if session is not None and not report.checked:
        await _unserved(js, session, report)
    return report


async def _unserved(js: JetStreamContext, session: str, report: VerifyReport) -> None:
    events = await read_events(js, session)
    if not events:
        raise LookupError(
            f"the log holds no event of session {session}, and no read model of it is served: check its key "
            "(championship.event.session, as its events name it)"
        )
    seq, last = events[-1]
    served = f"no read model is served, while the log holds {len(events):,} events of it"
    report.divergences.append(Divergence(session, [served], seq, named(seq, last)))
