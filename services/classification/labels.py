"""The words timing screens and sheets print for a car (pure): its result or its state, and a driver's short name.

The terminal tower styles them (:mod:`~services.classification.tower`); the broadcast graphics and the official
documents print them as they are.
"""

from __future__ import annotations

from schemas.results import CarState, ClassifiedCar, HourRow, ResultStatus

STATE_WORDS = {
    CarState.NOT_STARTED: "DNS?",
    CarState.RUNNING: "",
    CarState.IN_PIT: "PIT",
    CarState.OUT_LAP: "OUT",
    CarState.RETIRED: "RET",
    CarState.FINISHED: "🏁",
    CarState.STOPPED: "STOP",
}
STATUS_WORDS = {
    ResultStatus.NOT_CLASSIFIED: "NC",
    ResultStatus.DID_NOT_FINISH: "DNF",
    ResultStatus.DID_NOT_START: "DNS",
    ResultStatus.DISQUALIFIED: "DSQ",
    ResultStatus.EXCLUDED: "EXCL",
}
"""A result outside the classified group is shown instead of the car's state."""


def status_word(car: ClassifiedCar | HourRow) -> str:
    """The car's result when it is outside the classified group, else its state."""
    return STATUS_WORDS.get(car.status) or STATE_WORDS[car.state]


def short_name(name: str) -> str:
    """``Kévin Estre`` -> ``K. Estre``, ``Nyck de Vries`` -> ``N. de Vries``: the first name as an initial."""
    first, _, rest = name.strip().partition(" ")
    return f"{first[0]}. {rest.strip()}" if rest.strip() else name
