"""Championship configs: TOML decoded into a ``ChampionshipConfig``, then checked for what types cannot say.

Every error names the file, the field (as a ``$.path``, the form msgspec uses)
and what is wrong; all the semantic problems of a file are reported at once. A
key in the wrong table says where it belongs; a wrong choice lists the allowed
values; a duration (any ``*_ms`` key) may be written ``6h``, ``90min``, ``45s``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import msgspec
from msgspec import inspect

from schemas.events import AdjustmentKind, SessionKind
from schemas.standings import STANDINGS_VERSION, ChampionshipConfig, PointsAdjustment, SessionPoints, TeamStandings
from services.ops.instants import parse_duration
from services.standings.adjustments import problems as adjustment_problems
from services.standings.rulebook import Rulebook
from services.standings.units import has_two_decimals

CONFIGS = Path(__file__).parent / "configs"
"""The example configurations shipped with chequered."""


class ConfigError(ValueError):
    """A config that cannot be used; ``problems`` are ``$.field: what is wrong``."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(f"{source}: {problem}" for problem in problems))


def load_config(path: Path | str) -> ChampionshipConfig:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ConfigError(str(path), [f"$: cannot read the file: {error.strerror}"]) from None
    return decode_config(data, str(path))


def load_rulebook(path: Path | str) -> Rulebook:
    return Rulebook(load_config(path))


def decode_config(data: bytes | str, source: str = "<config>") -> ChampionshipConfig:
    try:
        raw = msgspec.toml.decode(data)
    except msgspec.DecodeError as error:
        raise ConfigError(source, [f"$: not valid TOML: {error}"]) from None
    if problems := list(_durations(raw, "$")):
        raise ConfigError(source, problems)
    try:
        config = msgspec.convert(raw, ChampionshipConfig)
    except msgspec.ValidationError as error:
        raise ConfigError(source, [_explained(str(error))]) from None
    if problems := check(config):
        raise ConfigError(source, problems)
    return config


def located(message: str) -> str:
    """msgspec's "what - at `$.path`" as "$.path: what"."""
    what, at, where = message.rpartition(" - at `")
    return f"{where.rstrip('`')}: {what}" if at else f"$: {message}"


