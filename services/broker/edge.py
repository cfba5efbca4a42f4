"""The trackside edge: the central stream sources each circuit's stream across a leaf-node link.

A circuit runs its own JetStream server (a leaf node with its own domain) and
its own ingest; the centre's ``CHEQUERED_EVENTS`` adds the circuit's
``CHEQUERED_EVENTS`` as a source through that domain's API. Sourcing is
durable: when the uplink drops, the circuit keeps acknowledging events, and
when it returns the centre copies everything it missed, in order.
"""

from __future__ import annotations

from nats.js import JetStreamContext
from nats.js.api import ExternalStream, StreamSource

from schemas.subjects import EVENTS_STREAM


async def source_from(js: JetStreamContext, domain: str) -> list[str]:
    """Add the circuit of JetStream ``domain`` as a source of the central stream (idempotent).

    Returns the domains the central stream sources from.
    """
    info = await js.stream_info(EVENTS_STREAM)
    config = info.config
    sources = list(config.sources or [])
    api = f"$JS.{domain}.API"
    if not any(s.external is not None and s.external.api == api for s in sources):
        sources.append(StreamSource(name=EVENTS_STREAM, external=ExternalStream(api=api)))
        config.sources = sources
        await js.update_stream(config)
    return [s.external.api.split(".")[1] for s in sources if s.external is not None and s.external.api]
