"""The page every official document is printed on: A4, the session and the document's status on top, the data's
point in the log at the bottom, tables of fixed-height rows.

fpdf2 draws it (pure Python, on PyPI; see the README for why). Its table API
measures and wraps every cell, and even a plain cell costs ten times a text,
so :meth:`Sheet.tabulate` lays rows out itself: one line per row, text cut to
its column with an ellipsis, the header repeated on every page. The
standard PDF fonts cover Latin-1 only: other characters are written without
their accents, or as ``?``. The creation date is the data's own instant, so
the same log gives the same bytes.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal
from zoneinfo import ZoneInfo

from fpdf import FPDF

from schemas.events import ResultsStatus

FONT = "Helvetica"
ROW_MM = 3.9
SMALL = 7.0
STAMPS = {
    ResultsStatus.FINAL: ("OFFICIAL", (0, 110, 40)),
    ResultsStatus.PROVISIONAL: ("PROVISIONAL", (200, 100, 0)),
    None: ("NOT DECLARED", (120, 120, 120)),
}
"""The stamp of each results status: its text and colour."""
PUNCTUATION = str.maketrans({"\u2013": "-", "\u2014": "-", "\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})
"""Typographic punctuation outside Latin-1, as its plain twin."""
STRIPE = (238, 241, 246)
HEAD = (30, 40, 60)


def latin(text: str) -> str:
    """``text`` in the standard fonts' Latin-1: accents dropped where that is the only way, else ``?``."""
    try:
        text.encode("latin-1")
        return text
    except UnicodeEncodeError:
        text = text.translate(PUNCTUATION).replace("\u2026", "...")
    out = []
    for char in text:
        if ord(char) < 256:
            out.append(char)
            continue
        plain = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
        out.append(plain if plain and all(ord(c) < 256 for c in plain) else "?")
    return "".join(out)


@dataclass(frozen=True)
class Heading:
    """What every page of a session's documents says about where it comes from."""

    session: str
    """The session's name."""
    key: str
    track: str | None
    status: ResultsStatus | None
    last_seq: int
    as_of: int
    time_zone: str

    def local(self, instant: int, pattern: str = "%Y-%m-%d %H:%M:%S") -> str:
        return datetime.fromtimestamp(instant / 1000, ZoneInfo(self.time_zone)).strftime(pattern)


@dataclass(frozen=True)
class Column:
    title: str
    width: float
    """Millimetres."""
    align: Literal["L", "R", "C"] = "L"


