"""Compiling the classification's core (:data:`~services.classification.COMPILED`) to C with mypyc.

mypyc, part of mypy (which type-checks these modules already), compiles the
same typed source into extension modules beside it; the results are the same,
byte for byte. The value after a lap of a 60-car, 24-hour race takes about
0.08 ms compiled against 0.12 from source (``make bench ARGS=fold``).
``make install`` runs ``python -m services.classification.compiled``; without a
C compiler the core runs from source.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from services.classification import COMPILED, GROUP, HERE, builds


def compile_core(here: Path = HERE) -> list[Path]:
    """Compile the core in ``here`` (a C compiler and mypy needed); the extension modules built."""
    from mypyc.build import mypycify  # only to build: neither is needed to run
    from setuptools import Distribution

    for path in builds(here):
        path.unlink()  # a failed build leaves none behind
    root = here.parent.parent
    package = ".".join(here.relative_to(root).parts)
    with tempfile.TemporaryDirectory() as work:
        extensions = mypycify(
            [str(here / f"{name}.py") for name in COMPILED], group_name=f"{package}.{GROUP}", target_dir=work
        )
        build = Distribution({"name": GROUP, "ext_modules": extensions})
        build.script_args = ["--quiet", "build_ext", "--build-temp", work, "--build-lib", str(root)]
        build.parse_command_line()
        build.run_commands()
    return builds(here)


if __name__ == "__main__":
    for built in compile_core():
        print(f"built {built}")
