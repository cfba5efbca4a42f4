"""Analysis through the gateway: per-lap history, lap chart and race trace series, over REST and SSE.

The classification bucket holds no laps, so the gateway reads them from the
log: the first request for a session starts an :class:`AnalysisFeed` that
follows the session's subject (:class:`~services.broker.bulkread.StreamTail`), folds each batch
into a :class:`~services.analysis.analyst.SessionAnalyst` and sends the
laps it placed to the session's SSE clients, every message encoded once. A
feed nobody asked for in :data:`IDLE_S` stops at the next request. The fold
and the read models are CPU work for a long race: they run in a worker
thread, one at a time per session (a lock), so live clients keep being
served.

- ``/api/sessions/{key}/analysis[?seq=N|time=6h]``: the whole
  :class:`~schemas.analysis.SessionAnalysis` (at a point: folded from the log
  for the request);
- ``/api/sessions/{key}/analysis/cars/{number}``: one car's laps, stints,
  stops and drive times;
- ``/api/sessions/{key}/analysis/series``: a :class:`~schemas.analysis.ChartSeries`;
- ``/api/sessions/{key}/analysis/stream``: server-sent events, a ``series``
  first (and again whenever a lap already sent changes), then an ``update``
  per batch of events (its new laps, if any, the flags and the clock), each
  applying to the message before it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import msgspec
from nats.js import JetStreamContext
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from schemas.analysis import CarAnalysis, ChartSeries, SessionAnalysis
from schemas.events import SessionRef, SessionStarted
from schemas.subjects import session_filters
from services.analysis.analyst import SessionAnalyst, analyse
from services.broker.bulkread import StoredMsg, StreamTail
from services.broker.reader import decoded, read_events
from services.classification.fold import SessionFold, fold_until
from services.gateway.openapi import KEY
from services.gateway.push import SSE_HEADERS, within_heartbeat
from services.gateway.responses import BadRequest, error, int_param, json_response, session_param
from services.gateway.state import gateway_of
from services.ops.instants import parse_instant
from services.tasks import cancel

log = logging.getLogger("chequered.gateway.analysis")

IDLE_S = 300.0
"""A feed with no client that nobody asked for this long stops (it starts again from the log when asked)."""
CATCH_UP_S = 60.0
"""How long a request waits for a feed to read the session's log before answering 503."""
MAX_FEEDS = 32
"""Sessions whose analysis the gateway follows at once (each holds the session's fold and a consumer)."""
CLIENT_QUEUE = 256
"""Messages an SSE client may fall behind by before it is dropped (it reconnects and gets a new series)."""
T = TypeVar("T")


class AnalysisFeed:
    """One session's analysis, kept in step with the log, and the SSE clients that follow it."""

    def __init__(self, js: JetStreamContext, session: SessionRef) -> None:
        self.session = session
        self.analyst = SessionAnalyst(SessionFold(session))
        self.caught_up = asyncio.Event()
        self.lock = asyncio.Lock()
        """Held while the analyst changes or is read (in a worker thread)."""
        self.clients: set[asyncio.Queue[bytes | None]] = set()
        self.used = time.monotonic()
        self.sent_seq = 0
        self._task = asyncio.create_task(self._follow(js), name=f"analysis-{session.key}")

    async def read(self, build: Callable[[SessionAnalyst], T]) -> T:
        """``build(analyst)`` in a worker thread, once the feed has read the log it found at start."""
        self.used = time.monotonic()
        try:
            async with asyncio.timeout(CATCH_UP_S):
                await self.caught_up.wait()
        except TimeoutError:
            raise HTTPException(503, f"the analysis of {self.session.key} is still reading the log") from None
        async with self.lock:
            return await asyncio.to_thread(build, self.analyst)

    async def _follow(self, js: JetStreamContext) -> None:
        async with StreamTail(js, session_filters(self.session.key)) as tail:
            if not tail.backlog_at_open:
                self.caught_up.set()
            while True:
                if not (batch := await tail.next_batch()):
                    continue  # read on from a new consumer, at the head
                async with self.lock:
                    message = await asyncio.to_thread(self._fold, batch)
                    if message is not None:
                        self._broadcast(message)
                if batch[-1].pending == 0:
                    self.caught_up.set()

    def _fold(self, batch: list[StoredMsg]) -> bytes | None:
        """Fold a batch (in a worker thread); the SSE message for the clients, if any."""
        analyst = self.analyst
        for stored, event in decoded(batch):
            analyst.apply(stored.seq, event)
        if analyst.fold.opened is None:
            return None
        new = analyst.take()
        if not self.clients or analyst.fold.last_seq == self.sent_seq:
            return None
        if new is None:
            return _sse(analyst.series())
        return _sse(analyst.update(self.sent_seq, new))  # even with no new lap: a flag, the clock, the next base

    def _broadcast(self, message: bytes) -> None:
        self.sent_seq = self.analyst.fold.last_seq
        for queue in list(self.clients):
            try:
                queue.put_nowait(message)
            except asyncio.QueueFull:
                self.clients.discard(queue)
                queue.get_nowait()
                queue.put_nowait(None)  # ends that client's stream: it reconnects for a new series
                log.warning("an analysis client of %s was dropped: too far behind", self.session.key)

    async def subscribe(self) -> tuple[asyncio.Queue[bytes | None], bytes]:
        """A queue of the messages to come and, to send before them, the series as it stands."""
        queue: asyncio.Queue[bytes | None] = asyncio.Queue(CLIENT_QUEUE)

        def attach(analyst: SessionAnalyst) -> bytes:
            self.sent_seq = analyst.fold.last_seq
            return _sse(analyst.series())

        series = await self.read(attach)
        self.clients.add(queue)  # under no await since the series was taken: no update falls in between
        return queue, series

    def idle(self, now: float) -> bool:
        return not self.clients and now - self.used > IDLE_S

    @property
    def alive(self) -> bool:
        """False once following the log failed (the broker went away for good): the next request starts anew."""
        return not self._task.done()

    async def stop(self) -> None:
        await cancel(self._task)
        for queue in self.clients:
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(None)
        self.clients.clear()


