"""The feed contract: what every feed adapter keeps, whatever its format, written once and run per adapter.

A test module subclasses :class:`FeedContract` (as a ``Test...`` class) and says how its adapter reads a small
race of its own format (:meth:`FeedContract.race`, :meth:`FeedContract.mapped`) and which lines a glitching
source sends (:meth:`FeedContract.glitches`); every test here then runs against that adapter.  The properties
are the ones ingest and the fold rely on: the session opened first and once, ids that are the same for the same
input and unique in the session, a car registered before anything else is said of it, laps counting up in time,
and a line the format cannot read skipped and reported, never raised, changing nothing else.
"""

from __future__ import annotations

from collections import defaultdict
from typing import NamedTuple

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.events import EntryRegistered, Event, LapCompleted, SessionOpened, SessionRef, decode_event, encode_event
from tests.factory import classify

SESSION = SessionRef(championship="contract", event="feed", session="race")
OTHER = SessionRef(championship="contract", event="feed", session="race2")


class Mapped(NamedTuple):
    """What an adapter made of its input: the session's events, and the numbers of the lines it skipped."""

    events: list[Event]
    skipped: list[int]


class FeedContract:
    """The properties every feed adapter keeps; a subclass names the adapter (not collected itself: no ``Test``)."""

    def race(self) -> list[str]:
        """A small race in the adapter's format (lines), with several cars and laps."""
        raise NotImplementedError

    def glitches(self) -> list[str]:
        """Lines a glitching source sends that the format cannot read (each must be skipped and reported)."""
        raise NotImplementedError

    def mapped(self, lines: list[str], session: SessionRef = SESSION) -> Mapped:
        """The adapter's events for ``lines`` in ``session`` (line 1 is ``lines[0]``) and what it skipped."""
        raise NotImplementedError

    def test_the_session_is_opened_first_and_once(self) -> None:
        events = self.mapped(self.race()).events
        assert isinstance(events[0].body, SessionOpened)
        assert sum(isinstance(e.body, SessionOpened) for e in events) == 1

    def test_every_event_is_of_the_session_and_survives_the_wire(self) -> None:
        events = self.mapped(self.race()).events
        assert {e.session for e in events} == {SESSION}
        assert [decode_event(encode_event(e)) for e in events] == events

    def test_the_same_input_maps_to_the_same_ids_and_bytes(self) -> None:
        first, second = self.mapped(self.race()).events, self.mapped(self.race()).events
        assert [encode_event(e) for e in first] == [encode_event(e) for e in second]

    def test_ids_are_unique_in_the_session_and_never_shared_with_another(self) -> None:
        race, other = self.mapped(self.race()).events, self.mapped(self.race(), OTHER).events
        assert len({e.id for e in race}) == len(race)
        assert not {e.id for e in race} & {e.id for e in other}

    def test_a_cars_first_event_registers_it(self) -> None:
        first: dict[str, Event] = {}
        for event in self.mapped(self.race()).events:
            number = getattr(event.body, "number", None)
            if isinstance(number, str):
                first.setdefault(number, event)
        assert len(first) >= 2
        assert {number: type(e.body) for number, e in first.items()} == dict.fromkeys(first, EntryRegistered)

    def test_each_cars_laps_count_up_and_never_go_back_in_time(self) -> None:
        laps: defaultdict[str, list[tuple[int, int]]] = defaultdict(list)
        for event in self.mapped(self.race()).events:
            if isinstance(event.body, LapCompleted):
                laps[event.body.number].append((event.body.lap, event.at))
        assert laps
        for number, crossings in laps.items():
            numbers = [lap for lap, _ in crossings]
            assert numbers == sorted(set(numbers)), number
            assert [at for _, at in crossings] == sorted(at for _, at in crossings), number

    def test_the_log_folds_and_classifies_every_registered_car(self) -> None:
        events = self.mapped(self.race()).events
        classification = classify(events)
        registered = {e.body.number for e in events if isinstance(e.body, EntryRegistered)}
        assert {car.number for car in classification.cars} == registered

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.differing_executors])
    @given(st.data())
    def test_a_glitching_line_is_skipped_and_reported_and_changes_nothing(self, data: st.DataObject) -> None:
        race = self.race()
        glitch = data.draw(st.sampled_from(self.glitches()), "glitch")
        where = data.draw(st.integers(min_value=1, max_value=len(race)), "after line")
        clean = self.mapped(race).events
        glitched = self.mapped([*race[:where], glitch, *race[where:]])
        assert glitched.skipped == [where + 1]
        assert glitched.events == clean
