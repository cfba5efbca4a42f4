"""Connecting to NATS: the URL comes from ``--nats``, ``NATS_URL``, or the embedded broker.

A URL with credentials (``nats://timing:PASSWORD@host:4222``) connects as that user, with the inbox prefix
``_INBOX.<user>``: ``deploy/nats/accounts.conf`` lets each role subscribe only to its own prefix, so no user
can read another's replies (``CHEQUERED_INBOX_PREFIX`` sets another prefix for servers of your own; ingest
answers only under ``_INBOX.``). A user with an empty password is refused here, as the server refuses one that
is not set.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from urllib.parse import urlsplit

import nats
from nats.aio.client import DEFAULT_INBOX_PREFIX, Client

NATS_URL_ENV = "NATS_URL"
INBOX_PREFIX_ENV = "CHEQUERED_INBOX_PREFIX"
_TOKEN = re.compile(r"^[A-Za-z0-9_-]+$")

log = logging.getLogger("chequered.nats")


def configured_url(explicit: str | None = None) -> str | None:
    """The NATS URL the user asked for, or None to mean 'start the embedded broker'."""
    return explicit or os.environ.get(NATS_URL_ENV) or None


def servers(url: str) -> list[str]:
    """``nats://a:4222,nats://b:4222`` -> every server of a cluster, for fail-over; refuses an empty password."""
    found = [part.strip() for part in url.split(",") if part.strip()]
    for server in found:
        parts = urlsplit(server)
        if parts.username and parts.password == "":
            raise ValueError(
                f"the NATS password of user {parts.username!r} is empty: give the password "
                "(an empty password is refused like a missing one)"
            )
    return found


def inbox_prefix(url: str) -> str:
    """``_INBOX.<user>`` for a URL with a user, ``_INBOX`` without one; ``CHEQUERED_INBOX_PREFIX`` wins."""
    if explicit := os.environ.get(INBOX_PREFIX_ENV):
        return explicit
    user = urlsplit(servers(url)[0]).username if url else None
    return f"{DEFAULT_INBOX_PREFIX.decode()}.{user}" if user and _TOKEN.match(user) else DEFAULT_INBOX_PREFIX.decode()


async def _connection_error(error: Exception) -> None:
    """One line, not nats-py's traceback per attempt: a broker away is expected, and said once it matters."""
    log.debug("NATS connection: %r", error)


class BrokerUnreachable(RuntimeError):
    """No NATS server answered at the URL in time; the message says what to do."""


async def connect(url: str, name: str, *, within: float | None = None) -> Client:
    """A connection that reconnects for ever once made; the first connection is tried for ever too, or for
    ``within`` seconds (then :class:`BrokerUnreachable`): a command gives up, a service waits."""
    connecting = nats.connect(
        servers(url),
        name=name,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        inbox_prefix=inbox_prefix(url),
        error_cb=_connection_error,
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


SETTLE_TIMEOUT_S = 10.0


async def settled(nc: Client) -> None:
    """Return once the server has processed every command this client sent before (a subscription just made is
    live).

    nats-py's ``flush`` is not enough: it writes its PING straight to the socket, ahead of the commands still in
    the client's buffer, so its PONG can come back before the server has seen a ``SUB`` made just before (ingest
    said it was ready and the first request still got "no responders", about one start in twenty). A message
    to ourselves goes out behind those commands, in order: once it is back, they were all processed.
    """
    inbox = nc.new_inbox()
    echo = await nc.subscribe(inbox)
    try:
        await nc.publish(inbox, b"")
        await echo.next_msg(timeout=SETTLE_TIMEOUT_S)
    finally:
        await echo.unsubscribe()
