"""Graphics data for titlers (vMix JSON and XML data sources, CSV), validated against their documented shapes, and
the REST routes beside them: every race-control message, the class palette."""

from __future__ import annotations

import asyncio
import csv
import io
import itertools
from typing import Any
from xml.etree import ElementTree

import httpx
import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nats.aio.client import Client

from schemas.events import (
    CarRetired,
    Driver,
    EntryRegistered,
    Flag,
    FlagChanged,
    PenaltyIssued,
    PenaltyKind,
    SessionRef,
)
from schemas.results import Classification, RaceControlMessages
from services.classification.fold import fold_log
from services.classification.palette import class_swatches
from services.classification.timefmt import format_laptime, penalty_gap
from services.gateway import rest
from services.gateway.delayline import IDLE_MS, MAX_DELAY_S, DelayLine
from services.gateway.delta import diff
from services.gateway.graphics_data import (
    ROW_TYPES,
    TIMING_TEXT,
    Format,
    MessageRow,
    SessionRow,
    TowerRow,
    View,
    render,
    tower_rows,
)
from services.gateway.messages import Palette, Snapshot, SnapshotReason
from services.gateway.timetravel import race_control_messages
from tests.factory import T0, SessionWriter, classify, small_race
from tests.gateway.races import broadcast_race
from tests.gateway.stack import Stack, caught_up
from tests.live import send

HOSTILE_TEAM = '=HYPERLINK("http://example.com","x")\x07'


def fields(view: View) -> list[str]:
    return [f.encode_name for f in msgspec.structs.fields(ROW_TYPES[view])]


async def race_with_a_penalty(stack: Stack, nc: Client) -> tuple[SessionWriter, Classification]:
    w = SessionWriter()
    race = broadcast_race(w, race_control=True)
    hostile = EntryRegistered(
        number="99", class_name="LMGT3", team=HOSTILE_TEAM, car="GT3", manufacturer="X", crew=[Driver("Z. Nobody")]
    )
    race.insert(17, w.event(hostile))
    stored = await send(nc, race)
    hub = stack.gateway.state.hub
    await caught_up(hub, w.session.key, stored[-1][0])
    found = hub.classification(w.session.key)
    assert found is not None
    return w, found


async def test_the_tower_as_json_xml_and_csv(stack: Stack, nc: Client, api: httpx.AsyncClient) -> None:
    w, value = await race_with_a_penalty(stack, nc)
    base = f"/api/sessions/{w.session.key}/graphics/tower"

    answer = await api.get(f"{base}.json")
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    objects = answer.json()
    assert isinstance(objects, list) and all(list(row) == fields(View.TOWER) for row in objects)  # vMix: row objects
    rows = msgspec.json.decode(answer.content, type=list[TowerRow])
    swatches = class_swatches(car.class_name for car in value.cars)
    assert [(r.position, r.number, r.laps) for r in rows] == [(c.position, c.number, c.laps) for c in value.cars]
    for i, (row, car) in enumerate(zip(rows, value.cars, strict=True)):
        leader, ahead = (value.cars[0], value.cars[i - 1]) if i else (None, None)
        assert row.gap == penalty_gap(car.gap, car, leader) and row.interval == penalty_gap(car.interval, car, ahead)
        assert (row.class_colour, row.class_text_colour) == (
            swatches[car.class_name].colour,
            swatches[car.class_name].text,
        )
        assert row.last_lap == format_laptime(car.last_lap_ms) and row.best_lap_ms == car.best_lap_ms
    seven = next(r for r in rows if r.number == "7")
    assert seven.penalty == "+5 s" and (seven.position == 1 or seven.gap.endswith("*"))
    assert next(r for r in rows if r.number == "28").label == "RET"

    xml = await api.get(f"{base}.xml")
    assert xml.headers["content-type"] == "application/xml"
    root = ElementTree.fromstring(xml.content)  # the hostile team's control character is left out: still XML
    assert (root.tag, root.get("session"), root.get("seq")) == ("tower", w.session.key, str(value.last_seq))
    assert [[child.tag for child in row] for row in root] == [fields(View.TOWER)] * len(rows)
    assert [[child.text or "" for child in row] for row in root] == [
        [_text(v) for v in obj.values()] for obj in objects
    ]

    text = (await api.get(f"{base}.csv")).text
    table = list(csv.reader(io.StringIO(text)))
    assert table[0] == fields(View.TOWER)
    assert len(table) == len(rows) + 1
    hostile = next(line for line in table[1:] if line[2] == "99")
    assert hostile[fields(View.TOWER).index("team")].startswith("'=HYPERLINK"), "no formula in a spreadsheet"
    gaps = [line[fields(View.TOWER).index("gap")] for line in table[1:]]
    assert gaps == [r.gap for r in rows], "gaps (+12.345, +1 lap) are not taken for formulas"


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).replace("\x07", "")


