"""Race-control inputs (``chequered publish``, or a race-control application through the producer client): a flag,
a penalty, a retirement, a deleted lap, a withdrawal, results.

Pure. Three steps, each refusing with a reason an official can act on (:class:`InputError`):

1. :func:`race_control_body` reads what the official typed (a kind, an amount such as ``5s`` or ``2``) into an
   event body; an amount that does not read ("time banana") is refused here.
2. :func:`race_control_event` wraps it; its id is derived from what the event says (the decision number for a
   decision, the content for the rest), so the same command run again after a timeout is answered as a
   duplicate (:func:`as_stored` gives a repeat the instant it was stored at). A decision number sent again with
   other content (another instant, another amount) is answered ``conflict`` by ingest.
3. :func:`judge` checks it against the session's log as folded (:class:`SessionView`): the car is registered,
   the lap exists, a decision number is not in use (nor withdrawn), a withdrawn decision is in force, a pit-lane
   penalty has the time it converts to, the instant lies within a day of the session. The CLI and
   :meth:`~services.ingest.client.Producer.send_race_control` call it before sending, so a refused input is
   never stored.

One spelling on the command line: hyphens (``delete-lap``, ``drive-through``, ``safety-car``); underscores, the
spelling of the stored values, are accepted too.
"""

from __future__ import annotations

import enum
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import msgspec

from schemas import events
from services.classification.fold import SessionFold, fold_log
from services.classification.timefmt import format_instant

PRODUCER = "race-control"

INPUTS = ("flag", "penalty", "retire", "delete-lap", "withdraw", "results", "chequered", "config")
"""What race control can publish, as ``chequered publish`` names it."""

MAX_PENALTY_MS = 24 * 3_600_000
"""A time penalty (or conversion) longer than a day is a typing mistake, not a decision."""
MAX_COUNT = 1000
"""Laps deducted or positions dropped: more than any race has."""
FAR_MS = 24 * 3_600_000
"""An input more than this before a session's first event or after its latest is refused: a decision the
morning after is fine; further off is a wall clock on a replayed race, or a wrong date."""
LIVE_SKEW_MS = 10 * 60_000
"""A session whose latest event was stored within this of its own instant runs on the wall clock (it is live)."""


class InputError(ValueError):
    """A race-control input that cannot be stored, with the reason."""


def spelled(value: str) -> str:
    """A stored value as the command line spells it: ``drive_through`` -> ``drive-through``."""
    return value.replace("_", "-")


def unspelled(text: str) -> str:
    """What an official typed, as stored values are spelled: ``Drive-Through`` -> ``drive_through``."""
    return text.strip().lower().replace("-", "_")


PENALTY_KINDS = tuple(spelled(kind.value) for kind in events.PenaltyKind)
FLAGS = tuple(spelled(flag.value) for flag in events.Flag if flag is not events.Flag.UNKNOWN)
RESULTS = tuple(status.value for status in events.ResultsStatus)


E = TypeVar("E", bound=enum.StrEnum)


def _choice(text: str, kind: type[E], what: str, choices: Sequence[str]) -> E:
    try:
        return kind(unspelled(text))
    except ValueError:
        raise InputError(f"{text!r} is not a {what}: one of {', '.join(choices)}") from None


# -- step 1: what the official typed ------------------------------------------------------------------------

_DURATION = re.compile(
    r"^(?:(?P<ms>\d+)ms|(?P<s>\d+(?:\.\d{1,3})?)s?|(?P<m>\d+):(?P<ms_s>\d{2}(?:\.\d{1,3})?)"
    r"|(?P<h>\d+):(?P<hm>\d{2}):(?P<hs>\d{2}(?:\.\d{1,3})?))$"
)


def _millis(seconds: str) -> int:
    whole, _, fraction = seconds.partition(".")
    return int(whole) * 1000 + int(fraction.ljust(3, "0"))


