"""Driving the page: send a race through the stack, open a page, read what it shows."""

from __future__ import annotations

from typing import Any

from schemas.events import Event
from schemas.results import Classification
from tests.gateway.stack import caught_up
from tests.live import send
from tests.page.conftest import PageStack

READ_TOWER = """() => [...document.querySelectorAll('#tower-body tr')].map(r => ({
    number: r.dataset.number, position: Number(r.dataset.position), laps: Number(r.dataset.laps),
    classPosition: Number(r.dataset.classPosition), gap: r.querySelector('.c-gap').textContent.trim(),
    pos: r.querySelector('.pos').textContent.trim(), pic: r.querySelector('.c-pic').textContent.trim()}))"""


async def held(stack: PageStack, events: list[Event]) -> tuple[list[tuple[int, Event]], Classification]:
    """Send ``events``; return them as stored and the classification the gateway holds once it has them all."""
    stored = await send(stack.nc, events)
    return stored, await caught_up(stack.gateway.state.hub, events[0].session.key, stored[-1][0])


def refused(message: Any) -> bool:
    """A console error other than an answer the page expects (404: no standings, no calendar here)."""
    return bool(message.type == "error" and not message.text.startswith("Failed to load resource"))


async def opened(context: Any, url: str, errors: list[str]) -> Any:
    """A page of ``url``; its script errors and console errors (a Content-Security-Policy violation is one) go to
    ``errors``."""
    page = await context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if refused(message) else None)
    await page.goto(url)
    return page


async def shows_seq(page: Any, seq: int) -> None:
    await page.wait_for_selector(f'#tower[data-seq="{seq}"]', timeout=20_000)
