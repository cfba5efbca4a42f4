"""Who may score from a car's result: its status, its entry, each driver's drive time, and how a crew shares.

Minimum drive time is judged once a race is over: while it runs a driver may
still take the wheel, so the live standings count every crew member.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

from schemas.results import DriveTime, ResultStatus
from schemas.standings import SharedDrive
from services.classification.timefmt import format_clock

SCORING = frozenset({ResultStatus.CLASSIFIED, ResultStatus.RUNNING})
"""Live, a running car scores at its running position."""
BY_POSITION = frozenset({ResultStatus.NOT_CLASSIFIED, ResultStatus.DID_NOT_FINISH})
"""Score by position when the championship does not require cars to be classified."""

_STATUS = {
    ResultStatus.NOT_CLASSIFIED: "not classified",
    ResultStatus.DID_NOT_FINISH: "did not finish",
    ResultStatus.DID_NOT_START: "did not start",
    ResultStatus.DISQUALIFIED: "disqualified",
    ResultStatus.EXCLUDED: "excluded",
}


def car_scores(status: ResultStatus, must_be_classified: bool) -> bool:
    return status in SCORING or (not must_be_classified and status in BY_POSITION)


def why_not_scoring(session: str, number: str, status: ResultStatus) -> str:
    return f"{session}: #{number} {_STATUS.get(status, status.value)}"


def eligible_drivers(
    crew: Sequence[str], drive_times: Sequence[DriveTime], min_drive_ms: int
) -> tuple[list[str], dict[str, str]]:
    """The crew members who score, and why each other one does not (``min_drive_ms`` 0: not judged)."""
    if not min_drive_ms:
        return list(crew), {}
    driven = {d.driver: d.ms for d in drive_times}
    eligible, short = [], {}
    for driver in crew:
        ms = driven.get(driver, 0)
        if ms >= min_drive_ms:
            eligible.append(driver)
        else:
            short[driver] = f"drove {format_clock(ms)}, under the minimum {format_clock(min_drive_ms)}"
    return eligible, short


def share(points: Fraction, drivers: int, mode: SharedDrive) -> Fraction:
    """One driver's part of a car's points (``drivers``: how many eligible drivers share the car), exact."""
    if mode is SharedDrive.FULL or drivers <= 1:
        return points
    return points / drivers if mode is SharedDrive.SPLIT else Fraction(0)
