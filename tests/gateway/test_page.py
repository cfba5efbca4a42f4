"""The live timing page in real headless Chromium, during a paced replay of a race."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import httpx
import msgspec
import pytest
from nats.aio.client import Client

from schemas.events import CarRetired, SessionStarted
from schemas.results import Classification
from tests.factory import SessionWriter
from tests.gateway.clients import TOKEN, send_paced
from tests.gateway.races import broadcast_race
from tests.gateway.stack import Stack, until
from tests.live import send

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
HEAD = 18  # opened, 16 entries, started


def chromium() -> str | None:
    for candidate in (os.environ.get("CHROMIUM_PATH"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


READ_TOWER = """() => [...document.querySelectorAll('#tower-body tr')].map(r => ({
    number: r.dataset.number, position: Number(r.dataset.position), laps: Number(r.dataset.laps)}))"""
WATCH = """() => {
    window.seen = {laps: new Set(), flags: new Set()};
    const note = () => {
        const rows = [...document.querySelectorAll('#tower-body tr')];
        window.seen.laps.add(rows.reduce((total, r) => total + Number(r.dataset.laps), 0));
        window.seen.flags.add(document.getElementById('flag').textContent);
    };
    new MutationObserver(note).observe(document.body, {childList: true, subtree: true, characterData: true});
}"""
SEEN = "() => ({laps: [...window.seen.laps], flags: [...window.seen.flags]})"


@pytest.mark.browser
async def test_live_page_follows_a_replay(stack: Stack, nc: Client, api: httpx.AsyncClient) -> None:
    executable = chromium()
    if executable is None:
        pytest.skip("no Chromium executable (looked at $CHROMIUM_PATH, /usr/bin/chromium, chromium on PATH)")
    from playwright.async_api import async_playwright

    w = SessionWriter()
    race = broadcast_race(w)
    key = w.session.key
    head = await send(nc, race[:HEAD])
    hub = stack.gateway.state.hub
    await until(lambda: (c := hub.classification(key)) is not None and c.last_seq >= head[-1][0])

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1600, "height": 1000})
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            await page.goto(f"{stack.gateway.url}/?session={key}&token={TOKEN}")
            await page.wait_for_function("document.querySelectorAll('#tower-body tr').length === 16", timeout=15_000)

            await page.evaluate(WATCH)
            stored = head + await send_paced(nc, race[HEAD:], 0.015)
            final_seq = stored[-1][0]
            await page.wait_for_selector(f'#tower[data-seq="{final_seq}"]', timeout=15_000)

            rows = await page.evaluate(READ_TOWER)
            classification = msgspec.json.decode(
                (await api.get(f"/api/sessions/{key}/classification")).content, type=Classification
            )
            assert [(r["number"], r["position"], r["laps"]) for r in rows] == [
                (car.number, car.position, car.laps) for car in classification.cars
            ]
            seen = await page.evaluate(SEEN)
            assert len(seen["laps"]) > 50, "the tower changes with every lap or so"
            assert {"GREEN FLAG", "FULL COURSE YELLOW"} <= set(seen["flags"])
            assert await page.text_content("#flag") == "GREEN FLAG"
            assert await page.text_content("#conn-text") == "LIVE"
            assert "standings not available" in (await page.text_content("#standings") or "")
            assert errors == []

            ARTIFACTS.mkdir(exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / "gateway-tower.png"), full_page=True)

            await page.click('#class-filter button[data-class="LMGT3"]')
            gt3 = await page.evaluate(READ_TOWER)
            expected = [(car.number, car.position) for car in classification.cars if car.class_name == "LMGT3"]
            assert [(r["number"], r["position"]) for r in gt3] == expected
            assert await page.text_content("#tower-body tr:first-child .pos") == "1"  # class position when filtered
        finally:
            await browser.close()


@pytest.mark.browser
async def test_the_page_shows_who_retired_who_is_not_classified_and_who_stopped(stack: Stack, nc: Client) -> None:
    """A finished race under WEC-like rules: #3 retired (DNF), #4 took the flag short of 70 % (NC), #2 never
    crossed after the flag (stopped, classified on its laps)."""
    executable = chromium()
    if executable is None:
        pytest.skip("no Chromium executable (looked at $CHROMIUM_PATH, /usr/bin/chromium, chromium on PATH)")
    from playwright.async_api import async_playwright

    w = SessionWriter()
    lap = 100_000
    race = [w.opened(time_ms=10 * lap), *[w.entry(str(n)) for n in range(1, 5)], w.event(SessionStarted(), 0)]
    race += [w.lap("1", i, i * lap) for i in range(1, 14)]  # laps 11-13 after its flag: the clock runs on
    race += [w.lap("2", i, i * lap + 500) for i in range(1, 10)]
    race += [w.lap("3", i, i * lap + 700) for i in range(1, 4)]
    race += [w.lap("4", i, i * 180_000 + 900, lap_time_ms=180_000) for i in range(1, 7)]
    race.append(w.event(CarRetired(number="3", reason="gearbox"), 350_000))
    race = race[:7] + sorted(race[7:], key=lambda e: e.at)
    stored = await send(nc, race)
    key = w.session.key
    hub = stack.gateway.state.hub
    await until(lambda: (c := hub.classification(key)) is not None and c.last_seq == stored[-1][0])

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1600, "height": 1000})
            await page.goto(f"{stack.gateway.url}/?session={key}&token={TOKEN}")
            await page.wait_for_selector(f'#tower[data-seq="{stored[-1][0]}"]', timeout=15_000)
            shown = await page.evaluate(
                "() => Object.fromEntries([...document.querySelectorAll('#tower-body tr')]"
                ".map(r => [r.dataset.number, r.querySelector('.c-state').textContent.trim()]))"
            )
        finally:
            await browser.close()
    assert shown == {"1": "🏁", "2": "STOP", "3": "DNF", "4": "NC"}
