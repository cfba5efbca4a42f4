"""Bonus points: pole position, fastest lap, classified beyond a position. No multiplier or factor applies.

A fastest lap is shared equally by every car that set the same fastest time (1954 had seven); it goes to the
car, or to the driver who set it (``bonus.fastest_lap_to``).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from schemas.events import PointsRole, SessionKind
from schemas.results import Classification, ClassifiedCar, ResultStatus
from schemas.standings import Award, AwardKind
from services.standings.rulebook import RoundRules
from services.standings.units import display

Part = tuple[Fraction, Award]
"""Exact points, and the award that shows them."""


@dataclass(frozen=True, slots=True)
class Setter:
    """A car that set a fastest lap, and who drove it."""

    number: str
    driver: str | None


def awards_pole(rules: RoundRules, session: str, kind: SessionKind) -> bool:
    """Whether this session's class leaders take the pole bonus: a qualifying session the rules name (or any), or
    the one the calendar says sets the grid."""
    role = rules.role(session)
    if role is not None:
        return rules.pole > 0 and role is PointsRole.POLE
    return (
        kind is SessionKind.QUALIFYING
        and rules.pole > 0
        and (not rules.bonus.pole_sessions or session in rules.bonus.pole_sessions)
    )


def lap_driver(car: ClassifiedCar) -> str | None:
    """Who drove the car's best lap: the driver of the stint holding it."""
    if car.best_lap is not None:
        for stint in car.stints:
            if stint.from_lap <= car.best_lap < stint.from_lap + stint.laps:
                return stint.driver
    return car.driver


def fastest_laps(classification: Classification) -> dict[str | None, list[Setter]]:
    """Class (None: overall) to the cars with its fastest valid lap: several when they set the same time."""
    times: dict[str | None, int] = {lap.class_name: lap.ms for lap in classification.class_fastest_laps}
    if classification.fastest_lap is not None:
        times[None] = classification.fastest_lap.ms
    out: dict[str | None, list[Setter]] = {}
    for car in classification.cars:
        if car.best_lap_ms is None or car.status in (ResultStatus.DISQUALIFIED, ResultStatus.EXCLUDED):
            continue
        for key in (car.class_name, None):
            if times.get(key) == car.best_lap_ms:
                out.setdefault(key, []).append(Setter(car.number, lap_driver(car)))
    return out


def pole(rules: RoundRules, session: str, number: str) -> Part:
    return rules.pole, Award(kind=AwardKind.POLE, session=session, number=number, points=display(rules.pole))


def fastest_lap(rules: RoundRules, session: str, setter: Setter, shared: int, position: int) -> Part | None:
    """A setter's share of the fastest-lap bonus; None when it is outside the top N (nobody gets that share)."""
    top = rules.bonus.fastest_lap_top
    if top and position > top:
        return None
    points = rules.fastest_lap / shared
    detail = f"shared by {shared}" if shared > 1 else ""
    if setter.driver is not None:
        detail = f"{setter.driver}" + (f", {detail}" if detail else "")
    number = setter.number
    return points, Award(
        kind=AwardKind.FASTEST_LAP, session=session, number=number, points=display(points), detail=detail
    )


def beyond(rules: RoundRules, session: str, number: str, position: int) -> Part | None:
    """Classified behind ``beyond_position``."""
    if not rules.beyond or position <= rules.bonus.beyond_position:
        return None
    detail = f"classified P{position}, beyond P{rules.bonus.beyond_position}"
    award = Award(kind=AwardKind.BEYOND, session=session, number=number, points=display(rules.beyond), detail=detail)
    return rules.beyond, award
