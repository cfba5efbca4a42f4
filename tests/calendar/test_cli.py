"""``chequered publish ... calendar FILE``, ``chequered calendar`` and ``chequered rejects`` as a user runs them:
subprocesses of the installed command against a real nats-server with ingest and the standings projector."""

from __future__ import annotations

import asyncio
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from schemas.calendar import SeasonCalendar
from services.calendar.files import decode_calendar
from services.calendar.ics import to_ics
from tests.calendar.conftest import CalendarStack
from tests.calendar.seasons import SPRINT, read_model
from tests.calendar.test_views import EXPECTED
from tests.polling import until
from tests.reliability.processes import CHEQUERED

SPRINT_CALENDAR = "sprint-2025._championship.calendar"


def chequered(nats_url: str, *argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CHEQUERED), *argv, "--nats", nats_url], capture_output=True, text=True, timeout=120, cwd=cwd, check=False
    )


def flat(text: str) -> str:
    """Output as words: a terminal of 80 columns wraps lines where it likes."""
    return " ".join(text.split())


async def served(stack: CalendarStack, championship: str, revision: int) -> SeasonCalendar:
    """The calendar once the projector has folded ``revision`` calendar events."""

    def folded() -> bool:
        schedules = stack.projector.calendars.schedules
        return championship in schedules and stack.projector.calendars.read_model(championship).revision >= revision

    await until(folded, f"{championship} at revision {revision}")
    return stack.projector.calendars.read_model(championship)


async def test_publish_a_calendar_then_what_changed(
    nats_url: str, calendar_stack: CalendarStack, calendar_api: httpx.AsyncClient, tmp_path: Path
) -> None:
    first = await asyncio.to_thread(chequered, nats_url, "publish", SPRINT_CALENDAR, "calendar", str(SPRINT),
                                    cwd=tmp_path)  # fmt: skip
    assert first.returncode == 0, first.stdout + first.stderr
    assert "stored the calendar GT Sprint Cup 2025: 3 rounds, 16 sessions" in flat(first.stdout)
    await served(calendar_stack, "sprint-2025", 1)

    for (tz, lang), expected in EXPECTED.items():  # the hand-written next events, from the terminal
        zone = ["--tz", tz] if tz else []
        shown = await asyncio.to_thread(
            chequered, nats_url, "calendar", "sprint-2025", "--at", "2025-05-20T12:00:00+02:00", "--lang", lang,
            *zone, cwd=tmp_path,
        )  # fmt: skip
        assert shown.returncode == 0, shown.stdout + shown.stderr
        assert flat(expected) in flat(shown.stdout), (tz, lang)
        assert max(len(line) for line in shown.stdout.splitlines()) <= 80

    edited = tmp_path / "sprint-2025.toml"
    text = SPRINT.read_text().replace("2025-05-25T15:10:00", "2025-05-25T15:25:00")
    text = text.replace("2025-05-25T16:10:00", "2025-05-25T16:25:00")
    edited.write_text(text.replace("start = 2025-05-23T17:00:00", "cancelled = true\nstart = 2025-05-23T17:00:00"))
    second = await asyncio.to_thread(chequered, nats_url, "publish", SPRINT_CALENDAR, "calendar", str(edited),
                                     "--reason", "bulletin 12", cwd=tmp_path)  # fmt: skip
    assert second.returncode == 0, second.stdout + second.stderr
    assert "stored lausitzring.free-practice-2 cancelled" in flat(second.stdout)
    assert "stored lausitzring.race-2 \u2192 Sun 15:25 local" in flat(second.stdout)
    model = await served(calendar_stack, "sprint-2025", 3)
    race_2 = next(s for r in model.rounds for s in r.sessions if s.key == "sprint-2025.lausitzring.race-2")
    assert [(c.kind.value, c.reason) for c in race_2.changes] == [("moved", "bulletin 12")]
    listed = await calendar_api.get("/api/calendar/sprint-2025/next", params={"at": "2025-05-20T12:00:00+02:00"})
    assert "Free Practice 2 Fri 17:00 (cancelled)" in listed.json()["text"]

    again = await asyncio.to_thread(chequered, nats_url, "publish", SPRINT_CALENDAR, "calendar", str(edited),
                                    cwd=tmp_path)  # fmt: skip
    assert (again.returncode, flat(again.stdout)) == (
        0,
        "the calendar in the log already says what sprint-2025.toml says: nothing to publish",
    )


