"""services/heap.py: every chequered process collects its youngest objects far less often than CPython's
default (full collections of a projector's heap paused it for up to 190 ms)."""

from __future__ import annotations

import gc

import pytest

from services.cli.app import main
from services.heap import YOUNG_THRESHOLD


def test_the_command_tunes_the_collector_before_anything_else(monkeypatch: pytest.MonkeyPatch) -> None:
    default = (700, 10, 10)
    monkeypatch.setattr(gc, "get_threshold", lambda: default)
    chosen: list[tuple[int, ...]] = []
    monkeypatch.setattr(gc, "set_threshold", lambda *threshold: chosen.append(threshold))
    with pytest.raises(SystemExit):
        main(["--help"])
    assert chosen == [(YOUNG_THRESHOLD, 10, 10)]
