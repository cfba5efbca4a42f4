"""Standings through the gateway (mounted at ``/api/standings``, same token, read only).

- ``/api/standings/live?session=KEY[&class=NAME]``: the championship of the session as the live page
  shows it: every table (``tables``: drivers, teams, manufacturers, each class), a crew that drives one car
  in the running session as one row, whether it is "as it stands", provisional or final (``state``), the
  drivers' table asked for (``rows``), and the whole read model (``standings``, with the title fight when
  the read model has it);
- ``/api/standings/{championship}``: the declared standings, every row explained;
- ``/api/standings/{championship}/live``: the whole "as it stands" read model;
- ``/api/standings/{championship}/contenders``: every table's title fight, as it stands (declared when no round
  has run since).
"""

from __future__ import annotations

import functools
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from schemas.events import ResultsStatus, SessionRef, TableKind
from schemas.results import Classification
from schemas.standings import LiveStandings, LiveTable, decode_live_standings, decode_standings
from schemas.subjects import STANDINGS_BUCKET, live_key
from services.gateway.messages import PageRow, PageStandings, PageTable, StandingsState
from services.gateway.responses import error, json_response
from services.gateway.state import gateway_of
from services.standings.title import contenders


async def _value(request: Request, key: str) -> bytes | None:
    return await gateway_of(request).held(STANDINGS_BUCKET).get(key)


Crews = tuple[tuple[str, tuple[str, ...]], ...]
"""Each car of the running session with its drivers' names: all an answer takes from the classification."""


def crews(table: LiveTable, crew_of: Crews) -> list[PageRow]:
    """The table's rows, the drivers of one car in the running session who score the same as one row (and one
    position): consecutive rows with equal points, as ties between crew-mates are broken by name."""
    car_of = {}
    if table.kind is TableKind.DRIVERS:
        car_of = {name: number for number, names in crew_of for name in names}
    rows: list[PageRow] = []
    for row in table.rows:
        last = rows[-1] if rows else None
        car = car_of.get(row.competitor)
        if (
            last is not None
            and car is not None
            and car_of.get(last.competitors[-1]) == car
            and (last.points, last.live_points) == (row.points, row.live_points)
        ):
            names = [*last.competitors, row.competitor]
            rows[-1] = PageRow(last.position, " / ".join(names), last.points, last.live_points, last.before, names)
        else:
            name = row.competitor
            rows.append(PageRow(row.position, name, row.points, row.live_points, row.before, [name]))
    return rows


def standings_state(live: LiveStandings, results: ResultsStatus | None, running: bool) -> StandingsState:
    if live.live and (not running or results is None):
        return StandingsState.AS_IT_STANDS
    if results is ResultsStatus.PROVISIONAL:
        return StandingsState.PROVISIONAL
    return StandingsState.FINAL


def crews_of(running: Classification | None) -> Crews | None:
    """The running session's cars and their drivers' names (None: no session of the championship running)."""
    if running is None:
        return None
    return tuple((car.number, tuple(driver.name for driver in car.crew)) for car in running.cars)


def build_answer(
    value: bytes, wanted: str | None, crew_of: Crews | None, results: ResultsStatus | None
) -> bytes | None:
    """The page's answer for a value of the standings, the class asked for and the running session (its crews
    and results). None: no drivers' table of ``wanted``."""
    live = decode_live_standings(value)
    drivers = [t for t in live.tables if t.kind is TableKind.DRIVERS]
    table = next((t for t in drivers if wanted is None or t.class_name == wanted), None)
    if table is None:
        return None
    tables = [
        PageTable(kind=t.kind, class_name=t.class_name, label=t.label, rows=crews(t, crew_of or ()))
        for t in live.tables
    ]
    asked = tables[live.tables.index(table)]
    state = standings_state(live, results, crew_of is not None)
    return msgspec.json.encode(
        PageStandings(live.championship, live.round, table.label, asked.rows, live, table.title, state, tables)
    )


page_answer = functools.lru_cache(maxsize=256)(build_answer)
""":func:`build_answer`, built once for every page that asks while the value and the running crews and results
stay the same (the same bytes object while the value is held: its hash is computed once)."""


async def live_for_session(request: Request) -> Response:
    try:
        session = SessionRef.parse(request.query_params.get("session", ""))
    except msgspec.ValidationError as err:
        return error(400, f"session must be a session key championship.event.session: {err}")
    data = await _value(request, live_key(session.championship))
    if not data:
        return error(404, f"no standings for championship {session.championship} yet")
    wanted = request.query_params.get("class")
    running = gateway_of(request).hub.classification(session.key)
    answer = page_answer(data, wanted, crews_of(running), running.results if running is not None else None)
    if answer is None:
        return error(404, f"no drivers' table for class {wanted!r}")
    return Response(answer, media_type="application/json")


async def _stored(request: Request, key: str, what: str) -> Response:
    """The value of ``key`` as stored (JSON), or 404 naming ``what`` standings are missing."""
    data = await _value(request, key)
    if not data:
        return error(404, f"no {what} standings for championship {request.path_params['championship']} yet")
    return Response(data, media_type="application/json")


async def declared(request: Request) -> Response:
    return await _stored(request, request.path_params["championship"], "declared")


async def live(request: Request) -> Response:
    return await _stored(request, live_key(request.path_params["championship"]), "live")


async def title_fights(request: Request) -> Response:
    championship = request.path_params["championship"]
    data = await _value(request, live_key(championship))
    if data:
        return json_response(contenders(decode_live_standings(data)))
    data = await _value(request, championship)
    if not data:
        return error(404, f"no standings for championship {championship} yet")
    return json_response(contenders(decode_standings(data)))


ROUTES: list[BaseRoute] = [
    Route("/live", live_for_session),
    Route("/{championship}", declared),
    Route("/{championship}/live", live),
    Route("/{championship}/contenders", title_fights),
]


def _get(summary: str, schema: str, parameters: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "parameters": parameters,
            "security": [{"token": []}],
            "responses": {
                "200": {"content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}},
                "404": {"description": "not computed yet"},
            },
        }
    }


_CHAMPIONSHIP = [{"name": "championship", "in": "path", "required": True, "schema": {"type": "string"}}]
OPENAPI: dict[str, Any] = {
    "/api/standings/live": _get(
        "The drivers' live table of a session's championship (the page's panel)",
        "PageStandings",
        [
            {"name": "session", "in": "query", "required": True, "schema": {"type": "string"}},
            {"name": "class", "in": "query", "required": False, "schema": {"type": "string"}},
        ],
    ),
    "/api/standings/{championship}": _get("Declared standings, every row explained", "Standings", _CHAMPIONSHIP),
    "/api/standings/{championship}/live": _get("Standings as they stand", "LiveStandings", _CHAMPIONSHIP),
    "/api/standings/{championship}/contenders": _get(
        "Who can still win each table, the most they can reach and what they need, as it stands",
        "Contenders",
        _CHAMPIONSHIP,
    ),
}
"""Path items for the gateway's OpenAPI document (its components include the standings read models)."""