async def test_an_icalendar_file_is_published_like_any_other(
    nats_url: str, calendar_stack: CalendarStack, tmp_path: Path
) -> None:
    season = decode_calendar(SPRINT.read_bytes(), SPRINT.name).season
    feed = tmp_path / "season.ics"
    feed.write_bytes(to_ics(read_model("sprint-2025", season)))
    published = await asyncio.to_thread(
        chequered, nats_url, "publish", "copy-2025._championship.calendar", "calendar", str(feed), cwd=tmp_path
    )
    assert published.returncode == 0, published.stdout + published.stderr
    model = await served(calendar_stack, "copy-2025", 1)
    assert [(r.event, [(s.session, s.start, s.end) for s in r.sessions]) for r in model.rounds] == [
        (r.event, [(s.session, s.start, s.end) for s in r.sessions]) for r in read_model("x", season).rounds
    ]


@pytest.mark.usefixtures("calendar_stack")
async def test_a_missing_feed_shows_in_rejects(nats_url: str, tmp_path: Path) -> None:
    """A race scheduled to have started a minute ago with nothing from its timing feed: ``chequered rejects``
    says so first, in the circuit's local time."""
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=1)
    end = start + timedelta(hours=2)
    today = tmp_path / "today.toml"
    today.write_text(
        'name = "Today"\n[[rounds]]\nevent = "here"\nname = "Here"\ncircuit = "Here"\ntime_zone = "UTC"\n'
        f'[[rounds.sessions]]\nsession = "race"\nname = "Race"\nkind = "race"\n'
        f"start = {start.replace(tzinfo=None).isoformat()}\nend = {end.replace(tzinfo=None).isoformat()}\n"
    )
    published = await asyncio.to_thread(
        chequered, nats_url, "publish", "today._championship.calendar", "calendar", str(today), cwd=tmp_path
    )
    assert published.returncode == 0, published.stdout + published.stderr
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while True:  # the projector writes the calendar asynchronously
        listed = await asyncio.to_thread(chequered, nats_url, "rejects", cwd=tmp_path)
        if "today.here.race" in listed.stdout or loop.time() > deadline:
            break
    weekday = start.strftime("%a")
    assert f"feed today.here.race (Race) scheduled {weekday} {start:%H:%M} local, no data yet" in flat(listed.stdout)


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["calendar", "nobody-2025"], "error: no calendar for championship nobody-2025: publish one"),
        (["calendar", "sprint-2025", "--tz", "Mars/Base"], None),
        (["publish", "sprint-2025._championship.points", "calendar", str(SPRINT)], "error: a calendar is published"),
        (["publish", SPRINT_CALENDAR, "calendar", "missing.toml"], "error: missing.toml: cannot read the file"),
        (
            ["publish", "gtes-2026._championship.calendar", "calendar", str(SPRINT)],
            "sprint-2025.toml: $.championship: the file is the calendar of sprint-2025, not of gtes-2026",
        ),
    ],
)
@pytest.mark.usefixtures("calendar_stack")
async def test_expected_failures_are_one_line_that_says_what_to_do(
    nats_url: str, tmp_path: Path, argv: list[str], error: str | None
) -> None:
    result = await asyncio.to_thread(chequered, nats_url, *argv, cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert flat(result.stdout).startswith("error: ")
    if error is not None:
        assert error in flat(result.stdout), result.stdout
