"""Events of one kind, typed: what the feed tests assert on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from schemas.events import Event

BodyT = TypeVar("BodyT")


@dataclass(frozen=True)
class Of(Generic[BodyT]):
    """An event whose body is known to be a ``BodyT``."""

    id: str
    at: int
    body: BodyT


def of(events: list[Event], kind: type[BodyT]) -> list[Of[BodyT]]:
    return [Of(e.id, e.at, e.body) for e in events if isinstance(e.body, kind)]
