"""The calendar in a terminal (``chequered calendar``): the next-event line, then a table per round, readable at
80 columns."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from schemas.calendar import Alert, CalendarView, NextEvent, RoundView, SessionState, SessionView

_STYLE = {
    SessionState.LIVE: "bold green",
    SessionState.NO_DATA: "bold red",
    SessionState.STALLED: "bold red",
    SessionState.OVER: "dim",
    SessionState.CANCELLED: "dim strike",
}


def _row(session: SessionView) -> list[Text]:
    style = _STYLE.get(session.state, "")
    kind = session.kind.value if session.points.value == "none" else f"{session.kind.value}, {session.points.value}"
    return [Text(session.window, style), Text(session.name, style), Text(kind, "dim"), Text(session.note, style)]


def _round(round_: RoundView) -> Table:
    where = round_.zone if round_.zone == round_.time_zone else f"times {round_.zone}"
    table = Table(
        title=Text(f"{round_.name} \u00b7 {round_.dates} \u00b7 {where}", "bold"),
        caption=round_.circuit,
        title_justify="left",
        caption_justify="left",
        show_header=False,
        box=None,
        padding=(0, 1),
    )
    for column in ("when", "session", "kind", "note"):
        table.add_column(column, overflow="fold")
    for session in round_.sessions:
        table.add_row(*_row(session))
    return table


def render_calendar(view: CalendarView, upcoming: NextEvent, alerts: list[Alert]) -> RenderableType:
    parts: list[RenderableType] = [Text(f"{view.name} ({view.championship})", "bold"), Text(upcoming.text), Text()]
    parts += [Text(alert.message, "bold red") for alert in alerts]
    for round_ in view.rounds:
        parts += [_round(round_), Text()]
    return Group(*parts)