def parse_duration_ms(text: str) -> int:
    """``5s``, ``30``, ``1:05.250``, ``1:00:00``, ``250ms`` -> milliseconds (at most a day)."""
    match = _DURATION.match(text.strip().lower())
    if match is None:
        raise InputError(f"{text!r} is not a time: write 5s, 30, 1:05.250 or 250ms")
    parts = match.groupdict()
    if parts["ms"] is not None:
        ms = int(parts["ms"])
    elif parts["s"] is not None:
        ms = _millis(parts["s"])
    elif parts["m"] is not None:
        ms = int(parts["m"]) * 60_000 + _millis(parts["ms_s"])
    else:
        ms = int(parts["h"]) * 3_600_000 + int(parts["hm"]) * 60_000 + _millis(parts["hs"])
    if not 0 < ms <= MAX_PENALTY_MS:
        raise InputError(f"{text!r}: a time must be more than 0 and at most 24 hours")
    return ms


def parse_count(text: str, what: str) -> int:
    """A whole number of laps or positions, 1 to :data:`MAX_COUNT`."""
    if not text.strip().isdigit() or not 0 < int(text) <= MAX_COUNT:
        raise InputError(f"{text!r} is not a number of {what}: write a whole number from 1 to {MAX_COUNT}")
    return int(text)


_PIT_LANE = (events.PenaltyKind.DRIVE_THROUGH, events.PenaltyKind.STOP_AND_GO)


def _conversion_ms(kind: events.PenaltyKind, rules: events.ClassificationRules | None) -> int:
    """The rules' conversion time of an unserved pit-lane penalty; 0 when they give none."""
    if rules is None:
        return 0
    default = rules.drive_through_ms if kind is events.PenaltyKind.DRIVE_THROUGH else rules.stop_and_go_ms
    return default or 0


def penalty(
    number: str,
    decision: str,
    kind: str,
    amount: str | None,
    reason: str,
    rules: events.ClassificationRules | None = None,
) -> events.PenaltyIssued:
    """A stewards' decision; ``amount`` is a time for a time or pit-lane penalty (the time a drive-through or
    stop-and-go converts to when unserved: ``rules`` give it when the official does not), a count of laps or
    positions for a deduction or a drop, nothing otherwise."""
    k = _choice(kind, events.PenaltyKind, "penalty kind", PENALTY_KINDS)
    time_ms = laps = positions = 0
    if k is events.PenaltyKind.TIME or k in _PIT_LANE:
        time_ms = parse_duration_ms(amount) if amount else _conversion_ms(k, rules)
    elif k is events.PenaltyKind.LAP_DEDUCTION:
        laps = parse_count(amount, "laps") if amount else 0
    elif k is events.PenaltyKind.POSITION_DROP:
        positions = parse_count(amount, "positions") if amount else 0
    elif amount:
        raise InputError(f"a {spelled(k.value)} takes no amount (got {amount!r})")
    return events.PenaltyIssued(
        number=number, decision=decision, kind=k, time_ms=time_ms, laps=laps, positions=positions, reason=reason
    )


def race_control_body(
    what: str,
    *,
    number: str = "",
    decision: str = "",
    flag: str = "",
    sector: int | None = None,
    kind: str = "",
    amount: str | None = None,
    lap: int = 0,
    status: str = "",
    reason: str = "",
    config: events.ChampionshipConfigured | None = None,
    rules: events.ClassificationRules | None = None,
) -> events.EventBody:
    """The event body of one race-control input, from the fields an official gives for it; ``rules``: the
    session's, which complete a pit-lane penalty given without its time. Checked against the schema here, so a
    field it refuses (a car or decision number) is refused before anything is sent."""
    try:  # a car's number is checked as the body is made, the rest as it is converted
        body = _body(what, number, decision, flag, sector, kind, amount, lap, status, reason, config, rules)
        checked: events.EventBody = msgspec.convert(msgspec.to_builtins(body), events.EventBody)
    except msgspec.ValidationError as error:
        raise InputError(f"{what}: {error}") from None
    return checked


def _body(
    what: str,
    number: str,
    decision: str,
    flag: str,
    sector: int | None,
    kind: str,
    amount: str | None,
    lap: int,
    status: str,
    reason: str,
    config: events.ChampionshipConfigured | None,
    rules: events.ClassificationRules | None,
) -> events.EventBody:
    if what == "flag":
        return events.FlagChanged(flag=_choice(flag, events.Flag, "flag", FLAGS), sector=sector)
    if what == "penalty":
        return penalty(number, decision, kind, amount, reason, rules)
    if what == "retire":
        return events.CarRetired(number=number, reason=reason)
    if what == "delete-lap":
        return events.LapDeleted(number=number, decision=decision, lap=lap, reason=reason)
    if what == "withdraw":
        return events.DecisionWithdrawn(decision=decision, reason=reason)
    if what == "results":
        return events.ResultsDeclared(status=_choice(status, events.ResultsStatus, "results status", RESULTS))
    if what == "config":
        if config is None:
            raise InputError("a points configuration input needs the configuration")
        return config
    if what == "chequered":
        return events.SessionFinished()
    raise InputError(f"unknown race-control input {what!r}: one of {', '.join(INPUTS)}")


