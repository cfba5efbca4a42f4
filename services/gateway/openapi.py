"""The OpenAPI 3.1 document of the gateway's HTTP interface (served at ``/api/openapi.json``).

Built by hand from the routes' contract, with component schemas generated from
the msgspec Structs, so the document and the bodies cannot drift apart.
"""

from __future__ import annotations

from typing import Any

from services.gateway.components import API_VERSION, ref, schemas
from services.gateway.graphics_data import Format, View

DESCRIPTION = """\
Read-only access to chequered's live timing: sessions, live classifications, one car's row
(stints and stops included), time travel, grids, a push stream of every classification value,
and each championship's calendar (in any zone and language, and as an iCalendar feed).

Every data path needs a read token: `Authorization: Bearer <token>` or `?token=<token>`
(for EventSource and WebSocket, which cannot set headers). Every method but GET (and HEAD)
is answered 405: nothing can be written through the gateway. The WebSocket feed and the
NATS subjects are described in the AsyncAPI document at `/api/asyncapi.json`.
"""

KEY = {
    "name": "key",
    "in": "path",
    "required": True,
    "description": "session key `championship.event.session`",
    "schema": {"type": "string", "pattern": r"^[A-Za-z0-9_-]{1,64}\.[A-Za-z0-9_-]{1,64}\.[A-Za-z0-9_-]{1,64}$"},
}
SINCE = {
    "name": "since",
    "in": "query",
    "required": False,
    "description": "resume after this stream sequence (the `seq` of the last message received)",
    "schema": {"type": "integer", "minimum": 0},
}


CHAMPIONSHIP = {
    "name": "championship",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": r"^[A-Za-z0-9_-]{1,64}$"},
}
SEEN = [
    {
        "name": "tz",
        "in": "query",
        "required": False,
        "description": "show times in this IANA zone (`Europe/Berlin`); default or `circuit`: each circuit's own",
        "schema": {"type": "string"},
    },
    {
        "name": "lang",
        "in": "query",
        "required": False,
        "description": "dates, weekdays and the calendar's words in this locale (`en`, `de`, `en_GB` ...; default en)",
        "schema": {"type": "string"},
    },
    {
        "name": "at",
        "in": "query",
        "required": False,
        "description": "the instant the states are computed for: ISO 8601 with offset, or epoch ms (default now)",
        "schema": {"type": "string"},
    },
]
NO_CALENDAR = {"404": "no calendar for this championship", "400": "unknown zone or language, malformed instant"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(ref("ApiError"), description)


def _get(
    summary: str,
    ok: dict[str, Any],
    *,
    parameters: list[dict[str, Any]] | None = None,
    errors: dict[str, str] | None = None,
    public: bool = False,
    description: str | None = None,
) -> dict[str, Any]:
    responses: dict[str, Any] = {"200": ok}
    if not public:
        responses["401"] = _error("missing or invalid read token")
    for status, text in (errors or {}).items():
        responses[status] = _error(text)
    operation: dict[str, Any] = {"summary": summary, "parameters": parameters or [], "responses": responses}
    if description:
        operation["description"] = description
    if public:
        operation["security"] = []
    return {"get": operation}


def _graphics() -> dict[str, Any]:
    rows = {"type": "array", "items": {"oneOf": [ref("TowerRow"), ref("SessionRow"), ref("MessageRow")]}}
    item = _get(
        "Graphics data for titling software (vMix data sources, CSV titlers), polling-friendly",
        {
            "description": "rows of the view: `tower` and `leaders` are TowerRow, `session` SessionRow, `messages` "
            "MessageRow. JSON: an array of row objects; XML: `<view session seq><row>` with one child element per "
            "field; CSV: a header line, then one line per row",
            "headers": {"ETag": {"schema": {"type": "string"}, "description": "the value's sequence and the view"}},
            "content": {
                "application/json": {"schema": rows},
                "application/xml": {"schema": {"type": "string"}},
                "text/csv": {"schema": {"type": "string"}},
            },
        },
        parameters=[
            KEY,
            {"name": "view", "in": "path", "required": True, "schema": {"enum": [v.value for v in View]}},
            {"name": "format", "in": "path", "required": True, "schema": {"enum": [f.value for f in Format]}},
            {
                "name": "class",
                "in": "query",
                "required": False,
                "description": "only this class's cars, gaps to the class leader and the car ahead in the class",
                "schema": {"type": "string"},
            },
            {"name": "limit", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 0}},
            {
                "name": "delay",
                "in": "query",
                "required": False,
                "description": "broadcast delay: the value as it stood this many seconds ago",
                "schema": {"type": "integer", "minimum": 0, "maximum": 60},
            },
            {
                "name": "If-None-Match",
                "in": "header",
                "required": False,
                "description": "the ETag of the last answer: 304 while the classification has not changed",
                "schema": {"type": "string"},
            },
        ],
        errors={
            "404": "no classification for this session, or no such view or format",
            "400": "a malformed limit or delay",
            "503": "the delay line opened by this request holds no value that old yet (see Retry-After)",
        },
    )
    item["get"]["responses"]["304"] = {"description": "not modified since the ETag given"}
    return item


