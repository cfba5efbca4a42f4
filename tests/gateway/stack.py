"""The running stack the gateway tests use, and helpers to drive a session through it."""

from __future__ import annotations

from dataclasses import dataclass

from nats.aio.client import Client

from schemas.events import Event
from schemas.results import Classification
from services.classification.projector import ClassificationProjector
from services.gateway.hub import ClassificationHub
from services.gateway.server import GatewayService
from services.ingest.service import IngestService
from tests.factory import SessionWriter, small_race
from tests.gateway.clients import Received
from tests.live import send
from tests.polling import until


@dataclass
class Stack:
    ingest: IngestService
    projector: ClassificationProjector
    gateway: GatewayService


CARS, LAPS = 4, 6
HEAD = 2 + CARS  # opened, entries, started
PACE_S = 0.02


async def caught_up(hub: ClassificationHub, key: str, seq: int) -> Classification:
    """The classification of ``key`` the hub holds once it has folded the event at ``seq`` (or a later one)."""
    await until(lambda: (c := hub.classification(key)) is not None and c.last_seq >= seq, f"{key} at seq {seq}")
    found = hub.classification(key)
    assert found is not None
    return found


async def opened(nc: Client, gateway: GatewayService) -> tuple[SessionWriter, list[tuple[int, Event]], list[Event]]:
    """A session whose head (opened, entries, start) the gateway already holds; returns its laps to send."""
    w = SessionWriter()
    race = small_race(w, cars=CARS, laps=LAPS)
    head = await send(nc, race[:HEAD])
    hub = gateway.state.hub
    await caught_up(hub, w.session.key, head[-1][0])
    return w, head, race[HEAD:]


def finished(received: Received) -> bool:
    """The message of a ``small_race(cars=CARS, laps=LAPS)`` with every lap folded in."""
    return sum(car.laps for car in received.classification.cars) == CARS * LAPS
