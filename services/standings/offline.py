"""``chequered standings``: the championship from recorded race logs, without a broker.

Logs are JSON lines of ``schemas.events.Event`` (``.gz`` read as gzip); a log may
hold several sessions and events of several logs are numbered in the order
given, as a stream would. Sessions belong to the round whose ``event`` slug
they carry.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, TextIO

from rich.console import Console

from services.ops.racelog import read_log
from services.standings.config import ConfigError, load_rulebook
from services.standings.live import Season
from services.standings.render import render_tables, to_json, write_csv
from services.standings.timeline import rounds_from_events

Format = Literal["table", "json", "csv"]


def run_offline(
    config_path: Path, logs: Sequence[Path], fmt: Format = "table", out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """Print the standings the logs give; 0 on success, 1 when no session of the championship is in them,
    2 for an unusable config or log (the reason goes to ``err``)."""
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    try:
        book = load_rulebook(config_path)
        events = list(enumerate((event for path in logs for event in read_log(path)), start=1))
    except (ConfigError, ValueError) as error:
        print(error, file=err)
        return 2
    except OSError as error:
        print(f"{error.filename}: {error.strerror}", file=err)
        return 2
    championship = book.config.championship
    ignored = sorted(
        {
            e.session.key
            for _, e in events
            if e.session.championship != championship or e.session.event not in book.rounds
        }
    )
    for key in ignored:
        print(f"session {key}: not a round of {championship} in {config_path}; ignored", file=err)
    season = Season(book)
    for points in rounds_from_events(book, events):
        season.put(points)
    standings = season.standings()
    if fmt == "json":
        out.write(to_json(standings))
    elif fmt == "csv":
        write_csv(standings, out)
    else:
        wide = not out.isatty() and not os.environ.get("COLUMNS")  # a file: wide, unless a width is asked for
        console = Console(file=out, width=160 if wide else None)
        for table in render_tables(standings, width=console.width):
            console.print(table, crop=False)
            console.print()
    if not season.rounds:
        print(f"no session of championship {championship} in the logs", file=err)
        return 1
    return 0
