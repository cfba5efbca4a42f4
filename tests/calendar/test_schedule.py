"""The calendar fold: changes as later events, refused when they cannot apply; a file's calendar reached from any
calendar before it."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from msgspec import structs

from schemas.calendar import ChangeKind
from schemas.events import (
    CalendarBody,
    CalendarPublished,
    ScheduledSession,
    SessionAdded,
    SessionCancelled,
    SessionKind,
    SessionRescheduled,
)
from services.calendar.files import decode_calendar
from services.calendar.local import CalendarError
from services.calendar.schedule import Schedule, apply, changes_to
from tests.calendar.seasons import SPRINT, as_file, at, edited, seasons

SEASON = decode_calendar(SPRINT.read_bytes(), SPRINT.name).season
RACE_2 = ("lausitzring", "race-2")
T = at("2025-05-20T10:00:00Z")


def session(schedule: Schedule, event: str, slug: str) -> ScheduledSession:
    round_ = next(r for r in schedule.season.rounds if r.event == event)
    return next(s for s in round_.sessions if s.session == slug)


def test_a_move_is_kept_with_what_it_replaced() -> None:
    first = apply(None, SEASON, T)
    moved = SessionRescheduled(
        event="lausitzring",
        session="race-2",
        start=at("2025-05-25T15:25:00+02:00"),
        end=at("2025-05-25T16:25:00+02:00"),
        reason="bulletin 12: start delayed",
    )
    second = apply(first, moved, T + 1000)
    assert session(second, *RACE_2).start == at("2025-05-25T15:25:00+02:00")
    [change] = second.changes[RACE_2]
    assert (change.kind, change.was_start, change.at, change.reason) == (
        ChangeKind.MOVED,
        at("2025-05-25T15:10:00+02:00"),
        T + 1000,
        "bulletin 12: start delayed",
    )
    assert (second.revision, first.revision) == (2, 1)
    assert session(first, *RACE_2).start == at("2025-05-25T15:10:00+02:00"), "a schedule is never changed in place"


def test_cancelled_then_reinstated() -> None:
    schedule = apply(apply(None, SEASON, T), SessionCancelled(event="lausitzring", session="race-2"), T)
    assert session(schedule, *RACE_2).cancelled
    held = session(schedule, *RACE_2)
    back = apply(schedule, SessionAdded(event="lausitzring", scheduled=structs.replace(held, cancelled=False)), T)
    assert not session(back, *RACE_2).cancelled
    assert [c.kind for c in back.changes[RACE_2]] == [ChangeKind.CANCELLED, ChangeKind.REINSTATED]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (SessionCancelled(event="hockenheim", session="race-1"), "hockenheim is not a round of the calendar"),
        (SessionCancelled(event="lausitzring", session="race-3"), "lausitzring.race-3 is not a session"),
        (
            SessionAdded(
                event="lausitzring",
                scheduled=ScheduledSession(session="race-1", name="Race 1", kind=SessionKind.RACE, start=1, end=2),
            ),
            "already scheduled: move it",
        ),
        (
            SessionRescheduled(
                event="lausitzring",
                session="race-2",
                start=at("2025-05-26T15:10:00+02:00"),
                end=at("2025-05-26T16:10:00+02:00"),
            ),
            "it starts on 2025-05-26 at the circuit, outside the round's days 2025-05-23 to 2025-05-25",
        ),
        (
            SessionRescheduled(event="lausitzring", session="race-2", start=at("2025-05-25T15:10:00Z"), end=1),
            "it ends before it starts",
        ),
    ],
)
def test_a_change_that_cannot_apply_is_refused_with_the_reason(body: object, reason: str) -> None:
    schedule = apply(None, SEASON, T)
    with pytest.raises(CalendarError, match=reason):
        apply(schedule, body, T)  # type: ignore[arg-type]


def test_a_change_before_any_calendar_is_refused() -> None:
    with pytest.raises(CalendarError, match="no calendar yet"):
        apply(None, SessionCancelled(event="lausitzring", session="race-2"), T)


def test_a_file_edited_gives_one_event_per_change() -> None:
    """Race 2 moved ten minutes and Free Practice 2 cancelled: two events, not the season again."""
    schedule = apply(None, SEASON, T)
    rounds = list(SEASON.rounds)
    lausitz = rounds[1]
    sessions = [
        structs.replace(s, start=s.start + 600_000, end=s.end + 600_000)
        if s.session == "race-2"
        else structs.replace(s, cancelled=True)
        if s.session == "free-practice-2"
        else s
        for s in lausitz.sessions
    ]
    rounds[1] = structs.replace(lausitz, sessions=sessions)
    bodies = changes_to(schedule, structs.replace(SEASON, rounds=rounds), reason="bulletin 7")
    assert [type(b).__name__ for b in bodies] == ["SessionCancelled", "SessionRescheduled"]
    assert all(b.reason == "bulletin 7" for b in bodies)
    assert changes_to(schedule, SEASON) == []
    renamed = changes_to(schedule, structs.replace(SEASON, name="GT Sprint Cup 2025 (revised)"))
    assert [type(b).__name__ for b in renamed] == ["CalendarPublished"]


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_the_calendar_folded_from_the_log_equals_the_file_for_any_sequence_of_changes(data: st.DataObject) -> None:
    """Each version of a calendar file, published in turn (only what changed, as later events), folds to exactly
    the calendar that file gives; a replay of the log up to any publication gives the calendar as it stood."""
    versions = [data.draw(seasons())]
    for _ in range(data.draw(st.integers(1, 6))):
        versions.append(data.draw(edited(versions[-1])))
    files = [decode_calendar(as_file(version), "season.yaml").season for version in versions]
    schedule: Schedule | None = None
    log: list[tuple[int, CalendarBody]] = []
    for n, from_file in enumerate(files):
        for body in changes_to(schedule, from_file):
            log.append((n, body))
            schedule = apply(schedule, body, T + len(log))
        assert schedule is not None
        assert (schedule.season.name, schedule.season.rounds) == (from_file.name, from_file.rounds)
    for n, from_file in enumerate(files):
        replayed: Schedule | None = None
        for _, body in [(m, body) for m, body in log if m <= n]:
            replayed = apply(replayed, body, T)
        assert replayed is not None and replayed.season.rounds == from_file.rounds


def test_a_round_without_sessions_needs_its_days() -> None:
    empty = structs.replace(SEASON.rounds[0], sessions=[], first_day=None, last_day=None)
    with pytest.raises(CalendarError, match="a round with no sessions needs first_day and last_day"):
        apply(None, CalendarPublished(name="x", rounds=[empty]), T)
