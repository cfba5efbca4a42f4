"""Class colours, defined once for the live page, the overlays, the graphics data and the terminal tower.

The colours are the Okabe-Ito palette (Okabe and Ito, "Color Universal Design", 2008), chosen to stay apart
for viewers with any of the common colour-vision deficiencies; each class also gets a pattern and is always
shown with its name, so nothing depends on colour alone. The text on a colour is black or white, whichever
contrasts more (both pass WCAG AA, 4.5:1, on every colour here: a test checks it).

Well-known classes keep the colour their series uses where the palette has one (WEC: Hypercar red, LMP2 blue,
LMGT3 green); other classes take the free colours in the order of their names, so every screen of a session
gives a class the same colour.
"""

from __future__ import annotations

from collections.abc import Iterable

from msgspec import Struct

COLOURS = ("#D55E00", "#0072B2", "#009E73", "#E69F00", "#CC79A7", "#56B4E9", "#F0E442", "#BBBBBB")
"""Okabe-Ito: vermillion, blue, bluish green, orange, reddish purple, sky blue, yellow, and a grey."""
PATTERNS = ("solid", "stripes", "dots", "checks", "bars")
"""Drawn over the class colour by the page's style sheet (``pat-<name>``)."""

KNOWN = {
    "hypercar": 0,
    "lmh": 0,
    "lmdh": 0,
    "gtp": 0,
    "lmp1": 0,
    "lmp2": 1,
    "lmgt3": 2,
    "gt3": 2,
    "gtd": 2,
    "gte": 3,
    "gtepro": 3,
    "gteam": 3,
    "gtdpro": 3,
    "lmp3": 4,
    "proam": 4,
    "pro": 5,
    "am": 6,
    "bronze": 6,
    "silver": 7,
}
"""Class names (lower case, without spaces, hyphens or slashes) and the index of their colour."""


class Swatch(Struct, frozen=True):
    """How a class is drawn: its colour, the text colour on it, and a pattern."""

    colour: str
    text: str
    pattern: str


def _channel(value: int) -> float:
    c = value / 255
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def luminance(colour: str) -> float:
    """WCAG relative luminance of ``#RRGGBB``."""
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * _channel(r) + 0.7152 * _channel(g) + 0.0722 * _channel(b)


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio of two ``#RRGGBB`` colours (1 to 21)."""
    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def _key(class_name: str) -> str:
    return "".join(ch for ch in class_name.lower() if ch not in " -/_")


def swatch(index: int) -> Swatch:
    colour = COLOURS[index % len(COLOURS)]
    text = "#000000" if contrast(colour, "#000000") >= contrast(colour, "#FFFFFF") else "#FFFFFF"
    return Swatch(colour, text, PATTERNS[index % len(PATTERNS)])


def class_swatches(class_names: Iterable[str]) -> dict[str, Swatch]:
    """Each class of a session and its swatch: a well-known class its own (the first name of a colour, in order),
    the others the free colours in the order of their names (then again, with other patterns, past the eighth)."""
    names = sorted(set(class_names))
    indexes: dict[str, int] = {}
    for name in names:
        known = KNOWN.get(_key(name))
        if known is not None and known not in indexes.values():  # two names for one colour: the second is free
            indexes[name] = known
    free = [i for i in range(len(COLOURS)) if i not in indexes.values()]
    others = [name for name in names if name not in indexes]
    for n, name in enumerate(others):
        indexes[name] = free[n] if n < len(free) else len(COLOURS) + n
    return {name: swatch(indexes[name]) for name in names}
