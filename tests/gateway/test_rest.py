"""The REST routes, access control and interface documents against a running stack."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
import msgspec
import pytest
import websockets
from nats.aio.client import Client
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from schemas.events import Event, SessionStarted
from schemas.results import CarState, Classification, ClassifiedCar, HourlyClassification, encode_classification
from services.classification.fold import fold_until
from services.classification.hourly import hourly
from services.gateway.app import STANDINGS_PATH
from services.gateway.messages import Grid, Health, Sessions
from services.gateway.responses import json_response
from services.gateway.server import GatewayService
from tests.factory import SessionWriter
from tests.gateway.clients import TOKEN, stream_path, ws_url
from tests.gateway.races import broadcast_race, qualifying
from tests.gateway.stack import Stack, caught_up
from tests.live import send
from tests.polling import until


async def race_in_gateway(stack: Stack, nc: Client) -> tuple[SessionWriter, list[tuple[int, Event]]]:
    w = SessionWriter()
    stored = await send(nc, broadcast_race(w))
    hub = stack.gateway.state.hub
    await caught_up(hub, w.session.key, stored[-1][0])
    return w, stored


def folded(stored: list[tuple[int, Event]], key: str, **point: int) -> bytes:
    return encode_classification(fold_until(stored, **point).sessions[key].classification())


async def test_sessions_classification_and_one_car(stack: Stack, nc: Client, api: httpx.AsyncClient) -> None:
    w, stored = await race_in_gateway(stack, nc)
    key = w.session.key

    listed = msgspec.json.decode((await api.get("/api/sessions")).content, type=Sessions).sessions
    assert [(s.key, s.last_seq, s.cars) for s in listed] == [(key, stored[-1][0], 16)]

    response = await api.get(f"/api/sessions/{key}/classification")
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    assert response.content == folded(stored, key)

    live = msgspec.json.decode(response.content, type=Classification)
    stopped = next(car for car in live.cars if car.stops and car.state is CarState.RUNNING)
    response = await api.get(f"/api/sessions/{key}/cars/{stopped.number}")
    row = msgspec.json.decode(response.content, type=ClassifiedCar)
    assert row == stopped and len(row.stints) == 2 and row.stops[0].pit_out is not None

    assert (await api.get(f"/api/sessions/{key}/cars/999")).status_code == 404
    assert (await api.get("/api/sessions/no.such.session/classification")).status_code == 404
    assert (await api.get("/api/sessions/not-a-key/classification")).status_code == 400


async def test_time_travel_equals_fold_until(stack: Stack, nc: Client, api: httpx.AsyncClient) -> None:
    w, stored = await race_in_gateway(stack, nc)
    key = w.session.key
    at_path = f"/api/sessions/{key}/classification/at"

    middle_seq = stored[len(stored) // 2][0]
    response = await api.get(at_path, params={"seq": middle_seq})
    assert response.status_code == 200 and response.content == folded(stored, key, seq=middle_seq)

    instant = stored[len(stored) // 3][1].at + 1
    iso = datetime.fromtimestamp(instant / 1000, UTC).isoformat()
    expected = folded(stored, key, at=instant)
    assert (await api.get(at_path, params={"time": str(instant)})).content == expected
    assert (await api.get(at_path, params={"time": iso})).content == expected
    started = next(event.at for _, event in stored if isinstance(event.body, SessionStarted))
    session_time = await api.get(at_path, params={"time": "0:10:00"})
    assert session_time.content == folded(stored, key, at=started + 600_000)
    both = await api.get(at_path, params={"time": str(instant), "seq": middle_seq})
    assert both.content == folded(stored, key, at=instant, seq=middle_seq)

    assert (await api.get(at_path)).status_code == 400
    assert (await api.get(at_path, params={"time": "yesterday"})).status_code == 400
    assert (await api.get(at_path, params={"seq": "-3"})).status_code == 400
    assert (await api.get(at_path, params={"seq": 0})).status_code == 404  # not open yet


async def test_the_hourly_classification_is_time_travel_to_each_hour(
    stack: Stack, nc: Client, api: httpx.AsyncClient
) -> None:
    w = SessionWriter()
    lap = 900_000  # four laps an hour, over two and a half hours
    race = [w.opened(time_ms=2 * 3_600_000), w.entry("1"), w.entry("2"), w.event(SessionStarted(), 0)]
    race += [w.lap(n, i, i * lap + int(n), lap_time_ms=lap) for i in range(1, 11) for n in ("1", "2")]
    stored = await send(nc, race)
    key = w.session.key
    response = await api.get(f"/api/sessions/{key}/classification/hourly")
    assert response.status_code == 200
    assert response.content == msgspec.json.encode(hourly(stored, w.session))
    found = msgspec.json.decode(response.content, type=HourlyClassification)
    assert [(h.hour, [c.laps for c in h.cars]) for h in found.hours] == [(1, [3, 3]), (2, [7, 7])]  # lap 4: 1 h + 1 ms
    assert (await api.get("/api/sessions/no.such.session/classification/hourly")).status_code == 404
    assert (await api.get("/api/sessions/not-a-key/classification/hourly")).status_code == 400


async def test_grid_of_a_qualifying_session(stack: Stack, nc: Client, api: httpx.AsyncClient) -> None:
    w = SessionWriter()
    stored = await send(nc, qualifying(w, cars=5))
    hub = stack.gateway.state.hub
    await caught_up(hub, w.session.key, stored[-1][0])
    grid = msgspec.json.decode((await api.get(f"/api/sessions/{w.session.key}/grid")).content, type=Grid)
    assert [(s.position, s.number) for s in grid.slots] == [(1, "5"), (2, "4"), (3, "3"), (4, "2"), (5, "1")]
    times = [s.qualifying_ms for s in grid.slots]
    assert all(t is not None for t in times) and times == sorted(times)  # type: ignore[type-var]

    race, _ = await race_in_gateway(stack, nc)
    assert (await api.get(f"/api/sessions/{race.session.key}/grid")).status_code == 409


async def test_a_missing_or_wrong_token_is_refused(stack: Stack) -> None:
    base = stack.gateway.url
    async with httpx.AsyncClient(base_url=base) as anonymous:
        for path in ("/api/sessions", "/api/sessions/a.b.c/classification", stream_path("a.b.c")):
            assert (await anonymous.get(path)).status_code == 401
            refused = await anonymous.get(path, headers={"authorization": "Bearer wrong"})
            assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
            assert (await anonymous.get(path, params={"token": "wrong"})).status_code == 401
        assert (await anonymous.get("/api/sessions", params={"token": TOKEN})).status_code == 200
        for public in ("/", "/static/app.js", "/static/style.css", "/healthz", "/api/openapi.json"):
            assert (await anonymous.get(public)).status_code == 200, public

    bad = ws_url(base, "a.b.c").replace(f"token={TOKEN}", "token=wrong")
    async with websockets.connect(bad) as socket:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await socket.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
async def test_nothing_can_be_written(method: str, stack: Stack, api: httpx.AsyncClient) -> None:
    for path in ("/api/sessions", "/api/sessions/a.b.c/classification", "/ws/sessions/a.b.c", "/", "/healthz"):
        response = await api.request(method, path, content=b"{}")
        assert response.status_code == 405, (method, path)
        assert response.headers["allow"] == "GET, HEAD"


async def test_health(stack: Stack, api: httpx.AsyncClient) -> None:
    await until(stack.gateway.state.hub.ready.is_set, "the hub to be ready")
    health = msgspec.json.decode((await api.get("/healthz")).content, type=Health)
    assert health.status == "ok" and health.nats


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [node["$ref"]] if "$ref" in node else [r for value in node.values() for r in refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in refs(value)]
    return []


def resolve(document: dict[str, Any], pointer: str) -> Any:
    assert pointer.startswith("#/"), pointer
    node: Any = document
    for part in pointer[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


async def test_interface_documents_are_served(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.gateway.url) as anonymous:
        openapi = json.loads((await anonymous.get("/api/openapi.json")).content)
        asyncapi = json.loads((await anonymous.get("/api/asyncapi.json")).content)

    assert openapi["openapi"] == "3.1.0"
    assert {
        "/healthz",
        "/api/sessions",
        "/api/sessions/{key}/classification",
        "/api/sessions/{key}/classification/at",
        "/api/sessions/{key}/classification/hourly",
        "/api/sessions/{key}/cars/{number}",
        "/api/sessions/{key}/grid",
        "/api/sessions/{key}/stream",
    } <= set(openapi["paths"])
    assert set(openapi["components"]["securitySchemes"]) == {"bearer", "token"}
    assert {"Classification", "Snapshot", "Update", "StreamMessage"} <= set(openapi["components"]["schemas"])

    assert asyncapi["asyncapi"] == "3.0.0"
    addresses = {name: channel["address"] for name, channel in asyncapi["channels"].items()}
    assert addresses["sessionStream"] == "/api/sessions/{key}/stream"
    assert addresses["sessionSocket"] == "/ws/sessions/{key}"
    assert addresses["events"] == "chequered.events.{championship}.{event}.{session}"
    assert addresses["ingest"] == "chequered.ingest.{championship}.{event}.{session}"
    assert addresses["rejects"] == "chequered.rejects.{championship}.{event}.{session}"
    assert addresses["deadLetters"] == "chequered.dlq.{projection}"
    assert addresses["classificationBucket"] == "$KV.chequered_classification.{championship}.{event}.{session}"
    assert asyncapi["servers"]["gatewayWs"]["host"] == stack.gateway.url.removeprefix("http://")
    assert asyncapi["servers"]["nats"] == {**asyncapi["servers"]["nats"], "protocol": "nats", "host": "{nats}"}
    assert stack.gateway.state.nats_url.removeprefix("nats://") not in json.dumps(asyncapi)  # public: no broker
    for name, channel in asyncapi["channels"].items():
        if channel["address"]:
            names = {part[1:-1] for part in channel["address"].replace(".", "/").split("/") if part.startswith("{")}
            assert names == set(channel.get("parameters", {})), name

    for document in (openapi, asyncapi):
        for pointer in refs(document):
            assert resolve(document, pointer) is not None, pointer


async def test_standings_mount_behind_the_same_guard(nats_url: str, stack: Stack) -> None:
    async def live(request: Request) -> Response:
        return json_response({"rows": [{"position": 1, "name": "A. Driver", "points": 25}]})

    documented = {"/api/standings/live": {"get": {"summary": "live standings", "responses": {"200": {}}}}}
    gateway = GatewayService(nats_url, {TOKEN}, port=0, standings=[Route("/live", live)], standings_openapi=documented)
    await gateway.start()
    try:
        async with httpx.AsyncClient(base_url=gateway.url) as client:
            assert (await client.get(f"{STANDINGS_PATH}/live")).status_code == 401
            answer = await client.get(f"{STANDINGS_PATH}/live", params={"token": TOKEN, "session": "a.b.c"})
            assert answer.json()["rows"][0]["points"] == 25
            assert (await client.post(f"{STANDINGS_PATH}/live", params={"token": TOKEN})).status_code == 405
            assert "/api/standings/live" in (await client.get("/api/openapi.json")).json()["paths"]
    finally:
        await gateway.stop()
