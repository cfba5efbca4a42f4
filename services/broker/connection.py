"""Connecting to NATS: the URL comes from ``--nats``, ``NATS_URL``, or the embedded broker.

A URL with credentials (``nats://timing:PASSWORD@host:4222``) connects as that user, with the inbox prefix
``_INBOX.<user>``: ``deploy/nats/accounts.conf`` lets each role subscribe only to its own prefix, so no user
can read another's replies (``CHEQUERED_INBOX_PREFIX`` sets another prefix for servers of your own; ingest
answers only under ``_INBOX.``). A user with an empty password is refused here, as the server refuses one that
is not set.
"""

from __future__ import annotations

import os
import re
from urllib.parse import urlsplit

import nats
from nats.aio.client import DEFAULT_INBOX_PREFIX, Client

NATS_URL_ENV = "NATS_URL"
INBOX_PREFIX_ENV = "CHEQUERED_INBOX_PREFIX"
_TOKEN = re.compile(r"^[A-Za-z0-9_-]+$")


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


async def connect(url: str, name: str) -> Client:
    return await nats.connect(
        servers(url), name=name, max_reconnect_attempts=-1, reconnect_time_wait=0.5, inbox_prefix=inbox_prefix(url)
    )