def openapi_document(extra_paths: dict[str, Any] | None = None) -> dict[str, Any]:
    """The whole document; ``extra_paths`` documents routes mounted by an extension (standings)."""
    no_session = {"404": "no classification for this session", "400": "malformed session key"}
    paths = {
        "/healthz": _get(
            "Liveness and readiness",
            _json(ref("Health"), "connected to NATS and watching the classifications"),
            errors={"503": "starting: not yet connected or not yet caught up"},
            public=True,
        ),
        "/api/sessions": _get("Sessions with a classification, most recent first", _json(ref("Sessions"), "sessions")),
        "/api/sessions/{key}/classification": _get(
            "The live classification of a session",
            _json(ref("Classification"), "the latest value; `last_seq` is its stream sequence"),
            parameters=[KEY],
            errors=no_session,
        ),
        "/api/sessions/{key}/classification/at": _get(
            "Time travel: the classification after stream sequence `seq` and/or at instant `time`",
            _json(ref("Classification"), "the session's events up to that point, folded"),
            parameters=[
                KEY,
                {**SINCE, "name": "seq", "description": "fold the events up to this stream sequence"},
                {
                    "name": "time",
                    "in": "query",
                    "required": False,
                    "description": "fold the events by this instant: ISO 8601 with offset, epoch ms, or session time "
                    "since the green flag (`6h`, `6:00:00`)",
                    "schema": {"type": "string"},
                },
            ],
            errors={"400": "neither seq nor time, or malformed", "404": "the session was not open by then"},
            description="`seq` answers what the screens showed after event N; `time` what the classification "
            "was at that moment of the session, counting events delivered later.",
        ),
        "/api/sessions/{key}/classification/hourly": _get(
            "The race's classification at each full hour, as an endurance race's timekeeper publishes it",
            _json(ref("HourlyClassification"), "one classification per full hour since the start"),
            parameters=[KEY],
            errors={"400": "malformed session key", "404": "no events of the session in the stream"},
            description="Hour h is time travel to the start plus h hours: every event that happened by then "
            "counts, even one delivered later. Hours run to the chequered flag, or to the last event while the "
            "race runs.",
        ),
        "/api/sessions/{key}/cars/{number}": _get(
            "One car's row, with its stints, stops and drive times",
            _json(ref("ClassifiedCar"), "the car's row in the live classification"),
            parameters=[KEY, {"name": "number", "in": "path", "required": True, "schema": {"type": "string"}}],
            errors=no_session | {"404": "no such session or car"},
        ),
        "/api/sessions/{key}/messages": _get(
            "Every race-control message of the session: flags, penalties, decisions, retirements, results",
            _json(ref("RaceControlMessages"), "oldest first; the classification carries only the latest five"),
            parameters=[KEY],
            errors={"400": "malformed session key", "404": "no events of the session in the stream"},
        ),
        "/api/sessions/{key}/palette": _get(
            "How each class of the session is drawn: colour, text colour on it, pattern",
            _json(ref("Palette"), "the colours of the page, the overlays, the graphics data and the terminal tower"),
            parameters=[KEY],
            errors=no_session,
        ),
        "/api/sessions/{key}/graphics/{view}.{format}": _graphics(),
        "/api/sessions/{key}/grid": _get(
            "The grid a qualifying or practice session sets",
            _json(ref("Grid"), "slots in grid order with the time that set each"),
            parameters=[KEY],
            errors=no_session | {"409": "the session is a race"},
        ),
        "/api/sessions/{key}/stream": _get(
            "Server-sent events: a snapshot, then every value of the classification",
            {
                "description": "`event:` is the message kind, `id:` its `seq`, `data:` the message as JSON",
                "content": {"text/event-stream": {"schema": ref("StreamMessage")}},
            },
            parameters=[
                KEY,
                SINCE,
                {
                    "name": "Last-Event-ID",
                    "in": "header",
                    "required": False,
                    "description": "sent by a reconnecting EventSource; takes precedence over `since`",
                    "schema": {"type": "integer", "minimum": 0},
                },
            ],
            errors={"400": "malformed session key or sequence"},
            description="Resuming from a sequence sends every value after it, in order, none twice; when the "
            "gateway's buffer no longer reaches back that far, a snapshot with `reason: gap` instead. A session "
            "with no value yet is waited for.",
        ),
        "/api/calendar": _get(
            "The championships with a calendar", _json(ref("Calendars"), "championship names, sorted")
        ),
        "/api/calendar/{championship}": _get(
            "The season calendar: every round and session, in local time, with its state",
            _json(ref("CalendarView"), "scheduled (UTC and local), changes, actual starts, states at `at`"),
            parameters=[CHAMPIONSHIP, *SEEN],
            errors=NO_CALENDAR,
        ),
        "/api/calendar/{championship}/next": _get(
            "The next event (or the one under way) with every session, and the sessions live now",
            _json(ref("NextEvent"), "the round, and `text`: the line a page prints"),
            parameters=[CHAMPIONSHIP, *SEEN],
            errors=NO_CALENDAR,
            description="A session is live when its timing events are flowing or its scheduled window is open.",
        ),
        "/api/calendar/{championship}/live": _get(
            "Sessions live now, and the feeds missing or stalled",
            _json(ref("LiveNow"), "live sessions and alerts for operations"),
            parameters=[CHAMPIONSHIP, *SEEN],
            errors=NO_CALENDAR,
            description="An alert names a session whose window is open with no timing event yet (`no_data`), or "
            "a race that started and sent nothing for five minutes, neither finished nor under red (`stalled`).",
        ),
        "/api/calendar/{championship}/season.ics": _get(
            "The season as an iCalendar feed a calendar app subscribes to (with `?token=`)",
            {"description": "RFC 5545, times in each circuit's zone", "content": {"text/calendar": {}}},
            parameters=[CHAMPIONSHIP],
            errors={"404": "no calendar for this championship"},
        ),
        "/api/openapi.json": _get("This document", {"description": "OpenAPI 3.1"}, public=True),
        "/api/asyncapi.json": _get(
            "The AsyncAPI 3 document: WebSocket feed and NATS subjects", {"description": "AsyncAPI 3"}, public=True
        ),
    } | (extra_paths or {})
    return {
        "openapi": "3.1.0",
        "info": {"title": "chequered gateway", "version": API_VERSION, "description": DESCRIPTION},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}, {"token": []}],
        "paths": paths,
        "components": {
            "schemas": schemas(),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "a read token"},
                "token": {"type": "apiKey", "in": "query", "name": "token", "description": "a read token"},
            },
        },
    }
