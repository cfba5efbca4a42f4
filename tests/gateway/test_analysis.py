"""Analysis through the gateway: REST read models equal to a fold of the log, and the SSE series and updates."""

from __future__ import annotations

import httpx
import msgspec
from httpx_sse import aconnect_sse
from nats.aio.client import Client

from schemas.analysis import CarAnalysis, ChartMessage, ChartSeries, ChartUpdate, SessionAnalysis
from schemas.events import Flag, FlagChanged, LapCompleted, LapDeleted
from services.analysis.analyst import analyse
from services.classification.fold import fold_log, fold_until
from tests.analysis.races import hand_race
from tests.factory import SessionWriter
from tests.gateway.stack import Stack, caught_up
from tests.live import send

_messages = msgspec.json.Decoder(ChartMessage)


async def held(stack: Stack, key: str) -> None:
    """Once the gateway holds the session's classification (the analysis routes serve the sessions it knows)."""
    await caught_up(stack.gateway.state.hub, key, 0)


async def test_rest_analysis_is_the_fold_of_the_log_live_and_at_a_point(
    stack: Stack, nc: Client, api: httpx.AsyncClient
) -> None:
    w = SessionWriter()
    stored = await send(nc, hand_race(w))
    key = w.session.key
    await held(stack, key)
    expected = analyse(fold_log(stored).sessions[key])
    live = msgspec.json.decode((await api.get(f"/api/sessions/{key}/analysis")).content, type=SessionAnalysis)
    assert live == expected
    car = msgspec.json.decode((await api.get(f"/api/sessions/{key}/analysis/cars/1")).content, type=CarAnalysis)
    assert [(line.lap, line.position, line.gap_ms) for line in car.laps][:3] == [(1, 1, 0), (2, 2, 500), (3, 2, 500)]
    series = msgspec.json.decode((await api.get(f"/api/sessions/{key}/analysis/series")).content, type=ChartSeries)
    assert len(series.points) == 18 and series.seq == stored[-1][0]

    at = await api.get(f"/api/sessions/{key}/analysis", params={"time": "5m"})  # 300 s after the green
    halfway = msgspec.json.decode(at.content, type=SessionAnalysis)
    state = fold_until(stored, at=stored[0][1].at + 300_000).sessions[key]
    assert halfway == analyse(state) and sum(len(c.laps) for c in halfway.cars) == 6  # two laps each by 300 s

    assert (await api.get(f"/api/sessions/{key}/analysis/cars/99")).status_code == 404
    assert (await api.get("/api/sessions/no.such.race/analysis")).status_code == 404  # no reader started for it
    assert set(stack.gateway.app.state.analysis.feeds) == {key}
    assert (await api.get(f"/api/sessions/{key}/analysis", params={"time": "soon"})).status_code == 400


async def test_the_stream_sends_the_series_then_each_new_lap_and_a_new_series_when_history_changes(
    stack: Stack, nc: Client, api: httpx.AsyncClient
) -> None:
    w = SessionWriter()
    race = hand_race(w)
    head = await send(nc, race[:-8])
    key = w.session.key
    await held(stack, key)
    received: list[ChartSeries | ChartUpdate] = []
    async with aconnect_sse(api, "GET", f"/api/sessions/{key}/analysis/stream") as source:
        assert source.response.status_code == 200
        events = source.aiter_sse()
        first = await anext(events)
        series = _messages.decode(first.data)
        assert first.event == "series" and isinstance(series, ChartSeries) and series.seq == head[-1][0]
        points = list(series.points)
        tail = await send(nc, race[-8:])
        while points.__len__() < 18:
            sse = await anext(events)
            message = _messages.decode(sse.data)
            assert sse.event == "update" and isinstance(message, ChartUpdate)
            assert message.base_seq == (received[-1].seq if received else series.seq)  # each applies to the last
            received.append(message)
            points += message.points
        whole = analyse(fold_log([*head, *tail]).sessions[key])
        assert sorted((p.number, p.lap, p.position, p.gap_ms) for p in points) == sorted(
            (car.number, line.lap, line.position, line.gap_ms) for car in whole.cars for line in car.laps
        )
        await send(nc, [w.event(LapDeleted(number="1", decision="D1", lap=5), 900_000)])
        sse = await anext(events)
        assert sse.event == "series"  # a lap already sent changed: everything again
        again = _messages.decode(sse.data)
        assert isinstance(again, ChartSeries)
        deleted = next(p for p in again.points if (p.number, p.lap) == ("1", 5))
        assert deleted.marks & 8  # not valid


async def test_the_interface_document_describes_the_analysis_and_documents_routes(api: httpx.AsyncClient) -> None:
    openapi = (await api.get("/api/openapi.json")).json()
    assert {
        "/api/sessions/{key}/analysis",
        "/api/sessions/{key}/analysis/cars/{number}",
        "/api/sessions/{key}/analysis/series",
        "/api/sessions/{key}/analysis/stream",
        "/api/sessions/{key}/documents",
        "/api/sessions/{key}/documents/{name}",
    } <= set(openapi["paths"])
    assert {"SessionAnalysis", "CarAnalysis", "ChartSeries", "ChartMessage", "DocumentsIndex"} <= set(
        openapi["components"]["schemas"]
    )


async def test_a_flag_reaches_the_charts_without_a_lap_and_a_second_client_breaks_no_chain(
    stack: Stack, nc: Client, api: httpx.AsyncClient
) -> None:
    w = SessionWriter()
    race = hand_race(w)
    laps = [i for i, e in enumerate(race) if isinstance(e.body, LapCompleted)]
    await send(nc, race[: laps[3]])
    key = w.session.key
    await held(stack, key)
    path = f"/api/sessions/{key}/analysis/stream"
    async with aconnect_sse(api, "GET", path) as first:
        a = first.aiter_sse()
        seq_a = _messages.decode((await anext(a)).data).seq
        await send(nc, [w.event(FlagChanged(flag=Flag.SAFETY_CAR), 150_000)])
        update = _messages.decode((await anext(a)).data)
        assert isinstance(update, ChartUpdate) and update.base_seq == seq_a and update.points == []
        assert update.flag_periods[-1].flag is Flag.SAFETY_CAR
        seq_a = update.seq
        async with aconnect_sse(api, "GET", path) as second:
            b = second.aiter_sse()
            seq_b = _messages.decode((await anext(b)).data).seq
            await send(nc, [race[laps[3]]])
            for events, seq in ((a, seq_a), (b, seq_b)):
                message = _messages.decode((await anext(events)).data)
                assert isinstance(message, ChartUpdate) and message.base_seq == seq and len(message.points) == 1
