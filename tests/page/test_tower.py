"""The live timing tower in real headless Chromium: a paced replay, gaps at the line on every update, the class
filter, pinned cars, the keyboard, sectors, the race-control feed, contrast, DNF / NC / stopped."""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path
from typing import Any

import msgspec
import pytest

from schemas.events import CarRetired, PenaltyIssued, PenaltyKind, SessionStarted
from schemas.results import Classification, ClassifiedCar, Gap
from services.classification.fold import ClassificationProjection
from services.classification.timefmt import format_laptime, penalty_gap
from tests.classification.test_gaps import check_at_the_line
from tests.factory import SessionWriter
from tests.gateway.clients import send_paced
from tests.gateway.races import broadcast_race
from tests.gateway.stack import caught_up
from tests.live import send
from tests.page.conftest import PageStack, screenshot_path
from tests.page.helpers import READ_TOWER, held, opened, shows_seq

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]

HEAD = 18  # opened, 16 entries, started
WATCH = (Path(__file__).parent / "watch.js").read_text()


def expected_gaps(value: Classification) -> list[list[Any]]:
    rows = []
    for i, car in enumerate(value.cars):
        leader, ahead = (value.cars[0], value.cars[i - 1]) if i else (None, None)
        gap = "Leader" if i == 0 else penalty_gap(car.gap, car, leader)
        rows.append([car.number, car.laps, gap, penalty_gap(car.interval, car, ahead)])
    return rows


async def test_every_update_of_a_replay_shows_the_gaps_at_the_line(stack: PageStack, context: Any) -> None:
    """A paced replay of a 16-car race with lapped cars: on every update the page shows, each gap and interval is
    the read model's, and each read-model gap in laps is a lap down at the line (no "+1 lap" once a lap for a car
    on the lead lap)."""
    w = SessionWriter()
    race = broadcast_race(w, race_control=True)
    head, _ = await held(stack, race[:HEAD])
    errors: list[str] = []
    page = await opened(context, stack.address(session=w.session.key), errors)
    await page.wait_for_function("() => document.querySelectorAll('#tower-body tr').length === 16", timeout=15_000)
    await page.evaluate(WATCH)
    asked: list[str] = []  # no standings here (404): not asked again at every value, only now and then
    page.on("request", lambda request: asked.append(request.url) if "/api/standings/live" in request.url else None)
    started = time.monotonic()
    stored = head + await send_paced(stack.nc, race[HEAD:], 0.01)
    await shows_seq(page, stored[-1][0])
    assert len(asked) <= 1 + (time.monotonic() - started) / 15, asked
    seen = await page.evaluate("() => window.seen")
    await page.screenshot(path=screenshot_path("page-tower.png"), full_page=True)

    by_seq = {entry["seq"]: entry for entry in seen}
    assert len(by_seq) > 50, "the tower changes with every lap or so"
    projection = ClassificationProjection()
    crossings: dict[str, list[int]] = {}
    checked = 0
    for seq, event in stored:
        projection.apply(seq, event)
        if getattr(event.body, "lap_time_ms", None) is not None:
            crossings.setdefault(event.body.number, []).append(event.at)  # type: ignore[union-attr]
        if seq in by_seq:
            value = projection.sessions[w.session.key].classification()
            check_at_the_line(value, crossings)
            assert by_seq[seq]["rows"] == expected_gaps(value), f"what the page showed at seq {seq}"
            checked += 1
    assert checked == len(by_seq)
    lapped_on_the_lead_lap = [
        (entry["seq"], number)
        for entry in seen
        for number, laps, gap, _ in entry["rows"]
        if "lap" in gap and gap != "Leader" and laps == entry["rows"][0][1] - 1 and number != "28"
    ]
    assert len(lapped_on_the_lead_lap) < len(seen), "most cars one lap behind the leader's count are not lapped"
    assert {"GREEN FLAG", "FULL COURSE YELLOW"} <= {entry["flag"] for entry in seen}
    assert await page.text_content("#conn-text") == "LIVE"
    assert "standings not available" in (await page.text_content("#standings") or "")
    assert errors == []


