"""Connecting to NATS: the URL comes from ``--nats``, ``NATS_URL``, or the embedded broker."""

from __future__ import annotations

import asyncio
import logging
import os

import nats
from nats.aio.client import Client

NATS_URL_ENV = "NATS_URL"

log = logging.getLogger("chequered.nats")


def configured_url(explicit: str | None = None) -> str | None:
    """The NATS URL the user asked for, or None to mean 'start the embedded broker'."""
    return explicit or os.environ.get(NATS_URL_ENV) or None


def servers(url: str) -> list[str]:
    """``nats://a:4222,nats://b:4222`` -> every server of a cluster, for fail-over."""
    return [part.strip() for part in url.split(",") if part.strip()]


async def _connection_error(error: Exception) -> None:
    """One line, not nats-py's traceback per attempt: a broker away is expected, and said once it matters."""
    log.debug("NATS connection: %r", error)


class BrokerUnreachable(RuntimeError):
    """No NATS server answered at the URL in time; the message says what to do."""


async def connect(url: str, name: str, *, within: float | None = None) -> Client:
    """A connection that reconnects for ever once made; the first connection is tried for ever too, or for
    ``within`` seconds (then :class:`BrokerUnreachable`): a command gives up, a service waits."""
    connecting = nats.connect(
        servers(url), name=name, max_reconnect_attempts=-1, reconnect_time_wait=0.5, error_cb=_connection_error
    )
    if within is None:
        return await connecting
    try:
        return await asyncio.wait_for(connecting, within)
    except TimeoutError:
        raise BrokerUnreachable(
            f"no NATS server answers at {url} (waited {within:.0f} s): start one with chequered serve, "
            "or check --nats and $NATS_URL"
        ) from None