def _sse(message: Any) -> bytes:
    kind = "series" if isinstance(message, ChartSeries) else "update"
    return b"id: %d\nevent: %s\ndata: %b\n\n" % (message.seq, kind.encode(), msgspec.json.encode(message))


class AnalysisFeeds:
    """The gateway's analysis feeds, one per session asked for; idle ones stop."""

    def __init__(self) -> None:
        self.feeds: dict[str, AnalysisFeed] = {}

    async def of(self, js: JetStreamContext, session: SessionRef) -> AnalysisFeed:
        now = time.monotonic()
        for key, feed in list(self.feeds.items()):
            if key != session.key and (feed.idle(now) or not feed.alive):
                del self.feeds[key]
                await feed.stop()
        held = self.feeds.get(session.key)
        if held is not None and held.alive:
            return held
        if held is not None:
            await held.stop()
        elif len(self.feeds) >= MAX_FEEDS:
            raise HTTPException(503, f"the gateway already follows {MAX_FEEDS} sessions' analyses; try again later")
        feed = self.feeds[session.key] = AnalysisFeed(js, session)
        return feed

    async def stop(self) -> None:
        feeds, self.feeds = list(self.feeds.values()), {}
        for feed in feeds:
            await feed.stop()


def feeds_of(request: Request) -> AnalysisFeeds:
    feeds: AnalysisFeeds = request.app.state.analysis
    return feeds


async def _feed(request: Request) -> AnalysisFeed:
    """The session's feed; 404 for a session the gateway holds no classification of (nothing to follow, and no
    reader to be started for every key a client makes up)."""
    session, gateway = session_param(request), gateway_of(request)
    if gateway.hub.classification(session.key) is None:
        raise HTTPException(404, f"no session {session.key}")
    return await feeds_of(request).of(gateway.js, session)


def _opened(analyst: SessionAnalyst) -> bool:
    return analyst.fold.opened is not None


async def _at_point(request: Request, session: SessionRef, seq: int | None, time_text: str) -> Response:
    gateway = gateway_of(request)
    async with gateway.time_travel:  # the read and the fold: at most so many whole-session folds at once
        # a sequence alone needs the log up to it; a time may be relative to a start later than any sequence
        events = await read_events(gateway.js, session.key, until_seq=None if time_text else seq)
        started = next((e.at for _, e in events if isinstance(e.body, SessionStarted)), None)
        try:
            at = parse_instant(time_text, started) if time_text else None
        except ValueError as err:
            raise BadRequest(str(err)) from err

        def build() -> SessionAnalysis | None:
            state = fold_until(events, seq=seq, at=at).sessions.get(session.key)
            return analyse(state) if state is not None and state.opened is not None else None

        found = await asyncio.to_thread(build)
    if found is None:
        return error(404, f"session {session.key} was not open at that point")
    return json_response(found)