async def test_sectors_ideal_lap_and_the_race_control_feed(stack: PageStack, context: Any) -> None:
    w = SessionWriter()
    stored, value = await held(stack, broadcast_race(w, race_control=True))
    page = await opened(context, stack.address(session=w.session.key), [])
    await shows_seq(page, stored[-1][0])
    # each car's last sectors: purple where the session's best, green where its own best
    cells = await page.evaluate(
        "() => Object.fromEntries([...document.querySelectorAll('#tower-body tr')].map(r => [r.dataset.number,"
        " [...r.querySelectorAll('.c-sec')].map(td => [td.textContent, td.className.replace('c-sec', '').trim()])]))"
    )
    for car in value.cars:
        expected = []
        for i, ms in enumerate(car.last_sectors_ms):
            colour = "sb" if value.best_sectors_ms[i] == ms else "pb" if car.best_sectors_ms[i] == ms else ""
            text = format_laptime(ms) if ms >= 60_000 else f"{ms // 1000}.{ms % 1000:03d}"
            expected.append([text, colour])
        assert cells[car.number] == expected, car.number
    assert any(colour == "sb" for row in cells.values() for _, colour in row)
    ideal = sum(ms for ms in value.best_sectors_ms if ms is not None)
    assert await page.text_content("#ideal-lap") == format_laptime(ideal)

    await page.wait_for_function(
        f"() => document.querySelectorAll('#messages li.msg').length === {value.message_count}", timeout=10_000
    )
    shown = await page.evaluate("() => [...document.querySelectorAll('#messages li.msg')].map(li => li.textContent)")
    assert "Green flag: race started" in shown[-1], "oldest last"
    assert "#50 served its drive-through [D1]" in " ".join(shown)
    latest = value.messages[-1]
    assert latest.text in (await page.text_content("#ticker") or "")


async def test_the_class_filter_is_in_the_address_and_columns_keep_their_meaning(
    stack: PageStack, context: Any
) -> None:
    w = SessionWriter()
    stored, value = await held(stack, broadcast_race(w))
    page = await opened(context, stack.address(session=w.session.key), [])
    await shows_seq(page, stored[-1][0])
    await page.click('#class-filter button[data-class="LMGT3"]')
    assert "class=LMGT3" in page.url
    gt3 = [car for car in value.cars if car.class_name == "LMGT3"]
    rows = await page.evaluate(READ_TOWER)
    assert [(r["number"], r["pos"], r["pic"]) for r in rows] == [
        (car.number, str(car.position), str(car.class_position)) for car in gt3
    ], "Pos stays the overall position, PIC the position in class"
    assert rows[0]["gap"] == "Leader" and rows[1]["gap"] == penalty_gap(gt3[1].class_gap, gt3[1], gt3[0])
    assert await page.text_content("#tower-head .c-gap") == "Class gap"

    again = await opened(context, page.url, [])  # the address brings the filter back
    await shows_seq(again, stored[-1][0])
    assert await again.get_attribute('#class-filter button[data-class="LMGT3"]', "aria-pressed") == "true"
    assert [r["number"] for r in await again.evaluate(READ_TOWER)] == [car.number for car in gt3]


