"""Which scale applies to a session and a class, and what a shortened race does to it.

A round's rules are the championship's ``points`` unless the round has its own;
a rule naming a session wins over one for every session of the kind; a class
with a scale of its own uses it, every other class and the overall tables use
the rule's ``scale``. Scales are kept as exact fractions of a point.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

from schemas.events import SessionKind
from schemas.results import Classification
from schemas.standings import RaceEnd, SessionPoints, Shortened
from services.standings.units import ONE, ZERO, exact


@dataclass(frozen=True, slots=True, eq=False)
class PointsScale:
    """Compared and hashed by identity: a rulebook compiles each once, and scoring remembers awards by scale."""

    name: str
    points: tuple[Fraction, ...]
    """Points for position 1, 2, 3, ..."""

    def at(self, position: int) -> Fraction:
        return self.points[position - 1] if 0 < position <= len(self.points) else ZERO

    @property
    def best(self) -> Fraction:
        return max(self.points, default=ZERO)


@dataclass(frozen=True, slots=True)
class IntermediateRule:
    at_ms: int
    label: str
    scale: PointsScale


@dataclass(frozen=True, slots=True)
class SessionRule:
    kind: SessionKind
    sessions: frozenset[str]
    scale: PointsScale
    class_scales: Mapping[str, PointsScale]
    intermediates: tuple[IntermediateRule, ...]

    def scale_for(self, class_key: str | None) -> PointsScale:
        """``class_key`` None is the overall table."""
        if class_key is None:
            return self.scale
        return self.class_scales.get(class_key, self.scale)


@dataclass(frozen=True, slots=True)
class Band:
    """A shortened-race rule, compiled."""

    below_pct: int | None
    below_laps: int | None
    factor: Fraction
    scale: PointsScale | None
    ended: frozenset[RaceEnd]
    text: str
    """As the award's detail says it: "x0.5", "scale half"."""


@dataclass(frozen=True, slots=True, eq=False)
class ShortenedBy:
    """What a shortened race's band does to its points, and why (hashed by identity, as scales are)."""

    factor: Fraction
    scale: PointsScale | None
    why: str


def compile_scale(name: str, scales: Mapping[str, list[float]]) -> PointsScale:
    return PointsScale(name, tuple(exact(points) for points in scales[name]))


def compile_rule(rule: SessionPoints, scales: Mapping[str, list[float]]) -> SessionRule:
    return SessionRule(
        kind=rule.kind,
        sessions=frozenset(rule.sessions),
        scale=compile_scale(rule.scale, scales),
        class_scales={cls: compile_scale(name, scales) for cls, name in rule.class_scales.items()},
        intermediates=tuple(
            IntermediateRule(i.at_ms, i.label or _duration(i.at_ms), compile_scale(i.scale, scales))
            for i in sorted(rule.intermediate, key=lambda i: i.at_ms)
        ),
    )


def compile_band(rule: Shortened, scales: Mapping[str, list[float]]) -> Band:
    factor = exact(rule.factor) if rule.factor is not None else ONE
    scale = compile_scale(rule.scale, scales) if rule.scale is not None else None
    parts = (f"scale {scale.name}" if scale else "", f"x{rule.factor:g}" if rule.factor is not None else "")
    text = " ".join(part for part in parts if part)
    return Band(rule.below_pct, rule.below_laps, factor, scale, frozenset(rule.ended), text)


def rule_for(rules: Sequence[SessionRule], session: str, kind: SessionKind) -> SessionRule | None:
    """The rule scoring a session: one naming it first, else one for every session of its kind."""
    fallback = None
    for rule in rules:
        if rule.kind is not kind:
            continue
        if session in rule.sessions:
            return rule
        if not rule.sessions and fallback is None:
            fallback = rule
    return fallback


def distance(classification: Classification) -> tuple[int, int, str] | None:
    """(covered, scheduled, unit) of a race: laps for a lap-count race, else the race time to the last counted
    crossing against the scheduled time; None when the schedule is unknown."""
    cars = classification.cars
    if classification.length_laps is not None:
        return max((car.laps for car in cars), default=0), classification.length_laps, "laps"
    if classification.length_ms is not None and classification.started_at is not None:
        last = max((car.last_crossing for car in cars if car.last_crossing is not None), default=None)
        covered = 0 if last is None else last - classification.started_at
        return covered, classification.length_ms, "time"
    return None


def shortened(bands: Sequence[Band], classification: Classification) -> ShortenedBy | None:
    """The band a finished race falls in (None: it scores in full): of the bands for how it ended that it is
    under, a lap minimum first (the fewest laps), then the lowest percentage."""
    if not bands:
        return None
    ended = RaceEnd.RED_FLAG if classification.suspended else RaceEnd.CHEQUERED
    covered = distance(classification)
    laps = max((car.laps for car in classification.cars), default=0)
    under: list[tuple[int, int, Band, str]] = []
    for band in bands:
        if band.ended and ended not in band.ended:
            continue
        if band.below_laps is not None and laps < band.below_laps:
            under.append((0, band.below_laps, band, f"{laps} laps completed, fewer than {band.below_laps}"))
        elif band.below_pct is not None and covered is not None:
            done, scheduled, unit = covered
            if done * 100 < band.below_pct * scheduled:
                why = f"{done * 100 // scheduled} % of the scheduled {unit} covered, under {band.below_pct} %"
                under.append((1, band.below_pct, band, why))
    if not under:
        return None
    _, _, band, why = min(under, key=lambda item: item[:2])
    suffix = f" ({ended.value.replace('_', ' ')})" if band.ended else ""
    return ShortenedBy(band.factor, band.scale, f"shortened: {why}{suffix}: {band.text}")


def _duration(ms: int) -> str:
    hours, rest = divmod(ms // 1000, 3600)
    minutes = rest // 60
    return f"{hours} h" if not minutes else f"{hours} h {minutes:02d}"
