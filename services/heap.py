"""The garbage collector tuned for processes that keep a large heap of long-lived state.

A projector keeps every session it folds (half a megabyte each: laps, rows
kept encoded), and folding allocates a few objects per event. CPython
collects its youngest objects every 700 allocations and, as they age, the
whole heap: with 100 sessions in one projector a full collection paused it
for up to 190 ms, eight times in a six-minute run, and collections took 13 %
of its CPU (the scale benchmark; a rebuild lost a quarter of its time the same
way). Nothing a fold keeps is garbage, so every chequered process (:func:`services.cli.app.main`) collects
its youngest objects every :data:`YOUNG_THRESHOLD` allocations instead:
cycles are still collected, far less often, and a full collection comes
about seventy times less often (in that run: none, and 1.7 s of collecting
became 0.4 s).
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 50_000


def tune_collector() -> None:
    """Collect the youngest generation every :data:`YOUNG_THRESHOLD` allocations (the older ones follow it)."""
    young, *older = gc.get_threshold()
    gc.set_threshold(max(young, YOUNG_THRESHOLD), *older)
