"""Standings tables for people: a crew is one row, unrelated drivers never are; position and points are never cut."""

from __future__ import annotations

import io

from rich.console import Console

from services.standings.render import points_text, render_table
from tests.standings.season import Car, Session, book, run, table

GRID = [Car("1", crew=("Ann Alder", "Abe Ash")), Car("2", crew=("Bob Birch",)), Car("3", crew=("Cy Cedar",))]
GRID += [Car("4", crew=("Dan Dogwood",))]


def lines(rendered: object, width: int) -> list[str]:
    console = Console(width=width, file=io.StringIO(), color_system=None)
    console.print(rendered, crop=False)
    assert isinstance(console.file, io.StringIO)
    return console.file.getvalue().splitlines()


def cells(line: str) -> list[str]:
    """The words of a table line, borders left out."""
    return line.replace("│", " ").replace("┃", " ").split()


def test_a_crew_is_one_row_and_drivers_of_different_cars_are_not() -> None:
    """Cy and Dan both retired in the only round: level on 0 points with equal cells, but in different cars."""
    standings = run(book(), Session("r1", GRID, ["1", "2", "3", "4"], retire={"3": 2, "4": 2}))
    shown = "\n".join(lines(render_table(standings, table(standings)), 200))
    assert "Abe Ash / Ann Alder" in shown
    assert "Cy Cedar / Dan Dogwood" not in shown
    assert any(cells(line)[:3] == ["4", "Cy", "Cedar"] for line in shown.splitlines())
    assert any(cells(line)[:3] == ["5", "Dan", "Dogwood"] for line in shown.splitlines())


def test_narrow_tables_shorten_names_then_leave_out_the_first_rounds() -> None:
    grid = [Car("1", crew=("Ann Alder",)), *GRID[1:]]
    sessions = [Session(f"r{i}", grid, ["1", "2", "3", "4"] if i % 2 else ["2", "1", "4", "3"]) for i in range(1, 7)]
    standings = run(book(), *sessions)
    drivers = table(standings)
    assert "Ann Alder" in "\n".join(lines(render_table(standings, drivers), 200))
    narrow = lines(render_table(standings, drivers, width=40), 40)
    assert max(len(line) for line in narrow) <= 40
    text = "\n".join(narrow)
    assert "A. Alder" in text
    assert "R1 to R4 not shown, to fit" in text
    for row in drivers.rows:  # every row keeps its position and its points, whole
        assert any(
            cells(line)[:1] == [str(row.position)] and points_text(row.points) in cells(line) for line in narrow
        ), row.competitor
