"""Graphics data for titling software (vMix data sources, CasparCG, titlers reading CSV), polling-friendly.

``/api/sessions/{key}/graphics/{view}.{format}``: ``view`` is ``tower``,
``leaders``, ``session`` or ``messages``; ``format`` is ``json`` (an array of
row objects: a vMix JSON data source), ``xml`` (``<view><row>`` with a child
element per field: a vMix XML data source) or ``csv``. ``?class=NAME`` keeps a
class's cars (gaps then to the class leader and the car ahead in the class),
``?limit=N`` the first N rows, ``?delay=S`` (1 to 60) the value as it stood S
seconds ago, to match a delayed TV picture (the first request opens a delay
line: ``503`` with ``Retry-After`` until it holds a value that old).

Every answer carries an ``ETag`` made of the value's ``last_seq`` and the
representation asked for; a poll with ``If-None-Match`` gets ``304 Not
Modified`` until the classification changes, so a titler polling every 100 ms
costs one small answer per change.
"""

from __future__ import annotations

import math
import zlib

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.gateway.delayline import MAX_DELAY_S
from services.gateway.graphics_data import MEDIA_TYPES, Format, View, render, rows_of
from services.gateway.responses import BadRequest, error, int_param
from services.gateway.rest import held
from services.gateway.state import gateway_of

PATH = "/api/sessions/{key}/graphics/{view}.{format}"


def etag_of(last_seq: int, view: View, fmt: Format, query: str) -> str:
    """The value's sequence and the representation (view, format, query) it was rendered as."""
    return f'"{last_seq}-{view.value}-{fmt.value}-{zlib.crc32(query.encode()):08x}"'


def not_modified(request: Request, etag: str) -> bool:
    wanted = request.headers.get("if-none-match", "")
    return any(tag.strip() in (etag, f"W/{etag}", "*") for tag in wanted.split(",")) if wanted else False


async def graphics(request: Request) -> Response:
    try:
        view = View(request.path_params["view"])
        fmt = Format(request.path_params["format"])
    except ValueError:
        raise HTTPException(
            404, "no such graphics data: views tower, leaders, session, messages; json, xml, csv"
        ) from None
    session, found = held(request)
    class_name = request.query_params.get("class") or None
    limit = int_param(request, "limit")
    delay = int_param(request, "delay")
    if delay:
        if delay > MAX_DELAY_S:
            raise BadRequest(f"delay is at most {MAX_DELAY_S} seconds, got {delay}")
        delayed, wait_ms = gateway_of(request).hub.delayed(session.key, delay * 1000)
        if delayed is None:
            retry = str(max(1, math.ceil(wait_ms / 1000)))
            message = f"the {delay} s delay line of {session.key} holds no value that old yet: retry in {retry} s"
            return error(503, message, headers={"retry-after": retry})
        found = delayed
    query = "&".join(f"{k}={v}" for k, v in sorted(request.query_params.items()) if k in ("class", "limit", "delay"))
    etag = etag_of(found.last_seq, view, fmt, query)
    headers = {"etag": etag, "cache-control": "no-cache"}
    if not_modified(request, etag):
        return Response(status_code=304, headers=headers)
    rows = rows_of(view, found, class_name)
    body = render(view, rows[:limit] if limit is not None else rows, fmt, found)
    return Response(body, media_type=MEDIA_TYPES[fmt], headers=headers)


ROUTES = [Route(PATH, graphics)]
