"""Standings as people read them: rich tables for a terminal, CSV for a spreadsheet, JSON for programs."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TextIO

import msgspec
from rich.table import Table
from rich.text import Text

from schemas.events import TableKind
from schemas.results import ResultStatus
from schemas.standings import (
    AwardKind,
    LiveStandings,
    LiveTable,
    RoundScore,
    RoundState,
    ScoreState,
    Standings,
    StandingsRow,
    StandingsTable,
    TitleStatus,
)
from services.classification.labels import short_name
from services.classification.tower import table_width
from services.standings.title import contenders

_STATUS = {
    ResultStatus.NOT_CLASSIFIED: "NC",
    ResultStatus.DID_NOT_FINISH: "DNF",
    ResultStatus.DID_NOT_START: "DNS",
    ResultStatus.DISQUALIFIED: "DSQ",
    ResultStatus.EXCLUDED: "EXC",
}
_MARKS = {AwardKind.POLE: "p", AwardKind.FASTEST_LAP: "f"}
_STATE = {RoundState.RUNNING: "live", RoundState.PROVISIONAL: "prov.", RoundState.FINAL: "", RoundState.SCHEDULED: ""}
_COMPETITOR = {"drivers": "Driver", "teams": "Team", "manufacturers": "Manufacturer"}


def points_text(points: float) -> str:
    return f"{points:.2f}".rstrip("0").rstrip(".")


def _cell(score: RoundScore) -> Text:
    """Points, with p for a pole and f for a fastest lap; a non-scoring result's status; dropped in brackets."""
    if not score.points and score.results:
        statuses = [r.status for r in score.results if r.status in _STATUS]
        text = _STATUS[statuses[-1]] if statuses else "0"
    else:
        text = points_text(score.points)
    marks = "".join(sorted({_MARKS[a.kind] for a in score.awards if a.kind in _MARKS}))
    if marks:
        text += f" {marks}"
    if score.state is ScoreState.DROPPED:
        return Text(f"({text})", "dim")
    if score.state is ScoreState.EXCLUDED:
        return Text(f"{text} EX", "bold red")
    return Text(text)


def _cars(row: StandingsRow) -> list[tuple[int, list[tuple[str, str]]]]:
    """The car(s) a competitor scored with, round by round."""
    return [(score.index, sorted((r.session, r.number) for r in score.results)) for score in row.rounds]


def _cells(row: StandingsRow) -> list[tuple[int, float, ScoreState]]:
    return [(score.index, score.points, score.state) for score in row.rounds]


def _crews(rows: list[StandingsRow]) -> list[list[StandingsRow]]:
    """Rows shown as one: competitors who drove the same car in every round and scored the same there, apart only
    by name (a car's crew). Equal points alone are not a crew: two drivers of different cars can score alike."""
    groups: list[list[StandingsRow]] = []
    for row in rows:
        last = groups[-1][-1] if groups else None
        if (
            last is not None
            and row.points == last.points
            and row.tie.endswith("alphabetical order")
            and any(score.results for score in row.rounds)
            and _cars(row) == _cars(last)
            and _cells(row) == _cells(last)
        ):
            groups[-1].append(row)
        else:
            groups.append([row])
    return groups


@dataclass(frozen=True)
class _Fit:
    """How a standings table is made narrower, one step more at a time."""

    short_names: bool = False
    """Drivers as initial and surname."""
    short_headers: bool = False
    """Round columns headed R1, R2 ... without the event."""
    capped_names: bool = False
    """The competitor column at most :data:`NAME_WIDTH`, longer names cut with an ellipsis."""
    hidden_rounds: int = 0
    """The first rounds left out."""


NAME_WIDTH = 18


def _fits(rounds: int) -> Iterator[_Fit]:
    yield _Fit()
    yield _Fit(short_names=True)
    yield _Fit(short_names=True, short_headers=True)
    for hidden in range(rounds):
        yield _Fit(short_names=True, short_headers=True, capped_names=True, hidden_rounds=hidden)


def render_table(standings: Standings, table: StandingsTable, width: int | None = None) -> Table:
    """One table of the standings, at most ``width`` columns wide when it can be (None: however wide). Position
    and points are never cut: names are shortened first, then the oldest rounds left out (the caption says so)."""
    view = Table()
    for fit in _fits(len(standings.rounds)):
        view = _view(standings, table, fit)
        if width is None or table_width(view) <= width:
            break
    return view


