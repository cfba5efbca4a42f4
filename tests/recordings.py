"""The real recorded feeds in ../shared/data, read in place (never copied): a test of one skips where it is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def recording(folder: str, name: str) -> Path:
    """The recording ``folder/name`` of the shared data; skips the test where it is not present."""
    path = SHARED_DATA / folder / name
    if not path.is_file():
        pytest.skip(f"real recording not present: {path}")
    return path
