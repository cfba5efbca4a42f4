"""Exact championship points: :class:`fractions.Fraction`.

Configured numbers (scale points, multipliers, shortened-race factors, bonuses) have at most two decimals (the
config loader checks) and become exact fractions; a share divides exactly (a crew of six splitting a win, a
fastest lap set by seven drivers: 1/7 of a point each). Sums, drops and ties compare exact values, so no float
rounding ever decides a championship; read models show two decimals, rounded half up.

Adding a season up is many sums and comparisons: tables work in integers over a common denominator
(:func:`denominator`, :func:`units`), exact and far faster than Fraction arithmetic.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from fractions import Fraction

ZERO = Fraction(0)
ONE = Fraction(1)
HUNDREDTHS = 100
COMMON = 60 * HUNDREDTHS**3
"""A denominator most seasons' points divide: two-decimal points times a two-decimal multiplier and factor, shared
by a crew of up to six. Tables start from it so a new result rarely changes the denominator."""


def exact(value: float) -> Fraction:
    """A configured number (at most two decimals) as an exact fraction: 12.5 is 25/2, never 12.4999..."""
    return Fraction(round(value * HUNDREDTHS), HUNDREDTHS)


def has_two_decimals(value: float) -> bool:
    """False for infinities and NaN too (the loader says so, rather than failing on them)."""
    return math.isfinite(value) and abs(value * HUNDREDTHS - round(value * HUNDREDTHS)) < 1e-6


def denominator(points: Iterable[Fraction], start: int = COMMON) -> int:
    """A denominator every one of ``points`` divides: integer arithmetic over it is exact."""
    return math.lcm(start, *{p.denominator for p in points})


def units(points: Fraction, over: int) -> int:
    """``points`` as a whole number of 1/``over`` (``over`` from :func:`denominator`)."""
    return points.numerator * (over // points.denominator)


def _hundredths(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` in hundredths, rounded half up, exactly."""
    return (2 * HUNDREDTHS * numerator + denominator) // (2 * denominator)


def display(points: Fraction) -> float:
    """For read models: two decimals (8.33 for 25/3)."""
    return _hundredths(points.numerator, points.denominator) / HUNDREDTHS


def display_units(amount: int, over: int) -> float:
    """:func:`display` of ``amount`` / ``over``."""
    return _hundredths(amount, over) / HUNDREDTHS


def format_points(points: Fraction) -> str:
    """As printed: "25", "12.5", "8.33"."""
    if points.denominator == 1:
        return str(points.numerator)
    return f"{display(points):.2f}".rstrip("0").rstrip(".")
