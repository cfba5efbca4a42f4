"""Classification: the fold (core) and the projector (shell).

The rules and the live classification (:data:`COMPILED`) run after every event a
projector folds: ``make install`` compiles them to C with mypyc
(:mod:`services.classification.compiled`), extension modules beside their
source. Python imports an extension module before its source, so a build left
from an older source would run old rules without a word: when any source of
this package or of the schemas is newer than the build (mypyc compiles in what
it knows of the types it reads), they are imported from source instead, and a
warning says so.
"""

import importlib.util
import sys
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
COMPILED = ("rules", "live")
"""Compiled together, in the order they import each other."""
GROUP = "core"
"""The name of their shared library (``core__mypyc``), kept in this package: an editable install finds only
packages."""


def builds(here: Path = HERE) -> list[Path]:
    """The extension modules built in ``here``."""
    return sorted(path for name in (*COMPILED, f"{GROUP}__mypyc") for path in here.glob(f"{name}.*.so"))


def stale(here: Path = HERE) -> bool:
    """Whether the build in ``here`` is older than a source of the package or of the schemas (or as old: the
    clock's tick may be coarser than an edit after a build)."""
    built = builds(here)
    if not built:
        return False
    sources = [*here.glob("*.py"), *(here.parent.parent / "schemas").glob("*.py")]
    return max(path.stat().st_mtime for path in sources) >= min(path.stat().st_mtime for path in built)


if stale():
    warnings.warn(
        f"{HERE}: the compiled classification core is older than its source, so it runs from source (slower): "
        "`make install` compiles it again",
        RuntimeWarning,
        stacklevel=1,
    )
    for name in COMPILED:
        spec = importlib.util.spec_from_file_location(f"{__name__}.{name}", HERE / f"{name}.py")
        assert spec is not None and spec.loader is not None
        sys.modules[spec.name] = module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
