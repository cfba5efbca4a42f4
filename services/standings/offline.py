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

from schemas.events import CALENDAR_BODIES
from services.ops.racelog import read_log
from services.standings.config import ConfigError, load_rulebook
from services.standings.fold import fold_championship
from services.standings.render import (
    render_tables,
    render_titles,
    titles_json,
    to_json,
    write_csv,
    write_titles_csv,
)

Format = Literal["table", "json", "csv"]


def run_offline(
    config_path: Path,
    logs: Sequence[Path],
    fmt: Format = "table",
    out: TextIO | None = None,
    err: TextIO | None = None,
    contenders: bool = False,
) -> int:
    """Print the standings the logs give (``contenders``: who can still win each table, and what they need); 0 on
    success, 1 when no session of the championship is in them, 2 for an unusable config or log (the reason goes to
    ``err``)."""
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
    timing = [  # the file's rules, not the logs', with the season's calendar when the logs have one
        (seq, e) for seq, e in events if not e.session.is_championship or isinstance(e.body, CALENDAR_BODIES)
    ]
    fold = fold_championship(timing, championship, book)
    assert fold.season is not None
    rounds = fold.season.book.rounds
    ignored = sorted(
        {
            e.session.key
            for _, e in events
            if e.session.championship != championship
            or (not e.session.is_championship and e.session.event not in rounds)
        }
    )
    for key in ignored:
        print(f"session {key}: not a round of {championship} in {config_path}; ignored", file=err)
    standings = fold.season.standings()
    if fmt == "json":
        out.write(titles_json(standings) if contenders else to_json(standings))
    elif fmt == "csv":
        (write_titles_csv if contenders else write_csv)(standings, out)
    else:
        wide = not out.isatty() and not os.environ.get("COLUMNS")  # a file: wide, unless a width is asked for
        console = Console(file=out, width=160 if wide else None)
        for table in render_titles(standings) if contenders else render_tables(standings, width=console.width):
            console.print(table, crop=False)
            console.print()
    if not fold.season.rounds:
        print(f"no session of championship {championship} in the logs", file=err)
        return 1
    return 0