def race_control_event(
    session: events.SessionRef, body: events.EventBody, at: int, event_id: str | None = None
) -> events.Event:
    if event_id is None:
        decision = getattr(body, "decision", None)
        if isinstance(body, events.PenaltyIssued | events.LapDeleted | events.DecisionWithdrawn) and decision:
            event_id = f"{type(body).__name__.lower()}-{decision}"
        else:
            probe = events.Event(id="x", session=session, producer=PRODUCER, at=at, body=body)
            event_id = "rc-" + hashlib.sha1(events.encode_event(probe), usedforsecurity=False).hexdigest()[:16]
    return events.Event(id=event_id, session=session, producer=PRODUCER, at=at, body=body)


# -- step 3: what the session holds -------------------------------------------------------------------------


@dataclass
class SessionView:
    """What a race-control input is judged against: one session's log, folded."""

    session: events.SessionRef
    fold: SessionFold | None = None
    """A timing session's folded state (None: no events of it, or the championship's own session)."""
    stored: dict[str, events.Event] = field(default_factory=dict)
    """Every event of the session by ``msg_id``."""
    points_decisions: set[str] = field(default_factory=set)
    """The championship's session: points decisions in force."""
    first_at: int | None = None
    latest_at: int | None = None
    last_stored: tuple[int, int] | None = None
    """``(instant, wall-clock ms it was stored)`` of the last event stored; None when unknown."""

    @classmethod
    def of(
        cls,
        session: events.SessionRef,
        log: Sequence[tuple[int, events.Event]],
        last_stored: tuple[int, int] | None = None,
    ) -> SessionView:
        """The view of ``(seq, event)`` pairs of the session, in stream order."""
        own = [(seq, event) for seq, event in log if event.session == session]
        view = cls(session, last_stored=last_stored)
        view.stored = {event.msg_id: event for _, event in own}
        if own:
            view.first_at = min(event.at for _, event in own)
            view.latest_at = max(event.at for _, event in own)
        if session.is_championship:
            for _, event in own:
                if isinstance(event.body, events.PointsAdjusted):
                    view.points_decisions.add(event.body.decision)
                elif isinstance(event.body, events.DecisionWithdrawn):
                    view.points_decisions.discard(event.body.decision)
        else:
            fold = fold_log(own).sessions.get(session.key)
            view.fold = fold if fold is not None and fold.opened is not None else None
        return view

    @property
    def rules(self) -> events.ClassificationRules | None:
        return self.fold.rules if self.fold is not None else None

    def live(self) -> bool:
        """Whether the session runs on the wall clock: its last event was stored about when it happened."""
        return self.last_stored is not None and abs(self.last_stored[1] - self.last_stored[0]) <= LIVE_SKEW_MS


def as_stored(event: events.Event, view: SessionView) -> events.Event:
    """A repeat of an input the session holds (same id, same body) as it was stored, instant included: running the
    same command again without an instant is then a duplicate, not a conflict."""
    stored = view.stored.get(event.msg_id)
    return stored if stored is not None and stored.body == event.body else event


def default_instant(view: SessionView, now_ms: int) -> int:
    """When an input given without an instant happened: now in a live session (or one with no events yet), the
    session's own latest instant in a replayed or imported one, so its clock does not jump to today."""
    if view.latest_at is None or view.live() or view.session.is_championship:
        return now_ms
    return view.latest_at


def _hours(ms: int) -> str:
    return f"{ms / 3_600_000:,.1f} h"


def _instant_reason(at: int, view: SessionView) -> str | None:
    if view.session.is_championship or view.first_at is None or view.latest_at is None:
        return None
    if at < view.first_at - FAR_MS:
        where = f"{_hours(view.first_at - at)} before the session's first event ({format_instant(view.first_at)})"
    elif at > view.latest_at + FAR_MS:
        where = f"{_hours(at - view.latest_at)} after the session's latest event ({format_instant(view.latest_at)})"
    else:
        return None
    return f"{format_instant(at)} is {where}: give an instant inside the session, or none to use its own clock"


