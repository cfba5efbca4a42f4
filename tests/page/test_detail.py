"""The car detail and the phone layout in real headless Chromium."""

from __future__ import annotations

from typing import Any

import pytest

from schemas.events import LapCompleted, ScoreboardCar, ScoreboardReason, ScoreboardReported, SessionStarted
from services.classification.timefmt import format_clock, format_laptime
from tests.factory import T0, SessionWriter
from tests.gateway.clients import send_paced
from tests.gateway.races import SERVES_DRIVE_THROUGH, broadcast_race
from tests.page.conftest import PageStack, screenshot_path
from tests.page.helpers import held, opened, shows_seq

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]

PHONE = {"width": 390, "height": 844}
CELLS = (
    "(table) => [...document.querySelectorAll(`#detail-body ${table} tr`)]"
    ".map(r => [...r.cells].map(c => c.textContent.trim()))"
)
CATEGORIES = {"platinum": "PLAT", "gold": "GOLD"}


async def test_a_click_opens_the_car_detail(stack: PageStack, context: Any) -> None:
    w = SessionWriter()
    race = broadcast_race(w, race_control=True)
    head, _ = await held(stack, race[:40])
    page = await opened(context, stack.address(session=w.session.key), [])
    await shows_seq(page, head[-1][0])
    stored = head + await send_paced(stack.nc, race[40:], 0.002)  # the page sees the laps as they come
    await shows_seq(page, stored[-1][0])
    value = stack.gateway.state.hub.classification(w.session.key)
    assert value is not None
    car = next(c for c in value.cars if c.number == SERVES_DRIVE_THROUGH)

    await page.click(f'#tower-body tr[data-number="{car.number}"] .c-name')
    await page.wait_for_selector("#detail:not([hidden])")
    assert f"car={car.number}" in page.url
    assert await page.text_content("#detail-title") == f"#{car.number} {car.team}"
    crew = await page.evaluate(CELLS, ".d-crew")
    drive = {d.driver: d.ms for d in car.drive_times}
    assert crew == [
        [
            driver.name + (" driving" if driver.name == car.driver else ""),
            CATEGORIES[driver.category.value],
            format_clock(drive[driver.name]) if driver.name in drive else "",
        ]
        for driver in car.crew
    ]
    stints = await page.evaluate(CELLS, ".d-stints")
    assert [row[1] for row in stints[1:]] == [s.driver for s in car.stints]
    stops = await page.evaluate(CELLS, ".d-stops")
    assert [row[1] for row in stops] == [f"lap {s.lap}" for s in car.stops] and all(row[2] for row in stops)
    decisions = await page.evaluate(CELLS, ".d-decisions")
    assert decisions == [["D1", "drive through", "served", "", "pit lane speeding"]]
    laps = await page.evaluate(CELLS, ".d-laps")
    times = {e.body.lap: e.body for e in race if isinstance(e.body, LapCompleted) and e.body.number == car.number}
    assert laps[0][0] == str(car.laps) and len(laps) > car.laps // 2, "the laps the page saw, the latest first"
    for lap, lap_time, *sectors in laps:
        assert lap_time == format_laptime(times[int(lap)].lap_time_ms)
        assert len(sectors) == len(times[int(lap)].sectors_ms)
    source = await page.text_content("#detail-body h3 small")
    assert source in ("every lap (analysis)", "laps seen since this page opened")
    await page.screenshot(path=screenshot_path("page-detail.png"))

    await page.click("#detail-close")
    await page.wait_for_selector("#detail", state="hidden")
    assert "car=" not in page.url

    linked = await opened(context, stack.address(session=w.session.key, car=car.number), [])  # a deep link
    await shows_seq(linked, stored[-1][0])
    assert await linked.text_content("#detail-title") == f"#{car.number} {car.team}"


async def test_a_phone_shows_position_number_driver_gap_and_last_lap_without_scrolling_sideways(
    stack: PageStack, browser: Any
) -> None:
    w = SessionWriter()
    stored, value = await held(stack, broadcast_race(w, race_control=True))
    context = await browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
    try:
        errors: list[str] = []
        page = await opened(context, stack.address(session=w.session.key), errors)
        await shows_seq(page, stored[-1][0])
        width = await page.evaluate("() => [document.documentElement.scrollWidth, document.body.scrollWidth]")
        assert max(width) <= PHONE["width"], f"{width} px wide at {PHONE['width']}"
        flag = await page.evaluate(
            "() => { const f = document.getElementById('flag'), r = f.getBoundingClientRect();"
            " return [r.left, r.right, f.scrollWidth, f.clientWidth]; }"
        )
        assert flag[0] >= 0 and flag[1] <= PHONE["width"] and flag[2] <= flag[3], f"the flag banner is cut: {flag}"
        visible = await page.evaluate(
            "() => [...document.querySelectorAll('#tower-head th')]"
            ".filter(th => th.offsetParent).map(th => th.textContent)"
        )
        assert visible == ["Pos", "No", "Driver · Team", "Gap", "Last"]
        await page.screenshot(path=screenshot_path("page-phone.png"), full_page=True)

        await page.tap(f'#tower-body tr[data-number="{value.cars[1].number}"] .c-name')
        await page.wait_for_selector("#detail:not([hidden])")
        box = await page.evaluate("() => document.getElementById('detail').getBoundingClientRect().width")
        assert box == PHONE["width"], "everything else is in the car detail, the width of the phone"
        assert max(await page.evaluate("() => [document.documentElement.scrollWidth]")) <= PHONE["width"]
        await page.screenshot(path=screenshot_path("page-phone-detail.png"))
        second = value.cars[1].number
        await page.tap("#detail button.pin")  # a favourite set on a phone, where the tower has no pin column
        await page.wait_for_selector('#detail button.pin[aria-pressed="true"]')
        pinned = "() => [...document.querySelectorAll('#pinned-body tr')].map(r => r.dataset.number)"
        assert await page.evaluate(pinned) == [second]
        # kept per championship: a number is a car of one series
        kept = f"() => localStorage.getItem('chequered.pinned.{w.session.championship}')"
        assert await page.evaluate(kept) == f'["{second}"]'
        assert errors == []
    finally:
        await context.close()


async def test_the_detail_shows_laps_taken_from_the_timing_systems_scoreboard(stack: PageStack, context: Any) -> None:
    """A feed that joined late: the scoreboard counts 5 laps for #2 where the feed saw 1 passing."""
    w = SessionWriter()
    events = [w.opened(), w.entry("1"), w.entry("2"), w.event(SessionStarted(), 0)]
    events += [w.lap("1", lap, lap * 100_000) for lap in range(1, 7)]
    board = [ScoreboardCar(number="2", position=2, laps=5, last_crossing=T0 + 500_500)]
    events.append(w.event(ScoreboardReported(source="rmonitor", reason=ScoreboardReason.FIRST, cars=board), 500_600))
    events.append(w.lap("2", 6, 600_500))
    stored, value = await held(stack, events)
    car = next(c for c in value.cars if c.number == "2")
    assert car.scoreboard_laps > 0
    page = await opened(context, stack.address(session=w.session.key, car="2"), [])
    await shows_seq(page, stored[-1][0])
    facts = await page.text_content("#detail-body .d-facts") or ""
    assert f"Scoreboard laps{car.scoreboard_laps} (from the timing system's scoreboard" in facts
    assert "ScoreboardP2" in facts
