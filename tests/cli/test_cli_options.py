"""The command line's shared options work anywhere on the line, and no option collides with the dispatch."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from services.cli import build_parser
from services.cli.options import positive_int
from services.runtime import DEFAULT_HOME

URL = "nats://127.0.0.1:4999"


def parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(list(argv))


@pytest.mark.parametrize(
    "argv",
    [
        ("--nats", URL, "publish", "a.b.c", "flag", "green"),
        ("publish", "--nats", URL, "a.b.c", "flag", "green"),
        ("publish", "a.b.c", "--nats", URL, "flag", "green"),
        ("publish", "a.b.c", "flag", "green", "--nats", URL),
        ("publish", "a.b.c", "penalty", "7", "D1", "time", "5s", "--nats", URL, "--reason", "x"),
        ("edge", "source", "monza", "--nats", URL),
        ("at", "a.b.c", "--time", "6h", "--nats", URL),
        ("tower", "a.b.c", "--nats", URL),
        ("replay", "race.jsonl", "--max", "--nats", URL),
        ("feed", "rmonitor", "--session", "a.b.c", "--capture", "x.txt", "--nats", URL),
        ("import", "alkamel", "x.csv", "--session", "a.b.c", "--nats", URL),
    ],
)
def test_nats_is_taken_before_or_after_the_positional_arguments(argv: tuple[str, ...]) -> None:
    args = parse(*argv)
    assert args.nats == URL
    assert args.home == DEFAULT_HOME


def test_without_the_shared_options_their_defaults_apply() -> None:
    args = parse("publish", "a.b.c", "chequered")
    assert (args.nats, args.home) == (None, DEFAULT_HOME)


def test_feed_run_is_an_option_not_the_command() -> None:
    """``--run`` once shared argparse's destination with the command's dispatch: ``--run 3`` replaced the handler
    with 3, and without it the default None made the command store nothing."""
    args = parse("feed", "rmonitor", "--session", "a.b.c", "--capture", "x.txt", "--run", "3")
    assert args.run == 3
    assert callable(args.handler)
    assert parse("feed", "rmonitor", "--session", "a.b.c", "--capture", "x.txt").run is None


# -- every command: each option before, between or after the positional arguments ---------------------------

EXAMPLES: dict[object, str] = {
    int: "3",
    positive_int: "2",
    float: "2.5",
    Path: "x.txt",
    date.fromisoformat: "2026-04-19",
    None: "v",
}


@dataclass
class Line:
    """A command line built from the parser: the words of each parser on the way to a command (its name and its
    positional arguments) and the options each of them defines."""

    words: list[list[str]]
    """Per parser on the path: its name (none for the top level), then its positional values."""
    options: list[list[list[str]]]
    """Per parser on the path: the options it takes that are given (each its flag and value)."""
    required: set[str]
    """Destinations of options that must be given (not told apart from a default)."""
    dests: dict[str, str]
    """The destination of each option given, by its flag."""
    command_takes: frozenset[str] = frozenset()
    """The option strings the command's own parser takes: a top-level option it does not take (``--nats`` of a
    command that needs no broker) stays before it; a command's options all work after its sub-command."""

    def build(self, where: str) -> list[str]:
        """``after``: every option after the last word; ``first``: every option right after the command's name,
        before its positional arguments; ``outer``: each option with the outermost parser that takes it."""
        moved = [
            option
            for level, options in enumerate(self.options)
            for option in options
            if where != "outer" and (level or option[0] in self.command_takes)
        ]
        line: list[str] = []
        for level, words in enumerate(self.words):
            name, positionals = words[:1] if level else [], words[1:] if level else words
            line += name
            line += [word for option in self.options[level] if option not in moved for word in option]
            if where == "first" and level == len(self.words) - 1:
                line += [word for option in moved for word in option]
            line += positionals
        if where == "after":
            line += [word for option in moved for word in option]
        return line


def _value(action: argparse.Action) -> list[str]:
    if action.nargs == 0:
        return []
    if action.choices:
        return [str(next((c for c in action.choices if c != action.default), next(iter(action.choices))))]
    assert action.type in EXAMPLES, f"add an example value for {action.dest} ({action.type}) to EXAMPLES"
    return [EXAMPLES[action.type]]


def _lines(parser: argparse.ArgumentParser, prefix: Line) -> Iterator[tuple[str, Line]]:
    """Every command (and sub-command) of ``parser``, as a line naming every option it takes."""
    given = {flag for options in prefix.options for option in options for flag in option[:1]}
    chosen: set[argparse.Action] = set()
    for group in parser._mutually_exclusive_groups:  # one of each group: the first
        chosen |= set(group._group_actions[1:])
    words, options, required, dests = [], [], set(), dict(prefix.dests)
    sub: argparse._SubParsersAction[argparse.ArgumentParser] | None = None
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            sub = action
        elif isinstance(action, argparse._HelpAction) or action in chosen:
            continue
        elif not action.option_strings:
            words += _value(action)
        elif action.option_strings[0] not in given:
            options.append([action.option_strings[0], *_value(action)])
            dests[action.option_strings[0]] = action.dest
            if action.required or any(action in g._group_actions for g in parser._mutually_exclusive_groups):
                required.add(action.dest)
    here = Line(
        [*prefix.words[:-1], [*prefix.words[-1], *words]],
        [*prefix.options[:-1], options],
        prefix.required | required,
        dests,
        frozenset(parser._option_string_actions),
    )
    if sub is None:
        yield " ".join(w for ws in here.words for w in ws[:1] if ws), here
        return
    for name, child in sub.choices.items():
        yield from _lines(child, Line([*here.words, [name]], [*here.options, []], here.required, dests))


LINES = dict(_lines(build_parser(), Line([[]], [[]], set(), {})))


def test_every_command_is_covered() -> None:
    assert {"publish flag", "publish penalty", "edge source", "serve", "replay", "standings", "at"} <= set(LINES)


@pytest.mark.parametrize("name", sorted(LINES))
def test_every_option_works_before_between_or_after_the_positional_arguments(name: str) -> None:
    """Each command's options (its own, its parent command's like ``publish --at``, and the broker's) mean the
    same wherever they are on the line, and each given option is taken (not left at its default)."""
    line = LINES[name]
    parsed = {where: vars(parse(*line.build(where))) for where in ("after", "first", "outer")}
    assert parsed["after"] == parsed["first"] == parsed["outer"]
    kept = [[o for o in level if line.dests[o[0]] in line.required] for level in line.options]
    bare = Line(line.words, kept, line.required, line.dests, line.command_takes)
    defaults = vars(parse(*bare.build("after")))
    given = {line.dests[o[0]] for level in line.options for o in level} - line.required
    assert not [dest for dest in given if parsed["after"][dest] == defaults[dest]]