async def test_a_class_a_limit_and_the_other_views(stack: Stack, nc: Client, api: httpx.AsyncClient) -> None:
    w, value = await race_with_a_penalty(stack, nc)
    base = f"/api/sessions/{w.session.key}/graphics"
    gt3 = msgspec.json.decode(
        (await api.get(f"{base}/tower.json", params={"class": "LMGT3"})).content, type=list[TowerRow]
    )
    cars = [c for c in value.cars if c.class_name == "LMGT3"]
    assert [r.number for r in gt3] == [c.number for c in cars]
    assert gt3[0].gap == "" and gt3[1].gap == penalty_gap(cars[1].class_gap, cars[1], cars[0])
    assert len((await api.get(f"{base}/tower.json", params={"limit": 3})).json()) == 3

    leaders = msgspec.json.decode((await api.get(f"{base}/leaders.json")).content, type=list[TowerRow])
    assert [(r.class_name, r.class_position) for r in leaders] == [
        (c.class_name, 1) for c in value.cars if c.class_position == 1
    ]
    session = msgspec.json.decode((await api.get(f"{base}/session.json")).content, type=list[SessionRow])
    assert (
        len(session) == 1 and session[0].flag_text == "GREEN FLAG" and session[0].leader_number == value.cars[0].number
    )
    assert session[0].remaining and session[0].seq == value.last_seq
    messages = msgspec.json.decode((await api.get(f"{base}/messages.json")).content, type=list[MessageRow])
    assert [m.text for m in messages] == [m.text for m in reversed(value.messages)]
    assert any(m.text == "#7: 5 s time penalty (causing a collision) [D3]" and m.number == "7" for m in messages)
    assert next(iter(csv.reader(io.StringIO((await api.get(f"{base}/session.csv")).text)))) == fields(View.SESSION)
    assert ElementTree.fromstring((await api.get(f"{base}/messages.xml")).content).tag == "messages"

    assert (await api.get(f"{base}/nothing.json")).status_code == 404
    assert (await api.get(f"{base}/tower.pdf")).status_code == 404
    assert (await api.get("/api/sessions/no.such.session/graphics/tower.json")).status_code == 404
    assert (await api.get(f"{base}/tower.json", params={"limit": "-1"})).status_code == 400
    assert (await httpx.AsyncClient(base_url=stack.gateway.url).get(f"{base}/tower.json")).status_code == 401
    document = (await api.get("/api/openapi.json")).json()
    assert "/api/sessions/{key}/graphics/{view}.{format}" in document["paths"]
    assert {"TowerRow", "SessionRow", "MessageRow"} <= set(document["components"]["schemas"])