async def test_pinned_cars_stay_pinned_and_the_keyboard_drives_the_tower(stack: PageStack, context: Any) -> None:
    w = SessionWriter()
    stored, value = await held(stack, broadcast_race(w))
    page = await opened(context, stack.address(session=w.session.key), [])
    await shows_seq(page, stored[-1][0])
    tower = page.get_by_role("table").filter(has=page.locator("#tower-body"))
    assert await tower.get_by_role("row").count() == 1 + 16, "rows laid out as flex boxes are still a table's rows"
    assert await tower.get_by_role("columnheader").count() == await page.locator("#tower-head th").count() > 10
    assert await tower.get_by_role("cell").count() == 16 * await page.locator("#tower-head th").count()
    last = value.cars[-1].number
    await page.click(f'#tower-body tr[data-number="{last}"] button.pin')
    assert await page.evaluate(
        "() => [...document.querySelectorAll('#pinned-body tr')].map(r => r.dataset.number)"
    ) == [last]
    pin = f'#tower-body tr[data-number="{last}"] button.pin'
    assert await page.get_attribute(pin, "aria-pressed") == "true", "its row in the tower shows it at once"
    await page.reload()
    await shows_seq(page, stored[-1][0])
    assert await page.get_attribute(pin, "aria-pressed") == "true"
    assert await page.locator("#pinned-body tr").count() == 1, "kept in the browser"

    first = value.cars[0].number
    await page.focus(f'#tower-body tr[data-number="{first}"]')
    await page.keyboard.press("ArrowDown")
    focused = "() => document.activeElement.dataset.number"
    assert await page.evaluate(focused) == value.cars[1].number
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#detail:not([hidden])")
    assert await page.evaluate("() => document.activeElement.id") == "detail-close"
    await page.keyboard.press("Escape")
    await page.wait_for_selector("#detail", state="hidden")
    assert await page.evaluate(focused) == value.cars[1].number, "focus back on the row"
    await page.keyboard.press("End")
    assert await page.evaluate(focused) == value.cars[-1].number

    # the leader drops to the back: every other row moves up, the focused one with it, and keeps the focus
    second = value.cars[1].number
    await page.focus(f'#tower-body tr[data-number="{second}"]')
    last_at = max(car.last_crossing or 0 for car in value.cars) - (value.started_at or 0)
    penalty = PenaltyIssued(number=value.cars[0].number, decision="D9", kind=PenaltyKind.TIME, time_ms=3_600_000)
    [(seq, _)] = await send(stack.nc, [w.event(penalty, last_at + 1)])
    await shows_seq(page, seq)
    assert (await page.evaluate(READ_TOWER))[0]["number"] == second
    assert await page.evaluate(focused) == second, "focus stays on the row that moved"


MOVES = "() => [...document.querySelectorAll('#tower-body tr')].map(r => r.querySelector('.c-move').textContent)"


async def test_a_move_is_marked_for_a_while_though_its_rows_do_not_change(stack: PageStack, context: Any) -> None:
    """Rows are built again only when something they show changed (most values change a row or two): a move's
    mark is one of those things. It shows on every car that moved, and goes at the first value after 8 s
    (``MOVE_SHOWN_MS``) though the rows that moved did not change again."""
    w = SessionWriter()
    stored, value = await held(stack, broadcast_race(w))
    await context.clock.install()
    errors: list[str] = []
    page = await opened(context, stack.address(session=w.session.key), errors)
    await shows_seq(page, stored[-1][0])
    assert await page.evaluate(MOVES) == [""] * 16

    leader = value.cars[0].number
    last_at = max(car.last_crossing or 0 for car in value.cars) - (value.started_at or 0)
    dropped = PenaltyIssued(number=leader, decision="D9", kind=PenaltyKind.TIME, time_ms=3_600_000)
    [(seq, _)] = await send(stack.nc, [w.event(dropped, last_at + 1)])
    after = await caught_up(stack.gateway.state.hub, w.session.key, seq)
    await shows_seq(page, seq)
    before = {car.number: car.position for car in value.cars}
    moved = {car.number: before[car.number] - car.position for car in after.cars}
    assert moved[leader] < 0 and sum(by > 0 for by in moved.values()) > 5, "the leader dropped, cars moved up"
    marks = [f"{'▲' if by > 0 else '▼'}{abs(by)}" if by else "" for by in moved.values()]
    assert await page.evaluate(MOVES) == marks

    await page.clock.fast_forward("00:09")
    again = PenaltyIssued(number=leader, decision="D10", kind=PenaltyKind.TIME, time_ms=5_000)
    [(seq, _)] = await send(stack.nc, [w.event(again, last_at + 2)])
    await shows_seq(page, seq)
    assert await page.evaluate(MOVES) == [""] * 16, "no mark after 8 s, on rows that did not change"
    assert errors == []


