"""The build: pure Python, or with ``ROUTER_MYPYC=1`` the switch's hot path compiled with mypyc.

    pip install .                   # pure Python: any machine with Python 3.11+
    ROUTER_MYPYC=1 pip install .    # the modules of [tool.router.compiled] compiled to C extensions

The compiled modules are the same source: mypyc (mypy's compiler) turns their type annotations
into C, which runs the switch's own work in fewer instructions (the README's "Faster than the flow
a user would wire by hand"). It needs a C compiler and a couple of minutes; everything else about
the project (metadata, data files, the pure modules) is pyproject.toml's, the same either way.
An editable install (``pip install -e .``) is pure Python: with ``ROUTER_MYPYC=1`` it is refused,
since compiled modules beside sources being edited would go on running the old code.
"""

from __future__ import annotations

import os
import sys
import tomllib
from pathlib import Path

from setuptools import setup
from setuptools.command.build_ext import build_ext

PROJECT = tomllib.loads((Path(__file__).parent / "pyproject.toml").read_text(encoding="utf-8"))
COMPILED: list[str] = PROJECT["tool"]["router"]["compiled"]["modules"]
"""The modules compiled: the switch's hot path, as benchmarks/profile_router.py shows it."""
MYPY = "mypy>=1.10"
METADATA_ONLY = {"egg_info", "dist_info"}
"""The commands that only write the metadata (setuptools' PEP 517 hooks run setup.py once for it,
once for the wheel): mypyc, which type-checks and writes the C at once, is left to the wheel's."""


class NotEditable(build_ext):  # type: ignore[misc] # setuptools has no type hints
    """Builds the compiled modules for an install, and refuses to for an editable one."""

    def run(self) -> None:
        """Build, unless for an editable install."""
        if self.editable_mode:
            raise SystemExit(
                "ROUTER_MYPYC=1 compiles for `pip install .`, not for an editable install: compiled"
                " modules beside the sources would go on running the old code after an edit"
            )
        super().run()


if os.environ.get("ROUTER_MYPYC") == "1":
    try:
        from mypyc.build import mypycify
    except ImportError:
        # The first pass, which asks what the build needs: mypyc, and the dependencies (the
        # optional PostgreSQL driver too), since it type-checks the modules it compiles and what
        # they import. pip installs them, then builds.
        needs = [
            *PROJECT["project"]["dependencies"],
            *PROJECT["project"]["optional-dependencies"]["postgres"],
        ]
        setup(setup_requires=[MYPY, *needs])
    else:
        if METADATA_ONLY.intersection(sys.argv):
            setup()  # pip asks for the metadata first: compiling changes none of it
        else:
            setup(ext_modules=mypycify(COMPILED, opt_level="3"), cmdclass={"build_ext": NotEditable})
else:
    setup()