class Sheet(FPDF):
    def __init__(self, heading: Heading, title: str, *, landscape: bool = False) -> None:
        super().__init__(orientation="L" if landscape else "P", unit="mm", format="A4")
        self.heading = heading
        self.title_text = title
        self.set_margins(10, 10, 10)
        self.set_auto_page_break(True, margin=14)
        self.set_creation_date(datetime.fromtimestamp(heading.as_of / 1000, UTC))
        self.set_title(latin(f"{heading.session}: {title}"))
        self.set_author("chequered")
        self.set_creator("chequered")
        self._columns: Sequence[Column] = ()
        self._widths: dict[tuple[str, float, str], float] = {}
        self.add_page()

    def header(self) -> None:
        h = self.heading
        text, colour = STAMPS[h.status]
        self.set_font(FONT, "B", 13)
        self.cell(self.epw - 48, 6, latin(h.session))
        self.set_draw_color(*colour)
        self.set_text_color(*colour)
        self.set_line_width(0.6)
        self.set_font(FONT, "B", 10)
        self.cell(48, 8, text, border=1, align="C")
        self.set_text_color(0, 0, 0)
        self.set_line_width(0.2)
        self.set_draw_color(0, 0, 0)
        self.set_xy(self.l_margin, self.t_margin + 6)
        self.set_font(FONT, "", 8)
        where = " - ".join(part for part in (h.key, h.track) if part)
        self.cell(self.epw - 48, 4, latin(where))
        self.ln(5)
        self.set_font(FONT, "B", 11)
        self.cell(0, 6, latin(self.title_text), new_x="LMARGIN", new_y="NEXT")
        self.line(self.l_margin, self.get_y(), self.l_margin + self.epw, self.get_y())
        self.ln(1.5)
        if self._columns and self.page_no() > 1:
            self._header_row()

    def footer(self) -> None:
        h = self.heading
        self.set_y(-11)
        self.set_font(FONT, "", 6.5)
        self.set_text_color(90, 90, 90)
        data = f"data to stream sequence {h.last_seq}, {h.local(h.as_of)} ({h.time_zone})"
        self.cell(self.epw / 2, 4, latin(f"chequered - {data}"))
        self.cell(self.epw / 2, 4, f"page {self.page_no()} of {{nb}}", align="R")
        self.set_text_color(0, 0, 0)

    # -- content --------------------------------------------------------------

    def section(self, text: str) -> None:
        """A sub-heading; starts a new page when too little room is left for it and a few rows."""
        if self.get_y() > self.h - self.b_margin - 6 * ROW_MM:
            self.add_page()
        self.ln(2)
        self.set_font(FONT, "B", 9)
        self.cell(0, 5, latin(text), new_x="LMARGIN", new_y="NEXT")

    def note(self, text: str) -> None:
        self.set_font(FONT, "", SMALL)
        self.multi_cell(0, ROW_MM, latin(text), new_x="LMARGIN", new_y="NEXT")

    def _header_row(self) -> None:
        self.set_font(FONT, "B", SMALL)
        self.set_fill_color(*HEAD)
        self.set_text_color(255, 255, 255)
        for column in self._columns:
            self.cell(column.width, ROW_MM + 0.6, column.title, align=column.align, fill=True)
        self.ln()
        self.set_text_color(0, 0, 0)

    def tabulate(
        self,
        columns: Sequence[Column],
        rows: Iterable[Sequence[str]],
        *,
        bold: set[int] | None = None,
        size: float = SMALL,
        padding: float = 1.0,
    ) -> None:
        """One line per row, the header on top and again on every new page; ``bold``: indices of rows to
        emphasise; ``size`` (points) and ``padding`` (mm each side of a cell's text) for dense tables.

        Rows are drawn as a stripe and one text per cell, placed by the widths of the strings (measured once
        each): ``cell()`` costs ten times as much, and a 24-hour race's lap chart has 23,000 cells."""
        self._columns = columns
        self.c_margin = padding
        self._header_row()
        width = sum(column.width for column in columns)
        self.set_fill_color(*STRIPE)
        for i, row in enumerate(rows):
            if self.will_page_break(ROW_MM):
                self.add_page()  # the header row comes with the page
                self.set_fill_color(*STRIPE)
            self.set_font(FONT, "B" if bold is not None and i in bold else "", size)
            y = self.get_y()
            if i % 2 == 1:
                self.rect(self.l_margin, y, width, ROW_MM, style="F")
            baseline = y + ROW_MM / 2 + 0.3 * self.font_size
            x = self.l_margin
            for column, value in zip(columns, row, strict=True):
                text = self._fit(latin(value), column.width - 2 * padding)
                if text:
                    if column.align == "L":
                        left = x + padding
                    else:
                        room = column.width - self._width(text)
                        left = x + (room - padding if column.align == "R" else room / 2)
                    self.text(left, baseline, text)
                x += column.width
            self.set_y(y + ROW_MM)
        self._columns = ()
        self.c_margin = 1.0

    def _width(self, text: str) -> float:
        key = (self.font_style, self.font_size_pt, text)
        found = self._widths.get(key)
        if found is None:
            found = self._widths[key] = self.get_string_width(text)
        return found

    def _fit(self, text: str, room: float) -> str:
        """``text``, cut with an ellipsis to ``room`` millimetres."""
        if self._width(text) <= room:
            return text
        while text and self._width(text + "...") > room:
            text = text[:-1]
        return text + "..." if text else ""

    def render(self) -> bytes:
        return bytes(self.output())
