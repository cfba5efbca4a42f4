"""The gateway's ASGI application: routes, read-only access, and the lifespan that connects to NATS.

::

    app = create_app("nats://127.0.0.1:4222", {"read-token"})

Run it with :class:`services.gateway.server.GatewayService` (in-process uvicorn)
or any ASGI server.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable, Sequence
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from services.broker.connection import connect
from services.gateway import analysis, documents, graphics, push, rest
from services.gateway.access import ReadOnlyAccess
from services.gateway.asyncapi import asyncapi_document
from services.gateway.hub import ClassificationHub
from services.gateway.openapi import openapi_document
from services.gateway.responses import BadRequest, error, json_response
from services.gateway.state import GatewayState
from services.gateway.wire import SERVER_SEND

STATIC = Path(__file__).parent / "static"
OVERLAYS = frozenset({"tower", "battle", "leaders", "standings"})
"""Transparent pages for OBS browser sources and CasparCG HTML templates: ``/overlay/<name>?session=KEY&token=T``."""

STANDINGS_PATH = "/api/standings"
"""Extension point: routes passed as ``create_app(..., standings=[...])`` are mounted here, behind the
same token and GET-only guard; their handlers reach NATS and the hub through ``gateway_of(request)``.
The live page asks ``/api/standings/live?session=KEY`` and shows "standings not available" until it answers."""


class GatewayApp(Starlette):
    """Starlette, keeping the server's own ``send`` in the scope before middleware wraps it: push handlers
    reach the connection under it (:mod:`services.gateway.wire`)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope[SERVER_SEND] = send
        await super().__call__(scope, receive, send)


def create_app(
    nats_url: str,
    tokens: Iterable[str],
    *,
    standings: Sequence[BaseRoute] = (),
    standings_openapi: dict[str, Any] | None = None,
    hub: ClassificationHub | None = None,
) -> Starlette:
    """The gateway over the broker at ``nats_url``, readable with any of ``tokens``.

    ``standings`` and ``standings_openapi`` (OpenAPI path items keyed by full path) are the
    standings extension point (:data:`STANDINGS_PATH`); ``hub`` replaces the default one
    (another buffer depth or queue bound).
    """
    tokens = [token for token in tokens if token]
    if not tokens:
        raise ValueError("the gateway needs at least one read token")
    state = GatewayState(nats_url=nats_url, hub=hub or ClassificationHub())
    openapi = openapi_document(analysis.OPENAPI | documents.OPENAPI | (standings_openapi or {}))
    feeds = analysis.AnalysisFeeds()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        nc = await connect(nats_url, "chequered-gateway")
        state.connected(nc)
        await state.hub.start(state.js)
        try:
            yield
        finally:
            await feeds.stop()
            await state.hub.stop()
            await nc.close()

    async def page(request: Request) -> Response:
        return FileResponse(STATIC / "index.html")

    async def overlay(request: Request) -> Response:
        if request.path_params["name"] not in OVERLAYS:
            raise HTTPException(404, f"no overlay {request.path_params['name']!r}: {', '.join(sorted(OVERLAYS))}")
        return FileResponse(STATIC / "overlay.html")

    async def analysis_page(request: Request) -> Response:
        return FileResponse(STATIC / "analysis.html")

    async def openapi_json(request: Request) -> Response:
        return json_response(openapi)

    async def asyncapi_json(request: Request) -> Response:
        return json_response(asyncapi_document(request.url.netloc))

    routes: list[BaseRoute] = [
        Route("/", page),
        Route("/overlay/{name}", overlay),
        Route("/analysis", analysis_page),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
        Route("/api/openapi.json", openapi_json),
        Route("/api/asyncapi.json", asyncapi_json),
        *rest.ROUTES,
        *graphics.ROUTES,
        *push.ROUTES,
        *analysis.ROUTES,
        *documents.ROUTES,
    ]
    if standings:
        routes.append(Mount(STANDINGS_PATH, routes=list(standings)))
    app = GatewayApp(
        routes=routes,
        middleware=[Middleware(ReadOnlyAccess, tokens=tokens)],
        exception_handlers={BadRequest: _bad_request, HTTPException: _http_error},
        lifespan=lifespan,
    )
    app.state.gateway = state
    app.state.analysis = feeds
    return app


async def _bad_request(request: Request, exc: Exception) -> Response:
    return error(400, str(exc))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return error(exc.status_code, exc.detail)