def _durations(value: Any, at: str) -> Iterator[str]:
    """Durations written as text (``6h``, ``90min``) in milliseconds, in place; a problem for text that is not one."""
    if isinstance(value, list):
        for i, item in enumerate(value):
            yield from _durations(item, f"{at}[{i}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, str) and key.endswith("_ms"):
                ms = parse_duration(item)
                if ms is None:
                    yield f"{at}.{key}: {item!r} is not a duration: write 6h, 90min, 1h30min, 45s or milliseconds"
                value[key] = ms
            else:
                yield from _durations(item, f"{at}.{key}")


_UNKNOWN = re.compile(r"^Object contains unknown field `(.+)`$")
_STEP = re.compile(r"\.([A-Za-z_][A-Za-z0-9_-]*)|(\[)")


def _explained(message: str) -> str:
    """:func:`located`, with where a misplaced key of a championship config belongs and the values a choice
    allows."""
    what, at, where = message.rpartition(" - at `")
    if not at:
        return f"$: {message}"
    path = where.rstrip("`")
    unknown = _UNKNOWN.match(what)
    if unknown:
        key = unknown.group(1)
        homes = sorted(_HOMES.get(key, set()) - {_table_name(path)})
        belongs = f"; it belongs in {' or '.join(homes)}" if homes else ""
        return f"{path}.{key}: not a key of {_table_name(path)}{belongs}"
    choice = _type_at(path)
    if isinstance(choice, inspect.EnumType):
        return f"{path}: {what} (allowed: {', '.join(str(member.value) for member in choice.cls)})"
    return f"{path}: {what}"


def _unwrapped(t: inspect.Type) -> inspect.Type:
    """The type under constraints and ``| None``."""
    while isinstance(t, inspect.Metadata | inspect.UnionType):
        if isinstance(t, inspect.Metadata):
            t = t.type
        else:
            t = next((u for u in t.types if not isinstance(u, inspect.NoneType)), t.types[0])
    return t


def _type_at(path: str) -> inspect.Type | None:
    """The config's type at a msgspec path: ``$.rounds[2].points[0].kind`` is ``SessionKind``."""
    t = _unwrapped(inspect.type_info(ChampionshipConfig))
    for name, index in _STEP.findall(path):
        if index and isinstance(t, inspect.ListType):
            t = t.item_type
        elif index and isinstance(t, inspect.DictType):
            t = t.value_type
        elif name and isinstance(t, inspect.StructType):
            field = next((f for f in t.fields if f.encode_name == name), None)
            if field is None:
                return None
            t = field.type
        else:
            return None
        t = _unwrapped(t)
    return t


def _homes(t: inspect.Type, table: str, out: dict[str, set[str]]) -> dict[str, set[str]]:
    """Every key of the config to the TOML tables that hold it: ``[bonus]``, ``[[rounds.points]]``..."""
    t = _unwrapped(t)
    if isinstance(t, inspect.StructType):
        for field in t.fields:
            out.setdefault(field.encode_name, set()).add(_table_name(table))
            inner = _unwrapped(field.type)
            if isinstance(inner, inspect.ListType):
                _homes(inner.item_type, f"{table}.{field.encode_name}[", out)
            else:
                _homes(inner, f"{table}.{field.encode_name}", out)
    return out


def _table_name(path: str) -> str:
    """``$.rounds[2].points[0]`` as TOML names its table: ``[[rounds.points]]``; ``$`` is the top level."""
    steps = _STEP.findall(path)
    names = [name for name, _ in steps if name]
    if not names:
        return "the top level"
    dotted = ".".join(names)
    return f"[[{dotted}]]" if steps[-1][1] else f"[{dotted}]"


_HOMES = _homes(inspect.type_info(ChampionshipConfig), "$", {})


def check(config: ChampionshipConfig) -> list[str]:
    """The semantic problems of a decoded config, each as ``$.field: what is wrong``."""
    return list(_check(config))


def _check(config: ChampionshipConfig) -> Iterator[str]:
    if config.v > STANDINGS_VERSION:
        yield f"$.v: version {config.v} is newer than this engine's {STANDINGS_VERSION}"
    yield from _duplicates("$.classes", [c.name for c in config.classes], "name")
    classes = {c.name for c in config.classes}
    for name, scale in config.scales.items():
        if not scale:
            yield f"$.scales.{name}: empty: a scale needs the points of position 1 at least"
        for i, points in enumerate(scale):
            if not math.isfinite(points):
                yield f"$.scales.{name}[{i}]: {points} is not a number of points"
            elif points < 0:
                yield f"$.scales.{name}[{i}]: {points} is negative"
            elif not has_two_decimals(points):
                yield f"$.scales.{name}[{i}]: {points} has more than two decimals"
    yield from _rules("$.points", config.points, config.scales, classes)
    yield from _duplicates("$.rounds", [r.event for r in config.rounds], "event")
    for i, round_ in enumerate(config.rounds):
        at = f"$.rounds[{i}]"
        if round_.points is not None:
            if not round_.points:
                yield f"{at}.points: empty: the round would score nothing (leave it out to use $.points)"
            yield from _rules(f"{at}.points", round_.points, config.scales, classes)
        if not math.isfinite(round_.multiplier):
            yield f"{at}.multiplier: {round_.multiplier} is not a number"
        elif not has_two_decimals(round_.multiplier):
            yield f"{at}.multiplier: {round_.multiplier} has more than two decimals"
        if round_.bonus is not None:
            yield from _bonus(f"{at}.bonus", round_.bonus.pole, round_.bonus.fastest_lap, round_.bonus.beyond_points)
            if round_.bonus.beyond_points and not round_.bonus.beyond_position:
                yield f"{at}.bonus.beyond_position: needed with beyond_points"
    bonus = config.bonus
    yield from _bonus("$.bonus", bonus.pole, bonus.fastest_lap, bonus.beyond_points)
    if bonus.beyond_points and not bonus.beyond_position:
        yield "$.bonus.beyond_position: needed with beyond_points"
    yield from _shortened(config)
    yield from _drops(config)
    tables = config.standings
    if not tables.drivers and tables.teams is TeamStandings.NONE and not tables.manufacturer_cars:
        yield "$.standings: no table kept: set drivers, teams or manufacturer_cars"
    for i, tie in enumerate(config.ties):
        if tie in config.ties[:i]:
            yield f"$.ties[{i}]: {tie.value!r} is listed twice"
    yield from _duplicates("$.adjustments", [a.decision for a in config.adjustments], "decision")
    for i, adjustment in enumerate(config.adjustments):
        for problem in adjustment_problems(config, adjustment):
            yield f"$.adjustments[{i}].{problem}"
    listed = [a.decision for a in config.adjustments]
    for i, exclusion in enumerate(config.exclusions):
        at = f"$.exclusions[{i}]"
        if exclusion.decision in listed:
            yield f"{at}.decision: {exclusion.decision!r} is listed twice"
        listed.append(exclusion.decision)
        decision = PointsAdjustment(
            decision=exclusion.decision,
            kind=AdjustmentKind.CHAMPIONSHIP_EXCLUSION,
            table=exclusion.table,
            competitor=exclusion.competitor,
            class_name=exclusion.class_name,
        )
        for problem in adjustment_problems(config, decision):
            yield f"{at}.{problem}"


def _shortened(config: ChampionshipConfig) -> Iterator[str]:
    bands: list[object] = []
    for i, rule in enumerate(config.shortened):
        at = f"$.shortened[{i}]"
        if (rule.below_pct is None) == (rule.below_laps is None):
            yield f"{at}: set below_pct or below_laps (one of them)"
        if rule.factor is None and rule.scale is None:
            yield f"{at}: set factor (0.5 for half points) or scale (the band's own scale)"
        if rule.factor is not None and not has_two_decimals(rule.factor):
            yield f"{at}.factor: {rule.factor} has more than two decimals"
        if rule.scale is not None and rule.scale not in config.scales:
            yield f"{at}.scale: no scale named {rule.scale!r} (scales: {', '.join(sorted(config.scales))})"
        band = (rule.below_pct, rule.below_laps, tuple(sorted(rule.ended)))
        if band in bands:
            yield f"{at}: the same band as $.shortened[{bands.index(band)}]"
        bands.append(band)


def _duplicates(at: str, values: list[object], field: str) -> Iterator[str]:
    for i, value in enumerate(values):
        if value in values[:i]:
            yield f"{at}[{i}].{field}: {value!r} is listed twice"


def _bonus(at: str, pole: float, fastest_lap: float, beyond: float) -> Iterator[str]:
    for field, points in (("pole", pole), ("fastest_lap", fastest_lap), ("beyond_points", beyond)):
        if not has_two_decimals(points):
            yield f"{at}.{field}: {points} has more than two decimals"


def _rules(at: str, rules: list[SessionPoints], scales: Mapping[str, list[float]], classes: set[str]) -> Iterator[str]:
    known = ", ".join(sorted(scales))
    catch_all: dict[SessionKind, int] = {}
    for i, rule in enumerate(rules):
        here = f"{at}[{i}]"
        if rule.scale not in scales:
            yield f"{here}.scale: no scale named {rule.scale!r} (scales: {known})"
        for class_name, scale in rule.class_scales.items():
            if class_name not in classes:
                yield f"{here}.class_scales.{class_name}: not a class of the championship"
            if scale not in scales:
                yield f"{here}.class_scales.{class_name}: no scale named {scale!r} (scales: {known})"
        if not rule.sessions:
            if rule.kind in catch_all:
                yield (
                    f"{here}: never applies: {at}[{catch_all[rule.kind]}] already scores every "
                    f"{rule.kind.value} session"
                )
            catch_all.setdefault(rule.kind, i)
        yield from _intermediates(here, rule, scales, known)


def _intermediates(here: str, rule: SessionPoints, scales: Mapping[str, list[float]], known: str) -> Iterator[str]:
    if not rule.intermediate:
        return
    if rule.kind is not SessionKind.RACE:
        yield f"{here}.intermediate: only races award intermediate points"
    if rule.length_ms is None:
        yield f"{here}.length_ms: needed to check the intermediate points against the race length"
    for j, intermediate in enumerate(rule.intermediate):
        where = f"{here}.intermediate[{j}]"
        if intermediate.scale not in scales:
            yield f"{where}.scale: no scale named {intermediate.scale!r} (scales: {known})"
        if rule.length_ms is not None and intermediate.at_ms >= rule.length_ms:
            yield (
                f"{where}.at_ms: {intermediate.at_ms} ms is not inside the race length {rule.length_ms} ms "
                "(points at the finish are the rule's scale)"
            )
    yield from _duplicates(f"{here}.intermediate", [i.at_ms for i in rule.intermediate], "at_ms")


def _drops(config: ChampionshipConfig) -> Iterator[str]:
    drops, rounds = config.drops, len(config.rounds)
    sized = [part.rounds is not None for part in drops.parts]
    if any(sized) and not all(sized):
        yield "$.drops.parts: give every part its rounds, or none (the season's rounds split evenly)"
    if not rounds:  # the calendar gives the rounds: nothing to count them against
        return
    if drops.best is not None and drops.parts:
        yield "$.drops: set best or parts, not both"
    if drops.best is not None and drops.best > rounds:
        yield f"$.drops.best: {drops.best} is more than the {rounds} rounds"
    if drops.parts and all(sized):
        covered = sum(part.rounds or 0 for part in drops.parts)
        if covered != rounds:
            yield f"$.drops.parts: the parts hold {covered} rounds, the championship has {rounds}"
        for i, part in enumerate(drops.parts):
            if part.rounds is not None and part.best > part.rounds:
                yield f"$.drops.parts[{i}].best: {part.best} is more than the part's {part.rounds} rounds"
