"""``chequered``: the command line. Thin: every command parses, calls a room of ``services``, and prints.

- :mod:`~services.cli.app`: the parser and ``main``;
- :mod:`~services.cli.options`: options shared by many commands (accepted anywhere on the line);
- :mod:`~services.cli.bootstrap`: the composition root (broker, connections, gateway, shipped files);
- :mod:`~services.cli.serving`, :mod:`~services.cli.producing`, :mod:`~services.cli.operating`,
  :mod:`~services.cli.scoring`, :mod:`~services.cli.calendar`: the commands, by group;
- :mod:`~services.cli.watch`: following read models in KV from the terminal.
"""

from services.cli.app import build_parser, main

__all__ = ["build_parser", "main"]
