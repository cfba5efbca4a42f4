"""The session clock and the broadcast delay in real headless Chromium.

The clock runs locally between values (the timing clock of the latest crossing plus the gateway's time since it
took that value), stops at the chequered flag, turns STALE when no data arrives, and is never moved by an
instant stamped with another clock. A broadcast delay holds everything the page shows.
"""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from typing import Any

import pytest

from schemas.events import Flag, FlagChanged, PenaltyIssued, PenaltyKind, SessionFinished, SessionStarted
from schemas.ingest import Accepted
from services.classification.timefmt import format_clock
from services.ingest.client import Producer
from tests.factory import SessionWriter
from tests.gateway.stack import caught_up
from tests.live import send
from tests.page.conftest import PageStack
from tests.page.helpers import held, opened, shows_seq

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]

LAP = 100_000
CLOCK = "() => document.getElementById('clock').textContent"
SHOWN = (Path(__file__).parent / "shown.js").read_text()


def race(w: SessionWriter, laps: int = 3) -> list[Any]:
    events = [w.opened(), w.entry("1"), w.entry("2"), w.event(SessionStarted(), 0)]
    events += [w.lap(str(n), lap, lap * LAP + n * 300) for lap in range(1, laps + 1) for n in (1, 2)]
    return events


async def test_the_clock_runs_between_updates_and_turns_stale(stack: PageStack, context: Any) -> None:
    w = SessionWriter()
    stored, _ = await held(stack, race(w))
    page = await opened(context, stack.address(session=w.session.key, stale=3), [])
    await shows_seq(page, stored[-1][0])
    first = await page.evaluate(CLOCK)
    assert first >= format_clock(3 * LAP + 600)
    await page.wait_for_function(f"() => document.getElementById('clock').textContent !== '{first}'", timeout=10_000)
    assert await page.get_attribute("#tower", "data-seq") == str(stored[-1][0]), "no new value: the clock ran"

    await page.wait_for_function("() => document.getElementById('conn-text').textContent === 'STALE'", timeout=15_000)
    frozen = await page.evaluate(CLOCK)
    assert await page.text_content("#clock-sub") == "no data: stale"
    await asyncio.sleep(1.5)
    assert await page.evaluate(CLOCK) == frozen, "a stale clock does not run"

    more = await send(stack.nc, [w.lap("1", 4, 4 * LAP + 300)])
    await shows_seq(page, more[-1][0])
    assert await page.text_content("#conn-text") == "LIVE"


async def test_the_clock_stops_at_the_chequered_flag(stack: PageStack, context: Any) -> None:
    w = SessionWriter()
    events = race(w)
    events.append(w.event(SessionFinished(), 3 * LAP + 300))
    stored, value = await held(stack, events)
    assert value.chequered_at == events[-1].at
    page = await opened(context, stack.address(session=w.session.key), [])
    await shows_seq(page, stored[-1][0])
    at_the_flag = format_clock(3 * LAP + 300)
    assert await page.evaluate(CLOCK) == at_the_flag
    assert await page.get_attribute("#clock", "data-running") == "false"
    await asyncio.sleep(1.2)
    assert await page.evaluate(CLOCK) == at_the_flag


async def test_an_instant_stamped_with_another_clock_does_not_move_the_session_clock(
    stack: PageStack, context: Any
) -> None:
    """A race-control input stamped with the wall clock into a replayed race (5,255 hours later): the session's
    own timing clock, the crossings, keeps the page's clock where the race is."""
    w = SessionWriter()
    stored, _ = await held(stack, race(w))
    reply = await Producer(stack.nc).send(w.event(FlagChanged(flag=Flag.YELLOW), 5255 * 3_600_000))
    last = reply.seq if isinstance(reply, Accepted) else stored[-1][0]  # ingest may refuse it as implausible
    value = await caught_up(stack.gateway.state.hub, w.session.key, last)
    page = await opened(context, stack.address(session=w.session.key), [])
    await shows_seq(page, last)
    if isinstance(reply, Accepted):
        assert value.started_at is not None and value.as_of - value.started_at > 5000 * 3_600_000
    assert re.fullmatch(r"0:0\d:\d\d", await page.evaluate(CLOCK)), "minutes into the race, not 5255 hours"


