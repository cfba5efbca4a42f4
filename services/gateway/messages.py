"""What the gateway sends: push messages (SSE and WebSocket) and REST bodies, all msgspec Structs.

A feed starts with a :class:`Snapshot` (one whole KV value); each :class:`Update`
after it is a delta, one message applied at once, that turns the value of
``base_seq`` into the value of ``seq`` (see :mod:`services.gateway.delta`), so a
client applying them in order always holds exactly one whole value. ``seq`` is
that value's ``last_seq``, the stream sequence a client passes back
(``Last-Event-ID`` or ``?since=``) to resume.
"""

from __future__ import annotations

import enum

from msgspec import Struct

from schemas.events import Flag, SessionKind, TableKind
from schemas.results import (
    Classification,
    ClassifiedCar,
    SessionPhase,
)
from schemas.standings import LiveStandings, TitleFight
from services.classification.palette import Swatch


class SnapshotReason(enum.StrEnum):
    CONNECTED = "connected"
    """The first message of a connection that did not ask to resume."""
    GAP = "gap"
    """The client asked to resume from a sequence the buffer no longer reaches back to."""
    RESET = "reset"
    """The read model went backwards (a bucket rebuilt or replaced), or the value cannot be sent as a delta:
    start again from this value."""


class Snapshot(Struct, frozen=True, kw_only=True, tag_field="kind", tag="snapshot"):
    """The whole current classification; replaces whatever the client held."""

    seq: int
    reason: SnapshotReason
    classification: Classification
    taken_ms: int = 0
    """The gateway's wall clock (ms since the epoch) when it took this value from the bucket."""
    sent_ms: int = 0
    """The gateway's wall clock when it sent this message: a client's estimate of its clock offset (a page runs
    the session clock from it between values)."""
    crossing_ms: int = 0
    """The gateway's wall clock when it took the first value with this one's latest crossing: the session clock
    runs from that crossing since then (a value taken later for a race-control message is no later crossing)."""


class Update(Struct, frozen=True, kw_only=True, tag_field="kind", tag="update"):
    """The next value of the classification, in stream order, as a delta from the value of ``base_seq``.

    Apply it only to the value of ``base_seq`` (the previous message's ``seq``): take ``head`` whole,
    replace or add the rows of ``cars`` by ``number``, drop the numbers in ``removed``, and order the rows
    by ``position``. The result is exactly the value of ``seq``.
    """

    seq: int
    base_seq: int
    head: Classification
    """The session-level fields of the new value, sent whole; its ``cars`` is empty (the rows are in ``cars``)."""
    cars: list[ClassifiedCar] = []
    """The rows that changed or are new since ``base_seq``."""
    removed: list[str] = []
    """Numbers of the cars no longer in the classification."""
    taken_ms: int = 0
    """The gateway's wall clock (ms since the epoch) when it took the value of ``seq`` from the bucket (and sent
    it to the clients following live)."""


StreamMessage = Snapshot | Update


class SessionSummary(Struct, frozen=True, kw_only=True):
    key: str
    name: str
    kind: SessionKind
    phase: SessionPhase
    flag: Flag
    last_seq: int
    as_of: int
    cars: int


class Sessions(Struct, frozen=True, kw_only=True):
    sessions: list[SessionSummary]
    """Most recently active first."""


class GridSlot(Struct, frozen=True, kw_only=True):
    position: int
    number: str
    class_name: str
    class_position: int
    team: str
    driver: str | None
    qualifying_ms: int | None


class Grid(Struct, frozen=True, kw_only=True):
    session: str
    kind: SessionKind
    last_seq: int
    slots: list[GridSlot]


class Health(Struct, frozen=True, kw_only=True):
    status: str
    nats: bool
    sessions: int
    clients: int
    """Push clients connected now."""
    written_directly: int
    """Of those, the ones the hub writes to itself (the others are served through ASGI ``send``)."""
    dropped: int
    """Push clients disconnected for falling too far behind, since start."""


class Palette(Struct, frozen=True, kw_only=True):
    """Each class of a session and how it is drawn: colour, text colour on it, pattern."""

    classes: dict[str, Swatch]


class ApiError(Struct, frozen=True, kw_only=True):
    error: str


class PageRow(Struct, frozen=True):
    position: int
    name: str
    """The competitor; a crew's drivers joined with `` / ``."""
    points: float
    live_points: float
    before: int | None
    competitors: list[str] = []
    """The drivers of a crew shown as one row (they drive the same car and score the same): one position."""


class PageTable(Struct, frozen=True, kw_only=True):
    kind: TableKind
    class_name: str | None
    label: str
    rows: list[PageRow]


class StandingsState(enum.StrEnum):
    AS_IT_STANDS = "as_it_stands"
    """A round is running: the standings with its provisional classification."""
    PROVISIONAL = "provisional"
    """The session's results are declared provisional."""
    FINAL = "final"
    """No round running and the session's results final (or not a round of the championship)."""


class PageStandings(Struct, frozen=True):
    """The live page's championship panel: every table as it stands (crews as one row each), whether it is as it
    stands, provisional or final, the drivers' table asked for (``table``, ``rows``) and who can still win it
    (``title``), and the whole read model."""

    championship: str
    round: str | None
    table: str
    rows: list[PageRow]
    standings: LiveStandings
    title: TitleFight | None = None
    state: StandingsState = StandingsState.AS_IT_STANDS
    tables: list[PageTable] = []
