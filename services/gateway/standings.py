"""Standings through the gateway (mounted at ``/api/standings``, same token, read only).

- ``/api/standings/live?session=KEY[&class=NAME]``: the drivers' "as it stands" table of the
  session's championship, as the live page shows it (``rows``), with every table beside it;
- ``/api/standings/{championship}``: the declared standings, every row explained;
- ``/api/standings/{championship}/live``: the whole "as it stands" read model;
- ``/api/standings/{championship}/contenders``: every table's title fight, as it stands (declared when no round
  has run since).
"""

from __future__ import annotations

from typing import Any

import msgspec
from nats.js.errors import KeyNotFoundError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from schemas.events import SessionRef, TableKind
from schemas.standings import decode_live_standings, decode_standings
from schemas.subjects import STANDINGS_BUCKET, live_key
from services.gateway.messages import PageRow, PageStandings
from services.gateway.responses import error, json_response
from services.gateway.state import gateway_of
from services.standings.title import contenders


async def _value(request: Request, key: str) -> bytes | None:
    kv = await gateway_of(request).js.key_value(STANDINGS_BUCKET)
    try:
        return (await kv.get(key)).value
    except KeyNotFoundError:
        return None


async def live_for_session(request: Request) -> Response:
    try:
        session = SessionRef.parse(request.query_params.get("session", ""))
    except msgspec.ValidationError as err:
        return error(400, f"session must be a session key championship.event.session: {err}")
    data = await _value(request, live_key(session.championship))
    if not data:
        return error(404, f"no standings for championship {session.championship} yet")
    live = decode_live_standings(data)
    wanted = request.query_params.get("class")
    drivers = [t for t in live.tables if t.kind is TableKind.DRIVERS]
    table = next((t for t in drivers if wanted is None or t.class_name == wanted), None)
    if table is None:
        return error(404, f"no drivers' table for class {wanted!r}")
    rows = [PageRow(r.position, r.competitor, r.points, r.live_points, r.before) for r in table.rows]
    return json_response(PageStandings(live.championship, live.round, table.label, rows, live, table.title))


async def declared(request: Request) -> Response:
    championship = request.path_params["championship"]
    data = await _value(request, championship)
    if not data:
        return error(404, f"no declared standings for championship {championship} yet")
    return Response(data, media_type="application/json")


async def live(request: Request) -> Response:
    championship = request.path_params["championship"]
    data = await _value(request, live_key(championship))
    if not data:
        return error(404, f"no live standings for championship {championship} yet")
    return Response(data, media_type="application/json")


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
