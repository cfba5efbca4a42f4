"""The read-only REST routes: sessions, classification, one car, time travel, grid, health, the calendar."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from schemas.events import SessionKind, SessionRef
from schemas.results import Classification, RaceControlMessages
from services.classification.palette import class_swatches
from services.gateway import calendar
from services.gateway.messages import Grid, GridSlot, Health, Palette, Sessions, SessionSummary
from services.gateway.responses import BadRequest, error, int_param, json_response, session_param
from services.gateway.state import gateway_of
from services.gateway.timetravel import classification_at, hourly_classification, race_control_messages
from services.ops.instants import parse_instant
from services.structs import carried


async def health(request: Request) -> Response:
    gateway = gateway_of(request)
    nats_ok = gateway.nc is not None and gateway.nc.is_connected
    ready = nats_ok and gateway.hub.ready.is_set()
    hub = gateway.hub
    body = Health(
        status="ok" if ready else "starting",
        nats=nats_ok,
        sessions=len(hub.heads()),
        clients=hub.client_count(),
        written_directly=hub.client_count(direct=True),
        dropped=hub.dropped,
    )
    return json_response(body, 200 if ready else 503)


async def sessions(request: Request) -> Response:
    summaries = [
        SessionSummary(
            key=c.session.key,
            name=c.name,
            kind=c.kind,
            phase=c.phase,
            flag=c.flag,
            last_seq=c.last_seq,
            as_of=c.as_of,
            cars=cars,
        )
        for c, cars in gateway_of(request).hub.heads()
    ]
    summaries.sort(key=lambda s: (-s.as_of, s.key))
    return json_response(Sessions(sessions=summaries))


def held(request: Request) -> tuple[SessionRef, Classification]:
    """The session of the path and the classification the hub holds for it (404 when none)."""
    session = session_param(request)
    found = gateway_of(request).hub.classification(session.key)
    if found is None:
        raise HTTPException(404, f"no classification for session {session.key}")
    return session, found


async def classification(request: Request) -> Response:
    return json_response(held(request)[1])


async def car(request: Request) -> Response:
    session, found = held(request)
    number = request.path_params["number"]
    row = next((c for c in found.cars if c.number == number), None)
    if row is None:
        return error(404, f"car #{number} is not in {session.key}")
    return json_response(row)


async def classification_at_point(request: Request) -> Response:
    session = session_param(request)
    seq = int_param(request, "seq")
    time = request.query_params.get("time")
    gateway = gateway_of(request)
    live = gateway.hub.classification(session.key)
    try:
        at = parse_instant(time, live.started_at if live is not None else None) if time else None
    except ValueError as err:
        raise BadRequest(str(err)) from err
    if seq is None and at is None:
        raise BadRequest("give seq (a stream sequence) and/or time (ISO 8601, epoch ms, or 6h / 6:00:00)")
    async with gateway.time_travel:
        found = await classification_at(gateway.js, session, seq=seq, at=at)
    if found is None:
        return error(404, f"session {session.key} had no classification at that point")
    return json_response(found)


async def classification_hourly(request: Request) -> Response:
    """The race's classification at each full hour (time travel to the start plus 1 h, 2 h, ...)."""
    session = session_param(request)
    gateway = gateway_of(request)
    async with gateway.time_travel:
        found = await hourly_classification(gateway.js, session)
    if found is None:
        return error(404, f"no events of session {session.key} in the stream")
    return json_response(found)


def _kept_up(kept: RaceControlMessages | None, live: Classification | None) -> RaceControlMessages | None:
    """``kept`` with the messages the live value has and it lacks; None when the value no longer tells (more new
    messages than it carries, or none kept)."""
    if kept is None or live is None:
        return None
    missing = live.message_count - len(kept.messages)
    if missing == 0:
        return kept
    if 0 < missing <= len(live.messages):
        return RaceControlMessages(
            session=kept.session, last_seq=live.last_seq, messages=[*kept.messages, *live.messages[-missing:]]
        )
    return None


async def messages(request: Request) -> Response:
    """Every race-control message of the session (the classification carries only the latest): folded from the
    log once, then kept up to date from the live values, so a thousand pages loading fold nothing."""
    session = session_param(request)
    gateway = gateway_of(request)
    live = gateway.hub.classification(session.key)
    found = _kept_up(gateway.messages.get(session.key), live)
    if found is None:
        async with gateway.time_travel:
            found = _kept_up(gateway.messages.get(session.key), live)  # another request may have folded meanwhile
            if found is None:
                found = await race_control_messages(gateway.js, session)
    if found is None:
        return error(404, f"no events of session {session.key} in the stream")
    if live is not None and live.message_count == len(found.messages):
        gateway.messages[session.key] = found
    return json_response(found)


async def palette(request: Request) -> Response:
    """How each class of the session is drawn (the page's, the overlays' and the terminal tower's colours)."""
    _, found = held(request)
    return json_response(Palette(classes=class_swatches(car.class_name for car in found.cars)))


async def grid(request: Request) -> Response:
    """The grid a qualifying or practice session sets: its classification order."""
    session, found = held(request)
    if found.kind is SessionKind.RACE:
        return error(409, f"{session.key} is a race: the grid comes from a qualifying or practice session")
    slots = [carried(GridSlot, c) for c in found.cars]
    return json_response(Grid(session=session.key, kind=found.kind, last_seq=found.last_seq, slots=slots))


ROUTES = [
    Route("/healthz", health),
    Route("/api/sessions", sessions),
    Route("/api/sessions/{key}/classification", classification),
    Route("/api/sessions/{key}/classification/at", classification_at_point),
    Route("/api/sessions/{key}/classification/hourly", classification_hourly),
    Route("/api/sessions/{key}/cars/{number}", car),
    Route("/api/sessions/{key}/messages", messages),
    Route("/api/sessions/{key}/palette", palette),
    Route("/api/sessions/{key}/grid", grid),
    *calendar.ROUTES,
]
