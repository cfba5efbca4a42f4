"""The command line's shared options work anywhere on the line, and no option collides with the dispatch."""

from __future__ import annotations

import argparse
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from services.cli import build_parser
from services.cli.options import fill_defaults
from services.runtime import DEFAULT_HOME
from tests.reliability.processes import ServiceProcess

URL = "nats://127.0.0.1:4999"


def parse(*argv: str) -> argparse.Namespace:
    return fill_defaults(build_parser().parse_args(list(argv)))


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


def test_publish_with_nats_after_the_positional_arguments_as_run(nats_url: str, tmp_path: Path) -> None:
    """The installed ``chequered``, as an operator types it against an external server: options last."""
    chequered = Path(sys.executable).parent / "chequered"
    key = f"t{uuid.uuid4().hex[:8]}.e.race"
    with ServiceProcess("ingest", nats_url, tmp_path):
        opened = subprocess.run(
            [str(chequered), "publish", key, "flag", "green", "--nats", nats_url],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert opened.returncode == 1  # refused by ingest, which means it reached ingest through --nats
    assert "session_not_opened" in opened.stdout, opened.stdout + opened.stderr
