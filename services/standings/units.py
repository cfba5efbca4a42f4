"""Exact championship points: integers counting 1/UNIT of a point.

Scale points, multipliers, shortened-race factors and bonuses have at most two
decimals (the config loader checks), so ``points * multiplier * factor`` is an
exact multiple of 10⁻⁶ point; a further factor 12 makes every such amount
divisible by any crew size (1 to 4) for split drives. Sums, drops and ties compare
exact integers: no float rounding ever decides a championship.
"""

from __future__ import annotations

import math

HUNDREDTHS = 100
SPLITS = 12
"""Divisible by 1, 2, 3 and 4: a crew's size."""
UNIT = SPLITS * HUNDREDTHS**3
WHOLE = HUNDREDTHS
"""A multiplier or factor of one, in hundredths."""


def hundredths(value: float) -> int:
    """A configured number in hundredths; exact for the two decimals the loader allows."""
    return round(value * HUNDREDTHS)


def has_two_decimals(value: float) -> bool:
    """False for infinities and NaN too (the loader says so, rather than failing on them)."""
    return math.isfinite(value) and abs(value * HUNDREDTHS - round(value * HUNDREDTHS)) < 1e-6


def scaled(points: int, multiplier: int = WHOLE, factor: int = WHOLE) -> int:
    """Scale points (in hundredths) times a multiplier and a factor (in hundredths), in units."""
    return points * multiplier * factor * SPLITS


def bonus(points: int) -> int:
    """Bonus points (in hundredths), in units: no multiplier or factor applies."""
    return points * HUNDREDTHS * HUNDREDTHS * SPLITS


def as_points(units: int) -> float:
    """For read models: exact for halves and quarters, four decimals otherwise."""
    return round(units / UNIT, 4)


def format_points(units: int) -> str:
    """As printed: "25", "12.5", "8.33"."""
    if units % UNIT == 0:
        return str(units // UNIT)
    return f"{units / UNIT:.2f}".rstrip("0").rstrip(".")
