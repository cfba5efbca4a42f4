"""Small hand-made sessions for tests: a readable way to write events."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from hypothesis import strategies as st

from schemas import events
from schemas.results import Classification
from services.classification import snapshot
from services.classification.fold import ClassificationProjection, SessionFold, fold_log

T0 = 1_776_603_600_000  # 2026-04-19T13:00:00Z


@dataclass
class SessionWriter:
    """Builds events of one session with increasing ids; ``at`` is ms after ``T0``."""

    session: events.SessionRef = field(
        default_factory=lambda: events.SessionRef(f"t{uuid.uuid4().hex[:10]}", "event", "race")
    )
    producer: str = "tests"
    start: int = T0
    """The instant ``at`` counts from (signed: a race of 1954 starts before 1970)."""
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    def event(self, body: events.Body, at: int = 0, id: str | None = None) -> events.Event:
        return events.Event(
            id=id or f"e{next(self._ids):06d}",
            session=self.session,
            producer=self.producer,
            at=self.start + at,
            body=body,  # type: ignore[arg-type]
        )

    def opened(
        self,
        kind: events.SessionKind = events.SessionKind.RACE,
        time_ms: int = 3_600_000,
        *,
        laps: int | None = None,
        rules: events.ClassificationRules | None = None,
    ) -> events.Event:
        """The session opened: ``time_ms`` long, or ``laps`` laps when given."""
        return self.event(
            events.SessionOpened(
                name="Test race",
                kind=kind,
                scheduled_start="2026-04-19T15:00:00+02:00",
                time_zone="Europe/Rome",
                length=events.SessionLength(laps=laps) if laps else events.SessionLength(time_ms=time_ms),
                rules=rules or events.ClassificationRules(),
            )
        )

    def lap(self, number: str, lap: int, at: int, lap_time_ms: int = 100_000, **kwargs: object) -> events.Event:
        return self.event(events.LapCompleted(number=number, lap=lap, lap_time_ms=lap_time_ms, **kwargs), at)  # type: ignore[arg-type]

    def entry(self, number: str, class_name: str = "Pro", driver: str = "A. Driver") -> events.Event:
        return self.event(
            events.EntryRegistered(
                number=number,
                class_name=class_name,
                team=f"Team {number}",
                car="GT3",
                manufacturer="Maker",
                crew=[events.Driver(driver), events.Driver(f"{driver} II")],
            )
        )


def started_grid(w: SessionWriter, cars: int) -> list[events.Event]:
    """Opened, cars 1 to ``cars`` registered (Am and Pro in turn), started at 0."""
    grid = [w.entry(str(n), ("Pro", "Am")[n % 2]) for n in range(1, cars + 1)]
    return [w.opened(), *grid, w.event(events.SessionStarted(), 0)]


def small_race(w: SessionWriter, cars: int = 6, laps: int = 12) -> list[events.Event]:
    """Opened, ``cars`` entries (Pro and Am), started, ``laps`` laps each: every car laps at 100 s, car 1 first
    on the road."""
    log = started_grid(w, cars)
    log += [
        w.lap(str(n), lap, lap * 100_000 + n * 137 + (lap * n) % 50, lap_time_ms=100_000)
        for lap in range(1, laps + 1)
        for n in range(1, cars + 1)
    ]
    return log


def drawn_laps(
    draw: st.DrawFn, w: SessionWriter, cars: int, lap_times: st.SearchStrategy[list[int]]
) -> list[events.Event]:
    """Cars 1 to ``cars`` each lapping from the start at its own drawn lap times, in timing-clock order."""
    laps = []
    for n in range(1, cars + 1):
        at = 0
        for lap, lap_time in enumerate(draw(lap_times), start=1):
            at += lap_time
            laps.append(w.lap(str(n), lap, at, lap_time_ms=lap_time))
    return sorted(laps, key=lambda e: (e.at, e.id))


def session_fold(log: Sequence[events.Event]) -> SessionFold:
    """The fold of the first event's session over ``events``, numbered from seq 1."""
    return fold_log(enumerate(log, start=1)).sessions[log[0].session.key]


def assert_wire_and_fold(log: Sequence[events.Event]) -> None:
    """Every event survives the wire unchanged, and the fold refuses none of them."""
    projection = ClassificationProjection()
    for seq, event in enumerate(log, start=1):
        assert events.decode_event(events.encode_event(event)) == event
        assert projection.apply(seq, event) is None, event


def classify(log: Sequence[events.Event]) -> Classification:
    """The classification of the first event's session after ``events``."""
    return session_fold(log).classification()


def resumed(log: Sequence[events.Event], cut: int, *, skip_refused: bool = False) -> tuple[SessionFold, SessionFold]:
    """A fold restored from a snapshot of the first ``cut`` events then given the rest, and the whole fold, of the
    first event's session.  ``skip_refused``: an event the fold refuses is skipped (as the projection skips it)."""
    pairs = list(enumerate(log, start=1))
    key = log[0].session.key
    restored = snapshot.decode(snapshot.encode(fold_log(pairs[:cut]).sessions[key]))
    assert restored is not None, "a snapshot of this format reads back"
    for seq, event in pairs[cut:]:
        try:
            restored.apply(seq, event)
        except Exception:  # the projection skips whatever the fold refuses
            if not skip_refused:
                raise
    return restored, fold_log(pairs).sessions[key]
