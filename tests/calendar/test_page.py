"""The live page's "next event" box in real headless Chromium: shown while no session is live, in the language
and zone asked, hidden while a session is live."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from nats.aio.client import Client

from schemas.ingest import Accepted
from services.calendar.files import decode_calendar
from services.ingest.client import Producer
from tests.browser import ARTIFACTS, chromium_or_skip, launched
from tests.calendar.conftest import CalendarStack
from tests.calendar.seasons import SPRINT, published
from tests.calendar.test_cli import served
from tests.gateway.clients import TOKEN

READ_BOX = """() => {
    const box = document.getElementById('next-event');
    return {shown: box.dataset.shown, hidden: box.hidden, round: box.querySelector('.ne-round')?.textContent,
            meta: box.querySelector('.ne-meta')?.textContent,
            rows: [...box.querySelectorAll('tr')].map(r => [...r.cells].map(c => c.textContent.trim()))};
}"""


@pytest.mark.browser
async def test_the_next_event_box(nc: Client, calendar_stack: CalendarStack) -> None:
    executable = chromium_or_skip()

    season = decode_calendar(SPRINT.read_bytes(), SPRINT.name).season
    assert isinstance(await Producer(nc).send(published("sprint-2025", season)), Accepted)
    await served(calendar_stack, "sprint-2025", 1)

    def page_url(**params: str) -> str:
        return f"{calendar_stack.gateway.url}/?{urlencode({'token': TOKEN, 'championship': 'sprint-2025', **params})}"

    async with launched(executable) as browser:
        page = await browser.new_page(viewport={"width": 1400, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        await page.goto(page_url(at="2025-05-20T12:00:00+02:00", lang="de", tz="Pacific/Auckland"))
        await page.wait_for_function("() => document.getElementById('next-event').dataset.shown === 'true'")
        box = await page.evaluate(READ_BOX)
        assert box["round"] == "Lausitzring" and box["hidden"] is False
        assert box["meta"] == "23.\u201325. Mai · Lausitzring, Klettwitz · Pacific/Auckland"
        assert [row[:2] for row in box["rows"]] == [
            ["Fr. 23:30 Uhr \u2013 Sa. 00:15 Uhr", "Free Practice 1"],  # across midnight in Auckland
            ["Sa. 03:00\u201303:45 Uhr", "Free Practice 2"],
            ["Sa. 19:35\u201319:55 Uhr", "Qualifying 1"],
            ["So. 01:00\u201302:00 Uhr", "Race 1"],
            ["So. 19:55\u201320:15 Uhr", "Qualifying 2"],
            ["Mo. 01:10\u201302:10 Uhr", "Race 2"],
        ]
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "calendar-next-event.png"))

        await page.goto(page_url(at="2025-05-24T15:10:00+02:00"))  # Race 1's window: live, with no data
        await page.wait_for_function("() => document.getElementById('next-event').dataset.shown === 'false'")
        assert await page.is_hidden("#next-event")
        assert errors == []
