"""The roles of deploy/nats/accounts.conf in tests: test passwords, and URLs that log in as a role."""

from __future__ import annotations

from services.broker.embedded import EmbeddedNats
from tests.factory import SessionWriter

ROLES = ("services", "timing", "racecontrol", "graphics", "operations", "system")
MY_EVENT = SessionWriter().session
"""The event the timing and race-control users may write to."""


def password(role: str) -> str:
    return f"test-{role}-secret"


def role_environment() -> dict[str, str]:
    """What a server running accounts.conf needs in its environment."""
    return {
        **{f"CHEQUERED_{role.upper()}_PASSWORD": password(role) for role in ROLES},
        "CHEQUERED_EVENT_INGEST": f"chequered.ingest.{MY_EVENT.championship}.{MY_EVENT.event}.>",
        "CHEQUERED_EVENT_REJECTS": f"chequered.rejects.{MY_EVENT.championship}.{MY_EVENT.event}.>",
    }


def role_url(server: EmbeddedNats, role: str) -> str:
    return f"nats://{role}:{password(role)}@127.0.0.1:{server.port}"
