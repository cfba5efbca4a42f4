"""Rulebooks by name: the ``SessionOpened.rules`` of common series, and presets written as TOML files.

A preset is a complete :class:`~schemas.events.ClassificationRules`; the
session carries its values (and its name in ``rules.preset``), so a log folds
the same way years later whatever this table says then.

A TOML file defines a preset from a named one (``base``, default ``club``)
and overrides any rule::

    name = "my-club"            # default: the file's name
    base = "sro"
    min_distance_pct = 60
    lap_one_counts_for_best = false

Pure, apart from reading the file :func:`load_rules` is given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
from msgspec import Struct

from schemas.events import ClassificationRules
from services.standings.config import ConfigError, located


class Preset(Struct, frozen=True):
    rules: ClassificationRules
    source: str
    """Where the values come from: the regulations, and what they say."""


PRESETS: dict[str, Preset] = {
    "wec": Preset(
        ClassificationRules(preset="wec", min_distance_pct=70, must_take_flag=True, lap_one_counts_for_best=False),
        "FIA WEC Sporting Regulations, race finish and classification (also ELMS and the 24 Hours of Le Mans): "
        "classified with 70 % of the distance covered by the overall winner, and only if the car takes the "
        "chequered flag; a car that takes it short of 70 % is not classified (NC), one that does not is retired. "
        "Lap 1 is never a best in the official lap charts (it is timed from the start line: at Fuji 2024 and Spa "
        "2025 some cars' lap 1 is quicker than the best lap they were credited with)",
    ),
    "imsa": Preset(
        ClassificationRules(preset="imsa", min_distance_pct=0, must_take_flag=False, retired_classified=True),
        "IMSA Sporting Regulations: every car that starts is placed by laps completed, running at the finish or "
        "not, and scores class points for that place",
    ),
    "sro": Preset(
        ClassificationRules(preset="sro", min_distance_pct=75, must_take_flag=False, retired_classified=True),
        "SRO GT World Challenge / Endurance Sporting Regulations: classified with 75 % of the winner's distance",
    ),
    "nls": Preset(
        ClassificationRules(preset="nls", min_distance_pct=50, must_take_flag=True, retired_classified=False),
        "24h Nürburgring and NLS regulations: a car is classified only if it crosses the line after the chequered "
        "flag (damaged cars wait near the line to do so) and covered half of the overall winner's laps",
    ),
    "club": Preset(
        ClassificationRules(preset="club"),
        "chequered's default, a common club rule: classified with 70 % of the winner's laps, flag or not; a retired "
        "car that covered the distance is classified",
    ),
}
"""Named presets; the README lists them with their sources."""

DEFAULT_PRESET = "club"
PRESET_NAME_MAX = 64


def preset_rules(name: str) -> ClassificationRules:
    """The rules of a named preset; ``LookupError`` names the known ones."""
    found = PRESETS.get(name.lower())
    if found is None:
        raise LookupError(f"no rules preset {name!r}: use {', '.join(PRESETS)}, or a .toml file")
    return found.rules


def decode_rules(data: bytes | str, source: str, name: str) -> ClassificationRules:
    """A TOML preset (see the module docstring); ``ConfigError`` names the file, the field and what is wrong."""
    try:
        raw: dict[str, Any] = msgspec.toml.decode(data, type=dict[str, Any])
    except msgspec.DecodeError as error:
        raise ConfigError(source, [f"$: not valid TOML: {error}"]) from None
    base_name = raw.pop("base", DEFAULT_PRESET)
    name = raw.pop("name", name)
    base = PRESETS.get(base_name) if isinstance(base_name, str) else None
    if base is None:
        raise ConfigError(source, [f"$.base: no preset {base_name!r}: use one of {', '.join(PRESETS)}"])
    if not isinstance(name, str) or not 0 < len(name) <= PRESET_NAME_MAX:
        raise ConfigError(source, [f"$.name: expected a string of 1 to {PRESET_NAME_MAX} characters"])
    try:
        return msgspec.convert({**msgspec.to_builtins(base.rules), **raw, "preset": name}, ClassificationRules)
    except msgspec.ValidationError as error:
        raise ConfigError(source, [located(str(error))]) from None


def load_rules(spec: str) -> ClassificationRules:
    """A preset's name (``wec``), or the path of a TOML preset (``rules/my-club.toml``)."""
    if spec.lower() in PRESETS:
        return preset_rules(spec)
    path = Path(spec)
    if path.suffix != ".toml":
        return preset_rules(spec)  # neither a name nor a TOML file: say which names there are
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ConfigError(str(path), [f"$: cannot read the file: {error.strerror}"]) from None
    return decode_rules(data, str(path), path.stem)
