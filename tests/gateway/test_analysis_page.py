"""The analysis page in real headless Chromium on a phone-sized screen: every chart draws, follows new laps, and
nothing is wider than the screen. Screenshots: ``artifacts/analysis-phone.png`` and ``artifacts/analysis-wide.png``
(git ignores ``artifacts/``; CI collects it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from nats.aio.client import Client

from schemas.events import LapCompleted
from tests.browser import ARTIFACTS, chromium_or_skip, launched
from tests.factory import SessionWriter
from tests.gateway.clients import TOKEN
from tests.gateway.races import broadcast_race
from tests.gateway.stack import Stack, caught_up
from tests.live import send

if TYPE_CHECKING:
    from playwright.async_api import ViewportSize

PHONE: ViewportSize = {"width": 390, "height": 844}
DRAWN = """() => Object.fromEntries(['lap-chart', 'race-trace', 'lap-times'].map(id => [id, {
    laps: Number(document.getElementById(id).dataset.laps),
    canvases: document.querySelectorAll('#' + id + ' canvas').length,
    width: document.getElementById(id).getBoundingClientRect().width}]))"""
STINTS = "() => document.querySelectorAll('#stints .stint').length"
WIDEST = "() => Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"


@pytest.mark.browser
async def test_the_analysis_page_draws_every_chart_and_follows_new_laps_on_a_phone(stack: Stack, nc: Client) -> None:
    executable = chromium_or_skip()

    w = SessionWriter()
    race = broadcast_race(w)
    last_lap = max(i for i, e in enumerate(race) if isinstance(e.body, LapCompleted))
    stored = await send(nc, race[:last_lap])
    key = w.session.key
    await caught_up(stack.gateway.state.hub, key, 0)
    laps_before = sum(isinstance(e.body, LapCompleted) for _, e in stored)
    gt3_laps = sum(
        isinstance(e.body, LapCompleted) and e.body.number in {"92", "27", "85", "78", "77", "46"} for _, e in stored
    )

    async with launched(executable) as browser:
        page = await browser.new_page(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        await page.goto(f"{stack.gateway.url}/analysis?session={key}&token={TOKEN}")
        await page.wait_for_selector(f'#charts[data-seq="{stored[-1][0]}"]', timeout=20_000)

        drawn = await page.evaluate(DRAWN)
        for chart in ("lap-chart", "race-trace"):
            assert drawn[chart]["laps"] == laps_before, chart  # every lap of every car
        assert drawn["lap-times"]["laps"] > 0
        assert all(d["canvases"] >= 1 and 0 < d["width"] <= PHONE["width"] for d in drawn.values()), drawn
        assert await page.evaluate(STINTS) >= 16
        assert await page.evaluate(WIDEST) <= PHONE["width"], "the page scrolls sideways on a phone"

        more = await send(nc, race[last_lap:])  # the last lap, and whatever follows it
        await page.wait_for_selector(f'#charts[data-seq="{more[-1][0]}"]', timeout=20_000)
        assert (await page.evaluate(DRAWN))["lap-chart"]["laps"] == laps_before + 1
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "analysis-phone.png"), full_page=True)

        await page.click('#class-filter button[data-class="LMGT3"]')
        await page.wait_for_function(
            f"() => Number(document.getElementById('lap-chart').dataset.laps) === {gt3_laps}", timeout=10_000
        )
        await page.uncheck("#pace")
        assert await page.evaluate(WIDEST) <= PHONE["width"]
        assert errors == []

        wide = await browser.new_page(viewport={"width": 1400, "height": 1000})
        await wide.goto(f"{stack.gateway.url}/analysis?session={key}&token={TOKEN}")
        await wide.wait_for_selector(f'#charts[data-seq="{more[-1][0]}"]', timeout=20_000)
        await wide.screenshot(path=str(ARTIFACTS / "analysis-wide.png"), full_page=True)
