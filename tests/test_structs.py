"""One Struct built from another's fields of the same names (services/structs.py)."""

from __future__ import annotations

import pytest
from msgspec import Struct

from services.structs import carried


class Source(Struct, frozen=True, kw_only=True):
    number: str
    team: str
    laps: int


class Row(Struct, frozen=True, kw_only=True):
    number: str
    laps: int


class Flagged(Struct, frozen=True, kw_only=True):
    number: str
    flagged: bool = False


def test_the_fields_of_the_same_names_are_carried_and_given_ones_win() -> None:
    source = Source(number="7", team="Blue", laps=12)
    assert carried(Row, source) == Row(number="7", laps=12)
    assert carried(Row, source, laps=3) == Row(number="7", laps=3)


def test_a_field_the_source_lacks_is_an_error_not_a_silent_default() -> None:
    with pytest.raises(AttributeError, match="flagged"):
        carried(Flagged, Source(number="7", team="Blue", laps=12))