async def test_the_battle_view_gives_a_gap_only_where_the_rows_give_one(stack: PageStack, context: Any) -> None:
    """Behind the leader, its gap; two cars on the same lap, apart in the order, their race times at the line; one
    a lap down to the leader and one not: no gap (a lap down to the leader is not a lap down to the car ahead)."""
    w = SessionWriter()
    stored, value = await held(stack, broadcast_race(w))
    page = await opened(context, stack.address(session=w.session.key), [])
    await shows_seq(page, stored[-1][0])
    cars = value.cars
    classes = {car.class_name: [c for c in cars if c.class_name == car.class_name] for car in cars}

    def apart(x: ClassifiedCar, y: ClassifiedCar) -> bool:
        """Neither the leader nor next to each other, overall or in the class."""
        mates = classes[y.class_name]
        return (
            cars.index(y) - cars.index(x) > 1
            and x not in (cars[0], mates[0])
            and (x.class_name != y.class_name or mates.index(y) - mates.index(x) > 1)
        )

    async def battle(x: ClassifiedCar, y: ClassifiedCar) -> str:
        await page.select_option("#battle-a", x.number)
        await page.select_option("#battle-b", y.number)
        return await page.text_content("#battle .b-gap-value") or ""

    assert await battle(cars[0], cars[-1]) == penalty_gap(cars[-1].gap, cars[-1], cars[0])
    x, y = next((x, y) for x in cars for y in cars if apart(x, y) and x.laps == y.laps)
    assert x.total_time_ms is not None and y.total_time_ms is not None
    assert await battle(x, y) == penalty_gap(Gap(ms=y.total_time_ms - x.total_time_ms), y, x)
    x, y = next(
        (x, y) for x in cars for y in cars if apart(x, y) and not (x.gap and x.gap.laps) and y.gap and y.gap.laps
    )
    assert await battle(x, y) == "—"


CONTRAST = (Path(__file__).parent / "contrast.js").read_text()


@pytest.mark.parametrize("viewport", [(1920, 1080), (1280, 800), (390, 844)])
async def test_every_text_passes_wcag_aa_contrast(stack: PageStack, browser: Any, viewport: tuple[int, int]) -> None:
    """Every visible text against the colour behind it, a retired car's dimmed row included."""
    w = SessionWriter()
    stored, _ = await held(stack, broadcast_race(w, race_control=True))
    context = await browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
    try:
        page = await opened(context, stack.address(session=w.session.key), [])
        await shows_seq(page, stored[-1][0])
        await page.click("#tower-body tr:nth-child(3)")
        await page.wait_for_selector("#detail:not([hidden])")
        assert await page.evaluate(CONTRAST) == []
        dim = "<p style='color:#333'>too dim</p>"
        await page.evaluate(f"() => document.querySelector('.legend').insertAdjacentHTML('afterend', \"{dim}\")")
        assert len(await page.evaluate(CONTRAST)) == 1, "the check finds a text too dim"
    finally:
        await context.close()