def _view(standings: Standings, table: StandingsTable, fit: _Fit) -> Table:
    live = " — as it stands" if standings.live else ""
    view = Table(title=f"{standings.name}: {table.label}{live}", header_style="bold", title_justify="left")
    view.add_column("Pos", justify="right", no_wrap=True)
    view.add_column(
        _COMPETITOR[table.kind.value],
        no_wrap=True,
        max_width=NAME_WIDTH if fit.capped_names else None,
        overflow="ellipsis",
    )
    view.add_column("Pts", justify="right", style="bold", no_wrap=True)
    rounds = standings.rounds[fit.hidden_rounds :]
    for info in rounds:
        state = _STATE[info.state]
        header = f"R{info.index}" + ("" if fit.short_headers else f"\n{info.event}") + (f"\n{state}" if state else "")
        view.add_column(header, justify="right", no_wrap=True)
    notes = []
    groups = _crews(table.rows)
    shorten = fit.short_names and table.kind is TableKind.DRIVERS
    for group in groups:
        first = group[0]
        by_index = {score.index: score for score in first.rounds}
        cells = [_cell(by_index[info.index]) if info.index in by_index else Text("") for info in rounds]
        names = " / ".join(short_name(row.competitor) if shorten else row.competitor for row in group)
        view.add_row(str(first.position), names, points_text(first.points), *cells)
        if first.tie and len(group) == 1:
            notes.append(f"{first.competitor}: {first.tie}")
        notes += [
            f"{row.competitor}: -{points_text(d.points)} by decision {d.decision}" + (f" ({d.reason})" * bool(d.reason))
            for row in group
            for d in row.deductions
        ]
    if fit.hidden_rounds:
        hidden = standings.rounds[: fit.hidden_rounds]
        shown = f"R{hidden[0].index}" + (f" to R{hidden[-1].index}" if len(hidden) > 1 else "")
        notes.append(f"{shown} not shown, to fit (--format csv has every round)")
    view.caption = "\n".join([_legend(table, len(table.rows) > len(groups)), *notes])
    view.caption_justify = "left"
    return view


def _legend(table: StandingsTable, shared: bool) -> str:
    """The marks this table uses."""
    scores = [score for row in table.rows for score in row.rounds]
    kinds = {award.kind for score in scores for award in score.awards}
    states = {score.state for score in scores}
    marks = [
        ("(n) dropped", ScoreState.DROPPED in states),
        ("EX excluded", ScoreState.EXCLUDED in states),
        ("p pole", AwardKind.POLE in kinds),
        ("f fastest lap", AwardKind.FASTEST_LAP in kinds),
        ("a / b: a crew sharing every result", shared),
    ]
    return " · ".join(text for text, used in marks if used)


def render_tables(standings: Standings, width: int | None = None) -> list[Table]:
    return [render_table(standings, table, width) for table in standings.tables if table.rows]


_TITLE_STATUS = {TitleStatus.CHAMPION: "champion", TitleStatus.CONTENDER: "can win"}


def render_title(standings: Standings | LiveStandings, table: StandingsTable | LiveTable) -> Table | None:
    """Who can still win a table: points now, as it stands, the most they can reach, and what they need."""
    fight = table.title
    if fight is None:
        return None
    name = standings.name if isinstance(standings, Standings) else standings.championship
    if fight.decided:
        left = "decided"
    elif fight.remaining:
        left = f"{fight.remaining} scoring session{'s' * (fight.remaining != 1)} left"
    else:
        left = "every session run: the results to be declared"
    view = Table(title=f"{name}: {table.label} — title fight ({left})", header_style="bold", title_justify="left")
    for column in ("Contender", "Car", "Pts", "Live", "Max", "", "Needs"):
        view.add_column(column, justify="right" if column in ("Pts", "Live", "Max") else "left")
    for c in fight.contenders:
        view.add_row(
            " / ".join(c.competitors),
            f"#{c.number}" if c.number else "",
            points_text(c.points),
            points_text(c.live_points),
            points_text(c.max_points),
            Text(_TITLE_STATUS[c.status] + (" · leads" if c.leads else ""), "bold" if c.leads else ""),
            c.condition.removeprefix("wins the title if ") if c.status is TitleStatus.CONTENDER else c.condition,
        )
    return view


def render_titles(standings: Standings | LiveStandings) -> list[Table]:
    return [view for table in standings.tables if (view := render_title(standings, table)) is not None]


def titles_json(standings: Standings) -> str:
    return msgspec.json.format(msgspec.json.encode(contenders(standings)), indent=2).decode() + "\n"


def write_titles_csv(standings: Standings, out: TextIO) -> None:
    """One row per contender and table."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["table", "class", "contender", "car", "points", "live", "max", "status", "leads", "needs"])
    for table in standings.tables:
        for c in table.title.contenders if table.title else ():
            writer.writerow(
                [
                    table.kind.value,
                    table.class_name or "overall",
                    " / ".join(c.competitors),
                    c.number or "",
                    points_text(c.points),
                    points_text(c.live_points),
                    points_text(c.max_points),
                    c.status.value,
                    "yes" if c.leads else "",
                    c.condition,
                ]
            )


def to_json(standings: Standings) -> str:
    return msgspec.json.format(msgspec.json.encode(standings), indent=2).decode() + "\n"


def write_csv(standings: Standings, out: TextIO) -> None:
    """One row per competitor and table: round points (empty: no result), then what was dropped or excluded."""
    writer = csv.writer(out, lineterminator="\n")
    events = [info.event for info in standings.rounds]
    writer.writerow(["table", "class", "position", "competitor", "points", *events, "dropped", "excluded", "deducted"])
    for table in standings.tables:
        for row in table.rows:
            by_event = {score.round: score for score in row.rounds}
            writer.writerow(
                [
                    table.kind.value,
                    table.class_name or "overall",
                    row.position,
                    row.competitor,
                    points_text(row.points),
                    *(points_text(by_event[e].points) if e in by_event else "" for e in events),
                    " ".join(s.round for s in row.rounds if s.state is ScoreState.DROPPED),
                    " ".join(s.round for s in row.rounds if s.state is ScoreState.EXCLUDED),
                    points_text(sum(d.points for d in row.deductions)),
                ]
            )