async def test_a_broadcast_delay_holds_the_order_the_flags_and_the_messages(stack: PageStack, context: Any) -> None:
    """With ?delay=2, nothing is shown sooner than 2 s after the producer's acknowledgement of the event: each
    value, the flag banner and the race-control list."""
    delay_ms = 2_000
    w = SessionWriter()
    head, _ = await held(stack, race(w, laps=0))
    page = await opened(context, stack.address(session=w.session.key, delay=delay_ms // 1000), [])
    await shows_seq(page, head[-1][0])
    await page.evaluate(SHOWN)
    acks: dict[int, float] = {}
    later = [w.lap("1", 1, LAP), w.event(FlagChanged(flag=Flag.SAFETY_CAR), LAP + 1), w.lap("2", 1, LAP + 300)]
    later.append(w.event(PenaltyIssued(number="2", decision="D9", kind=PenaltyKind.TIME, time_ms=5_000), LAP + 400))
    later.append(w.lap("1", 2, 2 * LAP))
    for event in later:
        (seq, _), *_ = await send(stack.nc, [event])
        acks[seq] = time.time() * 1000
        await asyncio.sleep(0.3)
    await shows_seq(page, max(acks))
    shown = await page.evaluate("() => window.shown")
    seen = {entry["seq"]: entry for entry in shown if entry["seq"] in acks}
    assert set(seen) == set(acks), "every value shown, in turn"
    for seq, entry in seen.items():
        assert entry["at"] - acks[seq] >= delay_ms - 20, f"seq {seq} shown {entry['at'] - acks[seq]:.0f} ms after"
    flag_seq, penalty_seq = sorted(acks)[1], sorted(acks)[3]
    first_sc = min(entry["at"] for entry in shown if entry["flag"] == "SAFETY CAR")
    assert first_sc - acks[flag_seq] >= delay_ms - 20
    first_message = min(entry["at"] for entry in shown if "D9" in entry["messages"])
    assert first_message - acks[penalty_seq] >= delay_ms - 20
    assert "delayed 2 s" in (await page.text_content("#seq") or "")


async def test_a_page_opened_after_a_late_message_runs_the_clock_from_the_crossing(
    stack: PageStack, context: Any
) -> None:
    """A value taken seconds after the latest crossing for a race-control message carries no later crossing: the
    page runs its clock from when the crossing was taken (it ran that many seconds behind)."""
    w = SessionWriter()
    await held(stack, race(w))
    await asyncio.sleep(4.0)
    penalty = PenaltyIssued(number="1", decision="D1", kind=PenaltyKind.TIME, time_ms=5_000, reason="track limits")
    more = await send(stack.nc, [w.event(penalty, 3 * LAP + 601)])
    await caught_up(stack.gateway.state.hub, w.session.key, more[-1][0])
    page = await opened(context, stack.address(session=w.session.key), [])
    await shows_seq(page, more[-1][0])
    assert await page.evaluate(CLOCK) >= format_clock(3 * LAP + 600 + 4_000)


async def test_under_a_red_flag_silence_is_not_stale(stack: PageStack, context: Any) -> None:
    """The cars stop under a red flag: no data is what is expected, and the page stays LIVE."""
    w = SessionWriter()
    stored, _ = await held(stack, [*race(w), w.event(FlagChanged(flag=Flag.RED), 3 * LAP + 700)])
    page = await opened(context, stack.address(session=w.session.key, stale=2), [])
    await shows_seq(page, stored[-1][0])
    await asyncio.sleep(3.5)
    assert await page.text_content("#conn-text") == "LIVE"
