"""Championship points and standings: a pure engine over classifications, and the offline command.

- ``config``: TOML configs decoded and checked (errors name the file and the field); ``configs/`` ships
  ``gt-endurance.toml`` and ``wec.toml``.
- ``rulebook``: a config compiled for scoring; ``scales``, ``eligibility``, ``bonus``: who scores what in a
  session; ``units``: points as exact integers.
- ``rounds``: ``score_round`` turns a round's classifications into ``RoundPoints``.
- ``tables``: ``standings`` adds the rounds up, with ``drops``, ``ties`` and ``adjustments``.
- ``live``: ``Season``, a projector's state (corrections, decisions, the standings), and ``LiveRound``, the
  lap-by-lap "as it stands" table of the running round.
- ``timeline``: from a log to rounds; ``classifications_at`` for intermediate points.
- ``offline``, ``render``: ``chequered standings`` (the shell: files, terminal).
"""
