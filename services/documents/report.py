"""A session's documents, from its log: the same events always give the same bytes.

:func:`session_documents` folds the session's events (up to ``until_seq``:
the declaration they are generated for), builds the classification and the
analysis once, and renders every document that applies to the session:
races get the lap chart, races of six hours or more the hourly
classification.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from schemas.analysis import DocumentInfo
from schemas.events import Event, SessionKind, SessionRef
from services.analysis.analyst import analyse
from services.classification.fold import fold_until
from services.classification.hourly import HOUR_MS, hourly
from services.documents import official
from services.documents.alkamel import chronological_csv

PDF = "application/pdf"
CSV = "text/csv"
HOURLY_FROM_MS = 6 * HOUR_MS
"""Races this long (by their set length, or by the time they ran) get the hourly classification."""


@dataclass(frozen=True)
class Document:
    name: str
    title: str
    media_type: str
    data: bytes

    @property
    def info(self) -> DocumentInfo:
        pages = self.data.count(b"/Type /Page\n") if self.media_type == PDF else None
        return DocumentInfo(
            name=self.name, title=self.title, media_type=self.media_type, size=len(self.data), pages=pages
        )


def session_documents(
    events: Sequence[tuple[int, Event]],
    session: SessionRef,
    *,
    until_seq: int | None = None,
    progress: Callable[[Document], None] | None = None,
) -> list[Document]:
    """Every document of the session as the log stood at ``until_seq`` (default: all of ``events``);
    ``progress`` is given each document as it is done. ``LookupError`` when the session was never opened."""
    state = fold_until(events, seq=until_seq).sessions.get(session.key)
    if state is None or state.opened is None:
        raise LookupError(f"session {session.key} was never opened in the log")
    classification = state.classification()
    analysis = analyse(state)
    head = official.heading(classification, state.opened.track, state.opened.time_zone)
    race = state.opened.kind is SessionKind.RACE
    made: list[Document] = []

    def add(name: str, title: str, media_type: str, render: Callable[[], bytes]) -> None:
        made.append(Document(name, title, media_type, render()))
        if progress is not None:
            progress(made[-1])

    add(
        "classification.pdf", "Classification", PDF, lambda: official.classification_pdf(head, classification, analysis)
    )
    add("best-sectors.pdf", "Best sector times", PDF, lambda: official.best_sectors_pdf(head, analysis))
    add("fastest-laps.pdf", "Fastest lap sequence", PDF, lambda: official.fastest_laps_pdf(head, analysis))
    add("pit-stops.pdf", "Pit stop summary", PDF, lambda: official.pit_stops_pdf(head, analysis))
    add("driving-time.pdf", "Driving time report", PDF, lambda: official.driving_time_pdf(head, analysis))
    if race:
        add("lap-chart.pdf", "Lap chart", PDF, lambda: official.lap_chart_pdf(head, analysis))
        end = state.chequered_at if state.chequered_at is not None else state.as_of
        ran = end - state.started_at if state.started_at is not None else 0
        if max(state.opened.length.time_ms or 0, ran) >= HOURLY_FROM_MS:
            upto = [(seq, e) for seq, e in events if until_seq is None or seq <= until_seq]
            hours = hourly(upto, session)
            assert hours is not None  # the session is open in these events
            add("hourly.pdf", "Hourly classification", PDF, lambda: official.hourly_pdf(head, hours))
    add("analysis.csv", "Chronological lap analysis (Al Kamel layout)", CSV, lambda: chronological_csv(analysis))
    return made
