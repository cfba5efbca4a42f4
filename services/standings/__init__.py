"""Championship points and standings: a pure engine over classifications, and the offline command.

- ``config``: TOML configs decoded and checked (errors name the file and the field); ``configs/`` ships
  ``gt-endurance.toml`` and ``wec.toml``.
- ``rulebook``: a config compiled for scoring (its rounds from the season's calendar when there is one);
  ``scales``, ``eligibility``, ``bonus``: who scores what in a session; ``units``: points as exact fractions.
- ``rounds``: ``score_round`` turns a round's classifications into ``RoundPoints``.
- ``tables``: ``standings`` adds the rounds up, with ``drops``, ``ties`` and ``adjustments``.
- ``live``: ``Season``, every round's points and the decisions in force (the standings), and ``LiveRound``, the
  lap-by-lap "as it stands" table of the running round.
- ``fold``: ``ChampionshipFold``, the one path from a championship's events to its standings (the projector,
  ``chequered standings`` and ``chequered at`` all use it); ``standings_until`` for time travel.
- ``title``: who can still win each table, the most each can reach, the conditions for the last race.
- ``offline``, ``render``: ``chequered standings`` (the shell: files, terminal).
"""
