"""Rules presets by name and from TOML files; a bad file says which field is wrong and why."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas.events import ClassificationRules
from services.classification.presets import PRESETS, decode_rules, load_rules, preset_rules
from services.standings.config import ConfigError


def test_every_preset_names_itself_and_cites_its_source() -> None:
    for name, preset in PRESETS.items():
        assert preset.rules.preset == name
        assert len(preset.source) > 40


@pytest.mark.parametrize(
    ("name", "pct", "flag", "retired"),
    [("wec", 70, True, True), ("imsa", 0, False, True), ("sro", 75, False, True), ("nls", 50, True, False)],
)
def test_the_series_presets(name: str, pct: int, flag: bool, retired: bool) -> None:
    rules = preset_rules(name)
    assert (rules.min_distance_pct, rules.must_take_flag, rules.retired_classified) == (pct, flag, retired)


def test_club_is_chequereds_default() -> None:
    assert preset_rules("club") == ClassificationRules(preset="club")
    assert preset_rules("WEC") == preset_rules("wec")


def test_an_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(LookupError, match=r"use wec, imsa, sro, nls, club, or a \.toml file"):
        load_rules("f1")


def test_a_toml_preset_starts_from_its_base_and_is_named_after_its_file(tmp_path: Path) -> None:
    path = tmp_path / "my-club.toml"
    path.write_text('base = "sro"\nmin_distance_pct = 60\nlap_one_counts_for_best = false\n')
    rules = load_rules(str(path))
    assert rules == ClassificationRules(
        preset="my-club", min_distance_pct=60, must_take_flag=False, lap_one_counts_for_best=False
    )
    assert decode_rules('name = "gt4"', "x.toml", "x") == ClassificationRules(preset="gt4")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("min_distance_pct = 170", "$.min_distance_pct: Expected `int` <= 100"),
        ("must_take_flag = 'yes'", "$.must_take_flag: Expected `bool`, got `str`"),
        ("podium = 3", "Object contains unknown field `podium`"),
        ('base = "f1"', "$.base: no preset 'f1'"),
        ("name = 7", "$.name: expected a string"),
        (f"name = '{'x' * 65}'", "$.name: expected a string of 1 to 64 characters"),
        ("min_distance_pct = ", "$: not valid TOML"),
    ],
)
def test_a_bad_toml_preset_names_the_file_the_field_and_the_problem(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as raised:
        load_rules(str(path))
    assert str(raised.value).startswith(f"{path}: ")
    assert problem in str(raised.value)


def test_a_missing_toml_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the file"):
        load_rules(str(tmp_path / "nowhere.toml"))