async def analysis(request: Request) -> Response:
    session = session_param(request)
    seq, time_text = int_param(request, "seq"), request.query_params.get("time", "")
    if seq is not None or time_text:
        return await _at_point(request, session, seq, time_text)
    return await _whole(request, session, SessionAnalyst.analysis)


async def car(request: Request) -> Response:
    session, number = session_param(request), request.path_params["number"]
    feed = await _feed(request)

    def build(analyst: SessionAnalyst) -> CarAnalysis | None:
        if not _opened(analyst) or number not in analyst.fold.cars:
            return None
        return analyst.car(number)

    found = await feed.read(build)
    if found is None:
        return error(404, f"car #{number} is not in {session.key}")
    return json_response(found)


async def series(request: Request) -> Response:
    return await _whole(request, session_param(request), SessionAnalyst.series)


async def _whole(request: Request, session: SessionRef, view: Callable[[SessionAnalyst], object]) -> Response:
    """One view of the whole session as JSON, or 404 when the log has not opened it."""
    found = await (await _feed(request)).read(lambda a: msgspec.json.encode(view(a)) if _opened(a) else None)
    if found is None:
        return error(404, f"no events of session {session.key} in the log")
    return Response(found, media_type="application/json")


async def _stream(feed: AnalysisFeed, queue: asyncio.Queue[bytes | None], first: bytes) -> AsyncIterator[bytes]:
    try:
        yield first
        while (message := await within_heartbeat(queue.get())) is not None:
            yield message
    finally:
        feed.clients.discard(queue)
        feed.used = time.monotonic()


async def stream(request: Request) -> Response:
    feed = await _feed(request)
    queue, first = await feed.subscribe()
    return StreamingResponse(
        _stream(feed, queue, first),
        media_type="text/event-stream",
        headers=SSE_HEADERS,
    )


ROUTES = [
    Route("/api/sessions/{key}/analysis", analysis),
    Route("/api/sessions/{key}/analysis/cars/{number}", car),
    Route("/api/sessions/{key}/analysis/series", series),
    Route("/api/sessions/{key}/analysis/stream", stream),
]


def _get(summary: str, schema: dict[str, Any], parameters: list[dict[str, Any]], description: str) -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "description": description,
            "parameters": parameters,
            "responses": {
                "200": {"description": "found", "content": {"application/json": {"schema": schema}}},
                "401": {"description": "missing or invalid read token"},
                "404": {"description": "no such session (or car), or not open at that point"},
                "503": {"description": "the gateway is still reading the session's log"},
            },
        }
    }


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


OPENAPI: dict[str, Any] = {
    "/api/sessions/{key}/analysis": _get(
        "A session lap by lap: every car's laps, stints, stops, drive times, best sectors; fastest-lap sequence",
        _ref("SessionAnalysis"),
        [
            KEY,
            {"name": "seq", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 0}},
            {"name": "time", "in": "query", "required": False, "schema": {"type": "string"}},
        ],
        "Live, or at a point of the session: `seq` (after stream sequence N) and/or `time` (ISO 8601, epoch ms, "
        "or session time since the green: `6h`), as time travel does.",
    ),
    "/api/sessions/{key}/analysis/cars/{number}": _get(
        "One car's per-lap history, stints, stops and drive times",
        _ref("CarAnalysis"),
        [KEY, {"name": "number", "in": "path", "required": True, "schema": {"type": "string"}}],
        "Each lap with its position, class position, gap to the leader and class leader, pit in/out, driver, flag.",
    ),
    "/api/sessions/{key}/analysis/series": _get(
        "Lap chart, race trace and lap-time series for graphics to draw",
        _ref("ChartSeries"),
        [KEY],
        "`points` are laps as arrays `[number, lap, at, lap_ms, position, class_position, gap_ms, class_gap_ms, "
        "laps_down, class_laps_down, marks]` in crossing order.",
    ),
    "/api/sessions/{key}/analysis/stream": {
        "get": {
            "summary": "Server-sent events: the series, then the laps as they are placed",
            "parameters": [KEY],
            "responses": {
                "200": {
                    "description": "`event: series` (a ChartSeries) first, and again whenever a lap already sent "
                    "changes (a late event, a deleted lap); `event: update` (a ChartUpdate) per batch of new laps",
                    "content": {"text/event-stream": {"schema": _ref("ChartMessage")}},
                }
            },
        }
    },
}