def _listed(values: Sequence[str], limit: int = 12) -> str:
    shown = ", ".join(values[:limit])
    return shown + (f" and {len(values) - limit} more" if len(values) > limit else "") if values else "none"


def _describe(event: events.Event) -> str:
    return msgspec.json.encode(event.body).decode()


def judge(event: events.Event, view: SessionView) -> str | None:
    """None when the session can take the input; otherwise why not.

    An input already stored with the same id and content passes (ingest answers it as a duplicate). A session
    with no events passes too: ingest refuses it with its own reason (it was never opened).
    """
    body = event.body
    repeat = view.stored.get(event.msg_id)
    if repeat is not None:
        if repeat.body != body:
            return (
                f"{event.id} is already stored with other content ({_describe(repeat)}): "
                "a new decision needs a new document number"
            )
        decision = getattr(body, "decision", None)
        fold = view.fold
        if (
            isinstance(body, events.PenaltyIssued | events.LapDeleted)
            and fold is not None
            and decision not in fold.decisions
        ):
            return f"decision {decision} was withdrawn: a new decision needs a new document number"
        return None
    if at_reason := _instant_reason(event.at, view):
        return at_reason
    if view.session.is_championship:
        if isinstance(body, events.DecisionWithdrawn) and body.decision not in view.points_decisions:
            in_force = _listed(sorted(view.points_decisions))
            return f"no points decision {body.decision} in force in {view.session.key} (in force: {in_force})"
        return None
    if view.fold is None:
        return None
    return _timing_reason(body, view.fold)


def _timing_reason(body: events.EventBody, fold: SessionFold) -> str | None:
    key = fold.session.key
    if isinstance(body, events.CarBody):
        car = fold.cars.get(body.number)
        if car is None:
            return f"car #{body.number} is not registered in {key} (cars: {_listed(sorted(fold.cars, key=_numeric))})"
        if isinstance(body, events.PenaltyIssued | events.LapDeleted) and body.decision in fold.decisions:
            held = fold.decisions[body.decision]
            return (
                f"decision {body.decision} is already in force in {key} (on car #{held.number}): "
                "a new decision needs a new document number"
            )
        if isinstance(body, events.LapDeleted) and body.lap not in car.lap_numbers:
            laps = f"its laps run {car.lap_numbers[0]} to {car.last_lap_number}" if car.lap_numbers else "it has no lap"
            return f"car #{body.number} has no lap {body.lap} in {key}: {laps}"
        if isinstance(body, events.PenaltyIssued):
            return _penalty_reason(body, fold.rules)
        if isinstance(body, events.PenaltyServed):
            served = fold.decisions.get(body.decision)
            if not (
                isinstance(served, events.PenaltyIssued) and served.number == body.number and served.kind in _PIT_LANE
            ):
                return f"car #{body.number} has no drive-through or stop-and-go {body.decision} to serve in {key}"
    elif isinstance(body, events.DecisionWithdrawn) and body.decision not in fold.decisions:
        return f"no decision {body.decision} in force in {key} (in force: {_listed(sorted(fold.decisions))})"
    return None


def _penalty_reason(body: events.PenaltyIssued, rules: events.ClassificationRules) -> str | None:
    kind = spelled(body.kind.value)
    if body.kind is events.PenaltyKind.TIME and not body.time_ms:
        return "a time penalty needs its time, e.g. time 5s"
    if body.kind in _PIT_LANE and not body.time_ms and not _conversion_ms(body.kind, rules):
        return (
            f"a {kind} needs the time it converts to if it is not served, e.g. {kind} 30s "
            "(the session's rules give none)"
        )
    if body.kind is events.PenaltyKind.LAP_DEDUCTION and not body.laps:
        return "a lap deduction needs its number of laps, e.g. lap-deduction 1"
    if body.kind is events.PenaltyKind.POSITION_DROP and not body.positions:
        return "a position drop needs its number of positions, e.g. position-drop 3"
    return None


def _numeric(number: str) -> tuple[int, str]:
    """Car numbers in the order people read them: 7 before 12, 007 beside 7."""
    digits = "".join(c for c in number if c.isdigit())
    return (int(digits) if digits else 0, number)
