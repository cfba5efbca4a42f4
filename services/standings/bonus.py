"""Bonus points: pole position, fastest lap, classified beyond a position. No multiplier or factor applies."""

from __future__ import annotations

from schemas.events import SessionKind
from schemas.results import Classification
from schemas.standings import Award, AwardKind
from services.standings.rulebook import RoundRules
from services.standings.units import as_points


def awards_pole(rules: RoundRules, session: str, kind: SessionKind) -> bool:
    """Whether this session's class leaders take the pole bonus."""
    return (
        kind is SessionKind.QUALIFYING
        and rules.pole > 0
        and (not rules.bonus.pole_sessions or session in rules.bonus.pole_sessions)
    )


def fastest_laps(classification: Classification) -> dict[str | None, str]:
    """Class (None: overall) to the number of the car with its fastest valid lap."""
    fastest: dict[str | None, str] = {lap.class_name: lap.number for lap in classification.class_fastest_laps}
    if classification.fastest_lap is not None:
        fastest[None] = classification.fastest_lap.number
    return fastest


def pole(rules: RoundRules, session: str, number: str) -> tuple[int, Award]:
    return rules.pole, Award(kind=AwardKind.POLE, session=session, number=number, points=as_points(rules.pole))


def race_bonuses(rules: RoundRules, session: str, number: str, position: int, fastest: bool) -> list[tuple[int, Award]]:
    """A scoring car's bonuses in a scoring race: fastest lap (if in the top N), classified beyond N."""
    out = []
    top = rules.bonus.fastest_lap_top
    if fastest and rules.fastest_lap and (not top or position <= top):
        award = Award(kind=AwardKind.FASTEST_LAP, session=session, number=number, points=as_points(rules.fastest_lap))
        out.append((rules.fastest_lap, award))
    if rules.beyond and position > rules.bonus.beyond_position:
        detail = f"classified P{position}, beyond P{rules.bonus.beyond_position}"
        award = Award(
            kind=AwardKind.BEYOND, session=session, number=number, points=as_points(rules.beyond), detail=detail
        )
        out.append((rules.beyond, award))
    return out
