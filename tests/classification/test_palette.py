"""Class colours: one palette for the page, the overlays, the graphics data and the terminal tower."""

from __future__ import annotations

import io
import itertools

from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from schemas.events import PenaltyIssued, PenaltyKind, SessionStarted
from services.classification.palette import COLOURS, class_swatches, contrast, swatch
from services.classification.timefmt import PENALTY_NOTE
from services.classification.tower import render_tower
from tests.factory import SessionWriter, classify

WCAG_AA = 4.5


def test_the_text_on_every_colour_passes_wcag_aa() -> None:
    for index in range(len(COLOURS)):
        chosen = swatch(index)
        assert contrast(chosen.colour, chosen.text) >= WCAG_AA, chosen


def test_contrast_is_the_wcag_ratio() -> None:
    """Known values: black on white is 21:1, a colour on itself 1:1, WCAG's own example #777777 on white 4.48."""
    assert round(contrast("#000000", "#FFFFFF"), 2) == 21.0
    assert contrast("#0072B2", "#0072B2") == 1.0
    assert round(contrast("#777777", "#FFFFFF"), 2) == 4.48


def test_well_known_classes_keep_their_series_colours() -> None:
    wec = class_swatches(["Hypercar", "LMP2", "LMGT3"])
    assert [wec[name].colour for name in ("Hypercar", "LMP2", "LMGT3")] == ["#D55E00", "#0072B2", "#009E73"]
    assert class_swatches(["LM P2", "lmp2"])["LM P2"].colour == "#0072B2"


@given(st.sets(st.text(st.characters(codec="utf-8"), min_size=1, max_size=12), min_size=1, max_size=8))
def test_up_to_eight_classes_never_share_a_colour_and_the_order_given_does_not_matter(names: set[str]) -> None:
    swatches = class_swatches(names)
    assert len({s.colour for s in swatches.values()}) == len(names)
    assert class_swatches(sorted(names, reverse=True)) == swatches


def test_beyond_eight_classes_a_shared_colour_comes_with_another_pattern() -> None:
    swatches = class_swatches(f"Class {n}" for n in range(12))
    for a, b in itertools.combinations(swatches.values(), 2):
        assert (a.colour, a.pattern) != (b.colour, b.pattern)


def tower_text(events: list, width: int = 140) -> str:  # type: ignore[type-arg]
    classification = classify(events)
    out = io.StringIO()
    Console(file=out, width=width, color_system="truecolor", force_terminal=True).print(
        render_tower(classification, width=width)
    )
    return out.getvalue()


def test_the_terminal_tower_draws_classes_in_the_palette_and_marks_gaps_with_penalties() -> None:
    w = SessionWriter()
    events = [w.opened(), w.entry("1", "LMP2"), w.entry("2", "LMP2"), w.entry("3", "Hypercar")]
    events += [w.event(SessionStarted(), 0), w.lap("3", 1, 99_000), w.lap("1", 1, 100_000), w.lap("2", 1, 100_500)]
    plain = tower_text(events)
    assert "48;2;0;114;178" in plain  # LMP2 on #0072B2 (24-bit background)
    assert "48;2;213;94;0" in plain  # Hypercar on #D55E00
    assert "+1.000" in plain and "*" not in plain and PENALTY_NOTE not in plain
    penalised = tower_text(
        [*events, w.event(PenaltyIssued(number="1", decision="D1", kind=PenaltyKind.TIME, time_ms=5_000), 101_000)]
    )
    assert "+4.500*" in penalised  # #2 is now ahead of #1: 4.5 s at the line, #1's 5 s included
    assert PENALTY_NOTE in penalised
