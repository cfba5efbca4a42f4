"""A process imports what it runs: a command its own group, ``serve ROLE`` its own service, when it starts it."""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys

import pytest

from services.cli.app import GROUPS, build_parser
from services.cli.options import broker_options

HEAVY = ("fpdf", "icalendar", "faststream", "services.feeds.ingestor")
"""What ``serve``'s parser needs none of: the PDF library, the calendar files, the services' framework, the feeds."""


def _imported_after(code: str) -> set[str]:
    """The modules a fresh interpreter holds after ``code``."""
    shown = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", shown], capture_output=True, text=True, check=True).stdout
    return set(json.loads(out.splitlines()[-1]))


@pytest.mark.parametrize(("module", "commands"), GROUPS.items())
def test_each_group_registers_the_commands_it_is_listed_with(module: str, commands: tuple[str, ...]) -> None:
    sub = argparse.ArgumentParser().add_subparsers()
    importlib.import_module(module).register(sub, broker_options().inner)
    assert tuple(sub.choices) == commands


def test_every_command_is_in_the_full_parser_in_the_listed_order() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert tuple(sub.choices) == tuple(c for commands in GROUPS.values() for c in commands)


@pytest.mark.parametrize(
    ("argv", "command"),
    [
        (["serve", "classification"], "serve"),
        (["--nats", "nats://x:4222", "at", "s.e.r", "--seq", "1"], "at"),
        (["--home", "serve", "publish", "a.b.c", "flag", "green"], "publish"),  # a home named like a command
        (["--help"], None),
        (["bogus"], None),
        (["--nats"], None),
        (["--", "serve"], None),  # refused ("--" is not a command): the error lists every command
        (["publish", "a.b.c", "flag", "green", "--reason", "--"], "publish"),
    ],
)
def test_the_parser_of_a_command_line_holds_its_command(argv: list[str], command: str | None) -> None:
    sub = next(a for a in build_parser(argv)._actions if isinstance(a, argparse._SubParsersAction))
    if command is None:
        assert len(sub.choices) == sum(map(len, GROUPS.values()))
    else:
        assert command in sub.choices
        assert set(sub.choices) <= {c for cs in GROUPS.values() if command in cs for c in cs}


def test_a_command_line_imports_its_group_only_and_no_service() -> None:
    held = _imported_after("from services.cli.app import build_parser; build_parser(['serve', 'classification'])")
    assert "services.cli.serving" in held
    assert not held & {"services.cli.producing", "services.cli.operating", "services.cli.calendar", *HEAVY}
    assert "services.classification.projector" not in held
