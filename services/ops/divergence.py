"""Where a served classification and a fresh fold of the log disagree (pure; ``chequered verify`` reads both)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from schemas.events import CarBody, Event
from schemas.results import Classification
from services.classification.fold import classification_until


@dataclass
class Divergence:
    session: str
    differences: list[str]
    seq: int | None
    """The event from which the served value and the log disagree."""
    event: str


def _diff(path: str, served: Any, fresh: Any, out: list[str]) -> None:
    if served == fresh:
        return
    if isinstance(served, dict) and isinstance(fresh, dict):
        for key in sorted(set(served) | set(fresh)):
            _diff(f"{path}.{key}", served.get(key), fresh.get(key), out)
    elif isinstance(served, list) and isinstance(fresh, list) and len(served) == len(fresh):
        for i, (a, b) in enumerate(zip(served, fresh, strict=True)):
            _diff(f"{path}[{i}]", a, b, out)
    else:
        out.append(f"{path}: served {served!r}, log says {fresh!r}")


def compare(served: Classification, events: list[tuple[int, Event]]) -> Divergence | None:
    """None when the served value equals the fold of ``events`` up to its ``last_seq``."""
    fresh = classification_until(events, served.session, seq=served.last_seq)
    if fresh is not None and msgspec.json.encode(fresh) == msgspec.json.encode(served):
        return None
    differences: list[str] = []
    served_cars = {c.number: msgspec.to_builtins(c) for c in served.cars}
    fresh_cars = {c.number: msgspec.to_builtins(c) for c in fresh.cars} if fresh else {}
    cars: set[str] = set()
    for number in sorted(set(served_cars) | set(fresh_cars)):
        before = len(differences)
        _diff(f"car #{number}", served_cars.get(number), fresh_cars.get(number), differences)
        if len(differences) > before:
            cars.add(number)
    served_rest = {k: v for k, v in msgspec.to_builtins(served).items() if k != "cars"}
    fresh_rest = {k: v for k, v in msgspec.to_builtins(fresh).items() if k != "cars"} if fresh else {}
    _diff("session", served_rest, fresh_rest, differences)
    culprit = None
    for seq, event in events:
        if seq > served.last_seq:
            break
        body = event.body
        if (isinstance(body, CarBody) and body.number in cars) or (not cars and not isinstance(body, CarBody)):
            culprit = (seq, event)
    if culprit is None:
        return Divergence(served.session.key, differences, None, "no event of the log explains the served value")
    seq, event = culprit
    return Divergence(served.session.key, differences, seq, named(seq, event))


def named(seq: int, event: Event) -> str:
    """An event as a divergence names it."""
    return f"{type(event.body).__name__} {event.msg_id} at seq {seq}"
