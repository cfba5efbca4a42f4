"""Which scale applies to a session and a class, and what multiplies it.

A round's rules are the championship's ``points`` unless the round has its own;
a rule naming a session wins over one for every session of the kind; a class
with a scale of its own uses it, every other class and the overall tables use
the rule's ``scale``. Scales are kept in hundredths of a point.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from schemas.events import SessionKind
from schemas.results import Classification
from schemas.standings import SessionPoints, Shortened
from services.standings.units import WHOLE, hundredths


@dataclass(frozen=True, slots=True)
class PointsScale:
    name: str
    points: tuple[int, ...]
    """Hundredths of a point for position 1, 2, 3, ..."""

    def at(self, position: int) -> int:
        return self.points[position - 1] if 0 < position <= len(self.points) else 0


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


def compile_scale(name: str, scales: Mapping[str, list[float]]) -> PointsScale:
    return PointsScale(name, tuple(hundredths(points) for points in scales[name]))


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


def shortened_factor(rules: Sequence[Shortened], classification: Classification) -> tuple[int, str]:
    """The factor (in hundredths) on a finished race's scale points, and why it is not one."""
    covered = distance(classification)
    if covered is None or not rules:
        return WHOLE, ""
    done, scheduled, unit = covered
    under = [rule for rule in rules if done * 100 < rule.below_pct * scheduled]
    if not under:
        return WHOLE, ""
    rule = min(under, key=lambda rule: rule.below_pct)
    return hundredths(rule.factor), (
        f"shortened: {done * 100 // scheduled} % of the scheduled {unit} covered, under {rule.below_pct} %: "
        f"x{rule.factor:g}"
    )


def _duration(ms: int) -> str:
    hours, rest = divmod(ms // 1000, 3600)
    minutes = rest // 60
    return f"{hours} h" if not minutes else f"{hours} h {minutes:02d}"
