"""The calendar: what it adds to the standings projector per event, and what a request for it costs.

- Per event: the calendar fold (:class:`CalendarFold`) over a simulated 24-hour race whose session is in the
  calendar, against the classification fold the same projector already runs on every event (baseline).
- Per write: building the read model (at most once a minute per running session, and on a calendar change).
- Per request: the next event, the whole season view and the iCalendar feed of the shipped GT endurance season
  (17 sessions) and of a 100-round, 1,500-session season (far beyond any real one; ingest admits about 1,900
  with short names), against decoding the read model from KV (baseline). The gateway writes a feed once per
  calendar change (then serves it from memory).

Each figure is the best of several runs: the machine is shared, the best run is the code's own cost.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial

from msgspec import structs

from bench.report import Report
from schemas.calendar import decode_calendar, encode_calendar
from schemas.events import (
    CalendarPublished,
    Event,
    PointsRole,
    ScheduledRound,
    ScheduledSession,
    SessionKind,
    SessionRef,
)
from services.calendar.files import EXAMPLES
from services.calendar.files import decode_calendar as decode_file
from services.calendar.fold import CalendarFold
from services.calendar.ics import to_ics
from services.calendar.views import calendar_view, next_event
from services.classification.fold import ClassificationProjection
from services.simulator.endurance import RaceSpec, simulate

DAY_MS = 24 * 3600 * 1000
HOUR_MS = 3600 * 1000
ZONES = ("Europe/Berlin", "Europe/London", "America/New_York", "Asia/Tokyo", "Australia/Melbourne")


def best_ms(run_once: Callable[[], object], times: int) -> float:
    best = float("inf")
    for _ in range(times):
        started = time.perf_counter()
        run_once()
        best = min(best, time.perf_counter() - started)
    return best * 1000


def big_season(rounds: int, sessions: int, first: int) -> CalendarPublished:
    return CalendarPublished(
        name="A long season",
        rounds=[
            ScheduledRound(
                event=f"round-{r}",
                name=f"Round {r}",
                circuit=f"Circuit {r}",
                time_zone=ZONES[r % len(ZONES)],
                sessions=[
                    ScheduledSession(
                        session=f"session-{s}",
                        name=f"Session {s}",
                        kind=SessionKind.RACE if s % 4 == 3 else SessionKind.PRACTICE,
                        start=first + r * 3 * 86_400_000 + s * HOUR_MS,
                        end=first + r * 3 * 86_400_000 + s * HOUR_MS + 45 * 60_000,
                        points=PointsRole.POINTS if s % 4 == 3 else PointsRole.NONE,
                    )
                    for s in range(sessions)
                ],
            )
            for r in range(rounds)
        ],
    )


def run() -> Report:
    report = Report("calendar")
    events = simulate(RaceSpec(seed=24, cars=60, duration_ms=DAY_MS, retirements=6))
    race = events[0].session
    season = CalendarPublished(
        name="GT",
        rounds=[
            ScheduledRound(
                event=race.event,
                name="Monza",
                circuit="Monza",
                time_zone="Europe/Rome",
                sessions=[
                    ScheduledSession(
                        session=race.session,
                        name="Race",
                        kind=SessionKind.RACE,
                        start=events[0].at,
                        end=events[0].at + DAY_MS,
                        points=PointsRole.POINTS,
                    )
                ],
            )
        ],
    )
    published = Event(
        id="calendar", session=SessionRef.calendar_of(race.championship), producer="ops", at=1, body=season
    )
    pairs = list(enumerate(events, start=1))

    def classification() -> None:
        projection = ClassificationProjection()
        for seq, event in pairs:
            projection.apply(seq, event)

    writes = 0

    def calendar() -> None:
        nonlocal writes
        fold = CalendarFold()
        fold.apply(published)
        writes = sum(1 for event in events if fold.apply(event) is not None)

    fold_ms = best_ms(classification, 3)
    calendar_ms = best_ms(calendar, 5)
    report.add("classification fold, per event", fold_ms * 1000 / len(events), "µs")
    report.add(
        "calendar fold, per event",
        calendar_ms * 1000 / len(events),
        "µs",
        baseline="classification fold, per event",
        target="a small share",
    )
    report.add("read model writes for the 24-hour race", writes, "writes", target="<= 1 a minute + start, finish")

    shipped = decode_file((EXAMPLES / "gt-endurance-2026.toml").read_bytes(), "gt-endurance-2026.toml").season
    first = events[0].at
    for label, body, now in (
        ("GT season", shipped, first + 40 * 86_400_000),
        ("1,500 sessions", big_season(100, 15, first), first + 150 * 86_400_000),
    ):
        fold = CalendarFold()
        fold.apply(structs.replace(published, body=body))
        model = fold.read_model(race.championship)
        data = encode_calendar(model)
        decode = f"{label}: decode the read model"
        report.add(decode, best_ms(partial(decode_calendar, data), 20), "ms")
        measures: tuple[tuple[str, Callable[[], object], int], ...] = (
            ("build the read model (a write)", partial(fold.read_model, race.championship), 10),
            ("next event (a request)", partial(next_event, model, now, None, "de"), 20),
            ("whole season (a request)", partial(calendar_view, model, now, "Asia/Tokyo"), 5),
            ("iCalendar feed (once a change)", partial(to_ics, model), 3),
        )
        for name, measure, times in measures:
            report.add(f"{label}: {name}", best_ms(measure, times), "ms", baseline=decode)
    report.notes.append(f"{len(events):,} events of a 24-hour 60-car race")
    return report
