"""The season calendar through the gateway (``/api/calendar``, same token, read only).

- ``/api/calendar``: the championships with a calendar;
- ``/api/calendar/{championship}``: the season, every session with its state;
- ``/api/calendar/{championship}/next``: the round under way or next, and the line a page prints;
- ``/api/calendar/{championship}/live``: the sessions live now, and the missing or stalled feeds;
- ``/api/calendar/{championship}/season.ics``: the iCalendar feed a fan subscribes to.

``tz`` (an IANA zone; default each circuit's), ``lang`` (a locale: en, de, en_GB ...; default en) and ``at``
(ISO 8601 or epoch ms; default now) choose how and when the calendar is seen. The read model is the one the
standings projector writes (KV ``<championship>.calendar``); the views are computed here from it, with the
wall clock unless ``at`` says otherwise.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import msgspec
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from schemas.calendar import Calendars, SeasonCalendar
from schemas.events import SessionRef
from services.calendar.ics import to_ics
from services.calendar.local import CalendarError
from services.calendar.store import championships, read_calendar
from services.calendar.views import calendar_view, live_now, next_event
from services.gateway.responses import BadRequest, json_response
from services.gateway.state import gateway_of
from services.ops.instants import parse_instant


def _championship(request: Request) -> str:
    name: str = request.path_params["championship"]
    try:
        return SessionRef.parse(SessionRef.calendar_of(name).key).championship
    except msgspec.ValidationError:
        raise BadRequest(f"{name!r} is not a championship: its name is a slug (letters, digits, - and _)") from None


async def _calendar(request: Request) -> SeasonCalendar:
    """The calendar of the path's championship (404 when none was published)."""
    championship = _championship(request)
    found = await read_calendar(gateway_of(request).js, championship)
    if found is None:
        raise HTTPException(
            404,
            f"no calendar for championship {championship}: publish one "
            f"(chequered publish {SessionRef.calendar_of(championship).key} calendar FILE)",
        )
    return found


def _seen(request: Request) -> tuple[int, str | None, str]:
    """``at``, ``tz`` and ``lang`` of the request (now, each circuit's zone, English when not given)."""
    params = request.query_params
    text = params.get("at")
    try:
        now = parse_instant(text, None) if text else int(time.time() * 1000)
    except ValueError as err:
        raise BadRequest(f"at: {err}") from None
    tz = params.get("tz") or None
    return now, None if tz == "circuit" else tz, params.get("lang") or "en"


def _view(build: Callable[[SeasonCalendar, int, str | None, str], Any]) -> Callable[[Request], Any]:
    async def handler(request: Request) -> Response:
        found = await _calendar(request)
        now, tz, lang = _seen(request)
        try:
            return json_response(build(found, now, tz, lang))
        except CalendarError as err:
            raise BadRequest(str(err)) from None

    return handler


async def calendars(request: Request) -> Response:
    return json_response(Calendars(championships=await championships(gateway_of(request).js)))


FEEDS_KEPT = 32
_feeds: dict[tuple[str, int, int], bytes] = {}
"""iCalendar feeds by (championship, revision, last change): a feed changes only with a calendar event, and
writing one takes the icalendar library about a millisecond a session, so it is written once, off the loop."""


async def _feed(calendar: SeasonCalendar) -> bytes:
    key = (calendar.championship, calendar.revision, calendar.updated_at)
    feed = _feeds.get(key)
    if feed is None:
        feed = await asyncio.to_thread(to_ics, calendar)
        if len(_feeds) >= FEEDS_KEPT:
            del _feeds[next(iter(_feeds))]
        _feeds[key] = feed
    return feed


async def ics(request: Request) -> Response:
    found = await _calendar(request)
    return Response(
        await _feed(found),
        media_type="text/calendar; charset=utf-8",
        headers={"content-disposition": f'inline; filename="{found.championship}.ics"'},
    )


ROUTES: list[BaseRoute] = [
    Route("/api/calendar", calendars),
    Route("/api/calendar/{championship}", _view(calendar_view)),
    Route("/api/calendar/{championship}/next", _view(next_event)),
    Route("/api/calendar/{championship}/live", _view(live_now)),
    Route("/api/calendar/{championship}/season.ics", ics),
]