async def test_polling_with_the_etag_costs_nothing_until_the_value_changes(
    stack: Stack, nc: Client, api: httpx.AsyncClient
) -> None:
    w, value = await race_with_a_penalty(stack, nc)
    url = f"/api/sessions/{w.session.key}/graphics/tower.json"
    first = await api.get(url)
    etag = first.headers["etag"]
    assert str(value.last_seq) in etag and first.headers["cache-control"] == "no-cache"
    again = await api.get(url, headers={"if-none-match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    assert (await api.get(url, headers={"if-none-match": f'"other", {etag}'})).status_code == 304
    others = {
        (await api.get(f"/api/sessions/{w.session.key}/graphics/{path}")).headers["etag"]
        for path in ("tower.xml", "tower.csv", "leaders.json", "tower.json?class=LMP2", "tower.json?limit=2")
    }
    assert etag not in others and len(others) == 5, "each representation has its own tag"

    stored = await send(nc, [w.event(PenaltyIssued(number="12", decision="D12", kind=PenaltyKind.DRIVE_THROUGH))])
    hub = stack.gateway.state.hub
    await caught_up(hub, w.session.key, stored[-1][0])
    changed = await api.get(url, headers={"if-none-match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag


async def test_every_race_control_message_folded_once_then_kept_up_and_the_palette(
    stack: Stack, nc: Client, api: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    folds: list[str] = []

    async def counted(js: Any, session: SessionRef) -> RaceControlMessages | None:
        folds.append(session.key)
        return await race_control_messages(js, session)

    monkeypatch.setattr(rest, "race_control_messages", counted)
    w, value = await race_with_a_penalty(stack, nc)
    url = f"/api/sessions/{w.session.key}/messages"
    messages = msgspec.json.decode((await api.get(url)).content, type=RaceControlMessages)
    assert value.message_count == len(messages.messages) > len(value.messages)
    assert messages.messages[-len(value.messages) :] == value.messages
    texts = [m.text for m in messages.messages]
    assert texts[0] == "Green flag: race started"
    assert {"Full course yellow", "Green flag", "Yellow flag in sector 2", "Sector 2 clear"} <= set(texts)
    assert "#6: lap 4 time deleted (track limits turn 4) [D2]" in texts
    assert "#50 served its drive-through [D1]" in texts and "#28 retired (gearbox)" in texts

    at = value.as_of - T0
    more = [w.event(FlagChanged(flag=Flag.SAFETY_CAR), at + 1), w.event(CarRetired(number="6"), at + 2)]
    stored = await send(nc, more)
    hub = stack.gateway.state.hub
    await caught_up(hub, w.session.key, stored[-1][0])
    later = msgspec.json.decode((await api.get(url)).content, type=RaceControlMessages)
    assert [m.text for m in later.messages] == [*texts, "Safety car", "#6 retired"]
    assert folds == [w.session.key], "folded once; the rest from the live values"
    assert (await api.get("/api/sessions/no.such.session/messages")).status_code == 404
    palette = msgspec.json.decode((await api.get(f"/api/sessions/{w.session.key}/palette")).content, type=Palette)
    assert palette.classes == class_swatches(["Hypercar", "LMP2", "LMGT3"])


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40), st.text(max_size=40))
def test_any_name_a_feed_sends_is_still_xml_and_never_a_spreadsheet_formula(team: str, driver: str) -> None:
    w = SessionWriter()
    crew = [Driver(driver.strip() or "x")]
    events = [w.opened(), w.event(EntryRegistered(number="1", class_name="GT3", team=team.strip() or "t", car="c",
                                                  manufacturer="m", crew=crew))]  # fmt: skip
    value = classify(events)
    rows = tower_rows(value)
    root = ElementTree.fromstring(render(View.TOWER, rows, Format.XML, value))
    assert root.find("row/number").text == "1"  # type: ignore[union-attr]
    line = list(csv.reader(io.StringIO(render(View.TOWER, rows, Format.CSV, value).decode())))[1]
    for cell in line:
        assert not cell.startswith(("=", "@", "\t", "\r")), cell
        assert not cell.startswith(("+", "-")) or TIMING_TEXT.fullmatch(cell), cell


def test_a_delay_line_shows_each_value_once_it_is_as_old_as_the_delay() -> None:
    w = SessionWriter()
    values = []
    projection = fold_log([])
    for seq, event in enumerate(small_race(w, cars=2, laps=2), start=1):
        projection.apply(seq, event)
        values.append(projection.sessions[w.session.key].classification())
    line = DelayLine(1_000, opened_ms=0)
    first = values[0]
    line.take(0, msgspec.json.encode(Snapshot(seq=first.last_seq, reason=SnapshotReason.RESET, classification=first)))
    for taken_ms, (before, after) in enumerate(itertools.pairwise(values), start=1):
        update = diff(before, after)
        assert update is not None
        line.take(taken_ms * 100, msgspec.json.encode(update))
    assert line.at(999) is None and line.due_in_ms(999) == 1
    assert line.at(1_000) == values[0]
    assert line.at(1_250) == values[2], "the values taken by 250 ms, applied in order"
    assert line.at(100_000) == values[-1] and line.due_in_ms(100_000) == 0
    assert not line.idle(100_000 + IDLE_MS) and line.idle(100_001 + IDLE_MS)


async def test_the_graphics_data_with_a_broadcast_delay(stack: Stack, nc: Client, api: httpx.AsyncClient) -> None:
    w, value = await race_with_a_penalty(stack, nc)
    url = f"/api/sessions/{w.session.key}/graphics/session.json"
    filling = await api.get(url, params={"delay": MAX_DELAY_S})
    assert filling.status_code == 503 and 1 <= int(filling.headers["retry-after"]) <= MAX_DELAY_S
    await asyncio.sleep(1.2)  # the value held is now more than a second old
    delayed = await api.get(url, params={"delay": 1})
    assert delayed.status_code == 200 and delayed.json()[0]["seq"] == value.last_seq
    assert delayed.headers["etag"] != (await api.get(url)).headers["etag"], "a delayed view is another representation"
    assert (await api.get(url, params={"delay": MAX_DELAY_S + 1})).status_code == 400