async def test_the_page_shows_who_retired_who_is_not_classified_and_who_stopped(stack: PageStack, context: Any) -> None:
    """A finished race under WEC-like rules: #3 retired (DNF), #4 took the flag short of 70 % (NC), #2 never
    crossed after the flag (stopped, classified on its laps)."""
    w = SessionWriter()
    lap = 100_000
    race = [w.opened(time_ms=10 * lap), *[w.entry(str(n)) for n in range(1, 5)], w.event(SessionStarted(), 0)]
    race += [w.lap("1", i, i * lap) for i in range(1, 14)]  # laps 11-13 after its flag: the clock runs on
    race += [w.lap("2", i, i * lap + 500) for i in range(1, 10)]
    race += [w.lap("3", i, i * lap + 700) for i in range(1, 4)]
    race += [w.lap("4", i, i * 180_000 + 900, lap_time_ms=180_000) for i in range(1, 7)]
    race.append(w.event(CarRetired(number="3", reason="gearbox"), 350_000))
    race = race[:7] + sorted(race[7:], key=lambda e: e.at)
    stored = await send(stack.nc, race)
    await caught_up(stack.gateway.state.hub, w.session.key, stored[-1][0])
    page = await opened(context, stack.address(session=w.session.key), [])
    await shows_seq(page, stored[-1][0])
    shown = await page.evaluate(
        "() => Object.fromEntries([...document.querySelectorAll('#tower-body tr')]"
        ".map(r => [r.dataset.number, r.querySelector('.c-state').textContent.trim()]))"
    )
    assert shown == {"1": "🏁", "2": "STOP", "3": "DNF", "4": "NC"}
    # the flag is drawn, not left to an emoji font a playout server may not have: the glyph takes no room
    mark = await page.evaluate(
        "() => { const s = getComputedStyle(document.querySelector('#tower-body tr[data-number=\"1\"] .state'));"
        " return [s.fontSize, s.backgroundImage.split('(')[0]]; }"
    )
    assert mark == ["0px", "repeating-conic-gradient"]
    classification = msgspec.json.decode(
        (await stack.api.get(f"/api/sessions/{w.session.key}/classification")).content, type=Classification
    )
    assert [r["number"] for r in await page.evaluate(READ_TOWER)] == [c.number for c in classification.cars]


async def test_values_are_drawn_as_they_come_and_a_burst_once_a_frame(stack: PageStack, context: Any) -> None:
    """A value arriving a few milliseconds after the one before is drawn as it arrives: the page waited for the
    next frame when one came less than 16 ms after a drawing, half a frame at the median. Values queued while the
    page was busy (a burst) are still drawn once a frame, not once each."""
    w = SessionWriter()
    race = broadcast_race(w)
    await held(stack, race[:HEAD])
    errors: list[str] = []
    page = await opened(context, stack.address(session=w.session.key, marks=1), errors)
    await page.wait_for_function("() => document.querySelectorAll('#tower-body tr').length === 16", timeout=15_000)
    calm = await send_paced(stack.nc, race[HEAD : HEAD + 80], 0.008)
    await shows_seq(page, calm[-1][0])
    arrivals = await page.evaluate("() => window.chequeredArrivals")
    at_once = {seq for seq, now in await page.evaluate("() => window.chequeredDrawn") if now}
    apart = [seq for (_, before), (seq, at) in itertools.pairwise(arrivals) if at - before >= 5]
    assert len(apart) > 20
    assert len(at_once.intersection(apart)) >= 0.75 * len(apart), (apart, sorted(at_once))

    block = "() => { const end = performance.now() + 1500; while (performance.now() < end) {} }"
    busy = asyncio.ensure_future(page.evaluate(block))
    burst = await send_paced(stack.nc, race[HEAD + 80 : HEAD + 180], 0.005)
    assert not busy.done(), "the values were queued while the page was busy"
    await busy
    await shows_seq(page, burst[-1][0])
    queued = [seq for seq, _ in await page.evaluate("() => window.chequeredArrivals") if seq > calm[-1][0]]
    drawn = [seq for seq, _ in await page.evaluate("() => window.chequeredDrawn") if seq > calm[-1][0]]
    assert len(queued) > 50
    assert len(drawn) <= len(queued) / 4, (len(queued), drawn)
    assert errors == []
