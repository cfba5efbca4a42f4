"""Connecting to NATS: the URL comes from ``--nats``, ``NATS_URL``, or the embedded broker."""

from __future__ import annotations

import os

import nats
from nats.aio.client import Client

NATS_URL_ENV = "NATS_URL"


def configured_url(explicit: str | None = None) -> str | None:
    """The NATS URL the user asked for, or None to mean 'start the embedded broker'."""
    return explicit or os.environ.get(NATS_URL_ENV) or None


def servers(url: str) -> list[str]:
    """``nats://a:4222,nats://b:4222`` -> every server of a cluster, for fail-over."""
    return [part.strip() for part in url.split(",") if part.strip()]


async def connect(url: str, name: str) -> Client:
    return await nats.connect(servers(url), name=name, max_reconnect_attempts=-1, reconnect_time_wait=0.5)
