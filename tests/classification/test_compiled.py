"""The classification core compiled by ``make install`` (mypyc): used when built, the same bytes as its source, and
never a build older than its source (``services/classification/__init__.py``)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import services.classification as classification
from services.classification import live, rules

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    not classification.builds(), reason="the core is not compiled here (`make install` compiles it with a C compiler)"
)

FOLD = """
import hashlib
from services.classification import live
from services.classification.fold import ClassificationProjection
from services.simulator.endurance import RaceSpec, simulate
digest = hashlib.sha256()
projection = ClassificationProjection()
for seq, event in enumerate(simulate(RaceSpec(seed=11, cars=30, duration_ms=3 * 3600 * 1000, retirements=3)), 1):
    projection.apply(seq, event)
    digest.update(projection.sessions[event.session.key].encoded())
print(live.__file__.rsplit(".", 1)[-1], digest.hexdigest())
"""


def _copy(into: Path) -> Path:
    """The packages the fold needs, with the build, as a fresh clone of them would stand."""
    for package in ("schemas", "services"):
        shutil.copytree(ROOT / package, into / package, ignore=shutil.ignore_patterns("__pycache__"))
    for built in classification.builds(into / "services" / "classification"):
        os.utime(built)  # built after its sources (copytree keeps their times)
    return into


def _fold(tree: Path) -> tuple[str, str, str]:
    """(the kind of module the live classification was imported from, the digest of every value, stderr)."""
    done = subprocess.run(
        [sys.executable, "-c", FOLD], cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)},
        capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    kind, digest = done.stdout.split()
    return kind, digest, done.stderr


def test_the_core_this_suite_runs_is_the_compiled_one() -> None:
    stale = "the build is older than a source: `make test` compiles it again first (or `make install`)"
    assert live.__file__ is not None and live.__file__.endswith(".so"), stale
    assert rules.__file__ is not None and rules.__file__.endswith(".so"), stale


def test_compiled_and_from_source_every_value_of_a_race_is_the_same_bytes(tmp_path: Path) -> None:
    tree = _copy(tmp_path)
    compiled = _fold(tree)
    (tree / "services" / "classification" / "rules.py").touch()  # the build is now older than a source
    from_source = _fold(tree)
    assert compiled[0] == "so" and from_source[0] == "py"
    assert compiled[1] == from_source[1]
    assert "older than its source" not in compiled[2]
    assert "older than its source, so it runs from source" in from_source[2] and "make install" in from_source[2]


@pytest.mark.parametrize("changed", ["services/classification/car.py", "schemas/events.py"])
def test_a_build_older_than_any_source_it_was_compiled_against_is_not_used(tmp_path: Path, changed: str) -> None:
    tree = _copy(tmp_path)
    (tree / changed).touch()
    assert _fold(tree)[0] == "py"
