"""Broadcast overlays (OBS browser sources, CasparCG HTML templates) and the championship panel, in real headless
Chromium: transparent backgrounds, the template contract (play, stop, next, update), the standings as they stand."""

from __future__ import annotations

import asyncio
import json
import struct
import zlib
from typing import Any

import pytest
from playwright.async_api import TimeoutError as PlaywrightTimeout

from schemas.events import Event, ResultsDeclared, ResultsStatus
from schemas.standings import decode_live_standings
from schemas.subjects import live_key
from services.classification.timefmt import penalty_gap
from services.simulator.endurance import RaceSpec, simulate
from tests.factory import SessionWriter
from tests.gateway.clients import TOKEN, send_paced
from tests.gateway.races import broadcast_race
from tests.gateway.stack import caught_up
from tests.live import send
from tests.page.conftest import PageStack, screenshot_path
from tests.page.helpers import held, opened
from tests.standings.test_projector import CHAMPIONSHIP, configured, value

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]

ROWS = "() => [...document.querySelectorAll('#overlay [data-number]')].map(r => r.dataset.number)"


def corner_alpha(png: bytes) -> int:
    """The alpha of a PNG's top-left pixel (8-bit RGBA: every filter leaves the first pixel of a line as is)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    chunks: dict[bytes, bytes] = {}
    at = 8
    while at < len(png):
        (length,) = struct.unpack(">I", png[at : at + 4])
        kind = png[at + 4 : at + 8]
        chunks.setdefault(kind, b"")
        chunks[kind] += png[at + 8 : at + 8 + length]
        at += 12 + length
    bit_depth, colour_type = chunks[b"IHDR"][8], chunks[b"IHDR"][9]
    assert (bit_depth, colour_type) == (8, 6), "RGBA"
    return zlib.decompress(chunks[b"IDAT"])[4]


async def overlay(context: Any, stack: PageStack, name: str, errors: list[str] | None = None, **query: object) -> Any:
    page = await opened(context, stack.address(f"/overlay/{name}", **query), [] if errors is None else errors)
    await page.wait_for_selector("#overlay[data-seq]", timeout=15_000)
    return page


@pytest.mark.parametrize("name", ["tower", "battle", "leaders"])
async def test_an_overlay_renders_on_a_transparent_background(stack: PageStack, context: Any, name: str) -> None:
    w = SessionWriter()
    _, value = await held(stack, broadcast_race(w, race_control=True))
    errors: list[str] = []
    page = await overlay(context, stack, name, errors, session=w.session.key)
    backgrounds = await page.evaluate(
        "() => [document.documentElement, document.body].map(e => getComputedStyle(e).backgroundColor)"
    )
    assert backgrounds == ["rgba(0, 0, 0, 0)", "rgba(0, 0, 0, 0)"]
    await page.wait_for_selector('#overlay[data-shown="true"]')
    shot = await page.screenshot(path=screenshot_path(f"overlay-{name}.png"), omit_background=True)
    assert corner_alpha(shot) == 0, "see-through where nothing is drawn"
    shown = await page.evaluate(ROWS)
    if name == "tower":
        assert shown == [car.number for car in value.cars[:10]]
        third = value.cars[2]
        assert penalty_gap(third.gap, third, value.cars[0]) in (await page.text_content("#overlay") or "")
    elif name == "battle":
        first, second = value.cars[:2]
        assert shown == [first.number, second.number]
        assert penalty_gap(second.interval, second, first) in (await page.text_content(".b-gap") or "")
    else:
        assert shown == [car.number for car in value.cars if car.class_position == 1]
    assert errors == [], "no script error, nothing refused by the Content-Security-Policy"


async def test_the_casparcg_template_contract(stack: PageStack, context: Any) -> None:
    """Loaded hidden (autoplay=0), configured by update() (JSON, or CasparCG's templateData XML), shown by play(),
    paged by next(), hidden by stop()."""
    w = SessionWriter()
    _, value = await held(stack, broadcast_race(w))
    page = await opened(context, stack.address("/overlay/tower", autoplay=0), [])
    await page.wait_for_selector('#overlay[data-shown="false"]', state="attached")
    await page.evaluate(f"update({json.dumps(json.dumps({'session': w.session.key, 'token': TOKEN, 'rows': 5}))})")
    # configured: this session's first five rows (until update() the page may show another session of the module's
    # broker, ten rows, and for a moment after it that session's five: hidden, off air)
    first_five = json.dumps([car.number for car in value.cars[:5]], separators=(",", ":"))  # as JSON.stringify
    await page.wait_for_function(f"() => JSON.stringify(({ROWS})()) === {json.dumps(first_five)}", timeout=15_000)
    assert await page.get_attribute("#overlay", "data-shown") == "false"
    assert await page.evaluate(ROWS) == [car.number for car in value.cars[:5]]
    await page.evaluate("play()")
    assert await page.get_attribute("#overlay", "data-shown") == "true"
    await page.evaluate("next()")
    assert await page.evaluate(ROWS) == [car.number for car in value.cars[5:10]]
    xml = (
        '<templateData><componentData id="class"><data id="text" value="LMGT3"/></componentData>'
        '<componentData id="rows"><data id="text" value="4"/></componentData></templateData>'
    )
    await page.evaluate(f"update({json.dumps(xml)})")
    assert await page.evaluate(ROWS) == [car.number for car in value.cars if car.class_name == "LMGT3"][:4]
    await page.evaluate("stop()")
    assert await page.get_attribute("#overlay", "data-shown") == "false"


async def test_the_session_update_names_stays_when_the_latest_is_answered_after_it(
    stack: PageStack, context: Any
) -> None:
    """Loaded with no session, the overlay asks the gateway for the latest; CasparCG calls update() as the page
    loads, before that answer. The session update() names is the one shown: an answer naming another, coming after
    it, replaced it (on air, the wrong race)."""
    named, other = SessionWriter(), SessionWriter()
    _, value = await held(stack, broadcast_race(named))
    await held(stack, broadcast_race(other))
    asked, answer = asyncio.Event(), asyncio.Event()

    async def latest_later(route: Any) -> None:
        asked.set()
        await answer.wait()
        await route.fulfill(json={"sessions": [{"key": other.session.key}]})

    await context.route("**/api/sessions", latest_later)
    try:
        page = await opened(context, stack.address("/overlay/tower", autoplay=0), [])
        await asyncio.wait_for(asked.wait(), 15)
        await page.evaluate(f"update({json.dumps(json.dumps({'session': named.session.key, 'token': TOKEN}))})")
        first_ten = json.dumps([car.number for car in value.cars[:10]], separators=(",", ":"))  # as JSON.stringify
        await page.wait_for_function(f"() => JSON.stringify(({ROWS})()) === {json.dumps(first_ten)}", timeout=15_000)
        async with page.expect_request_finished(lambda request: request.url.endswith("/api/sessions")):
            answer.set()
        with pytest.raises(PlaywrightTimeout):  # the page asks nothing of the session in the late answer
            async with page.expect_request(lambda request: other.session.key in request.url, timeout=2_000) as asked_of:
                pass
            await asked_of.value
        assert await page.evaluate(ROWS) == [car.number for car in value.cars[:10]]
    finally:
        answer.set()
        await context.unroute("**/api/sessions", latest_later)


async def test_the_championship_as_it_stands_then_final(stack: PageStack, context: Any) -> None:
    """The page's panel and the standings overlay: every table, a crew as one row, "as it stands" while the round
    runs and "final" once the results are."""
    race = simulate(RaceSpec(seed=4, cars=10, duration_ms=15 * 60_000, retirements=0, championship=CHAMPIONSHIP))
    key = race[0].session.key
    await send(stack.nc, [configured(), *race[: len(race) // 2]])
    live = decode_live_standings(await value(stack.nc, live_key(CHAMPIONSHIP), lambda d: bool(d)))
    await caught_up(stack.gateway.state.hub, key, 1)
    page = await opened(context, stack.address(session=key), [])
    await page.wait_for_selector("#standings table", timeout=20_000)
    assert await page.text_content("#standings-state") == "AS IT STANDS"
    labels = await page.evaluate("() => [...document.querySelectorAll('#standings-table option')].map(o => o.text)")
    assert labels == [table.label for table in live.tables]
    crews = await page.evaluate(
        "() => [...document.querySelectorAll('#standings > table tbody tr')].map(r => r.dataset.competitors.split('|'))"
    )
    assert crews and all(len(crew) >= 2 for crew in crews), "crew-mates share one position"
    positions = await page.evaluate("() => [...document.querySelectorAll('#standings .s-pos')].map(c => c.textContent)")
    assert len(set(positions)) == len(positions)
    await page.select_option("#standings-table", labels[-1])
    assert f"table={labels[-1].replace(' ', '+')}" in page.url or "table=" in page.url

    board = await overlay(context, stack, "standings", session=key, rows=5)
    await board.wait_for_selector(".st-row", timeout=20_000)
    assert "AS IT STANDS" in (await board.text_content(".o-head") or "")
    assert await board.locator(".st-row").count() <= 5
    head = "() => document.querySelector('.o-head').textContent.split(' · ')[0]"
    steps = [
        (f"update({{table: '{labels[-1]}'}})", labels[-1]),
        ("next()", labels[0]),
        (f"update({{table: '{labels[1]}'}})", labels[1]),  # after next(): the table asked for, again
        ("next()", labels[2 % len(labels)]),
    ]
    for call, shown in steps:
        await board.evaluate(call)
        await board.wait_for_function(f"() => ({head})() === {shown!r}", timeout=5_000)

    rest = race[len(race) // 2 :]
    declared = Event(
        id="results", session=race[0].session, producer="ops", at=race[-1].at + 1,
        body=ResultsDeclared(status=ResultsStatus.FINAL),
    )  # fmt: skip
    stored = await send(stack.nc, [*rest, declared])
    await caught_up(stack.gateway.state.hub, key, stored[-1][0])
    await value(stack.nc, live_key(CHAMPIONSHIP), lambda d: b'"live":false' in d)
    await page.reload()
    await page.wait_for_selector("#standings table", timeout=20_000)
    await page.wait_for_function(
        "() => document.getElementById('standings-state').textContent === 'FINAL'", timeout=20_000
    )
    await page.screenshot(path=screenshot_path("page-championship.png"), full_page=True)


async def test_under_a_long_broadcast_delay_the_championship_stays_shown(stack: PageStack, context: Any) -> None:
    """With ?delay=15 the page fetches a table a second while it shows values, each scored 15 s ahead of the
    picture: the one scored with what it shows must still be kept (a fixed dozen emptied the panel 12 s after the
    picture began)."""
    spec = RaceSpec(seed=5, cars=10, duration_ms=90 * 60_000, retirements=0, championship=CHAMPIONSHIP, event="delayed")
    race = simulate(spec)
    key = race[0].session.key
    await send(stack.nc, [configured(), *race[:30]])
    await value(stack.nc, live_key(CHAMPIONSHIP), lambda d: bool(d))
    await caught_up(stack.gateway.state.hub, key, 1)
    page = await opened(context, stack.address(session=key, delay=15), [])
    sending = asyncio.create_task(send_paced(stack.nc, race[30:], 0.1))  # values all along, shown 15 s later
    try:
        await asyncio.sleep(29.0)
        assert not sending.done(), "the race must still be running when the panel is read"
        missing = "() => document.getElementById('standings').textContent.includes('not available')"
        assert not await page.evaluate(missing)
        assert await page.locator("#standings > table").count() == 1
    finally:
        sending.cancel()
