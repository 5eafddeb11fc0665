"""The package as a user installs it: a wheel in a fresh venv, run from a folder that is not the checkout.

The routing table, the network and the scenarios ship inside the package (`router.routing.shipped`), so
`router route` and `router demo` need nothing from the repository. Slow-ish (a venv and the
dependencies: about 20 s with pip's cache warm), so one test does both commands, and holds the
build to no warnings and the licence declared (PEP 639).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "samples" / "flash-collective.txt"


def _copy_of_the_source(into: Path) -> Path:
    """The checkout's files, without its venv, git data or build leftovers (the build writes in place)."""
    skip = shutil.ignore_patterns(
        ".git", ".venv*", "build", "*.egg-info", "__pycache__", ".*_cache", "demo-runs"
    )
    return Path(shutil.copytree(ROOT, into, symlinks=True, ignore=skip))


@pytest.mark.timeout(600)
def test_the_wheel_installed_elsewhere_routes_and_runs_the_demo(tmp_path: Path) -> None:
    source = _copy_of_the_source(tmp_path / "source")
    built = subprocess.run(  # noqa: S603 (-v: the build backend's own warnings are shown)
        [sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "-w", str(tmp_path / "dist"), str(source)],
        check=True,
        capture_output=True,
        text=True,
    )
    # Python warnings from the build ("SetuptoolsDeprecationWarning: ..."); pip's own "WARNING:" lines
    # are about this machine's package indexes, not the project.
    assert not re.findall(r"\w+Warning: .*", built.stdout + built.stderr)
    (wheel,) = (tmp_path / "dist").glob("router-*.whl")
    assert "License-Expression: MIT" in _metadata(wheel)
    venv.create(tmp_path / "venv", with_pip=True)
    bin_dir = tmp_path / "venv" / "bin"
    subprocess.run(  # noqa: S603
        [str(bin_dir / "pip"), "install", "-q", str(wheel)], check=True, capture_output=True
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    router = str(bin_dir / "router")

    route = subprocess.run(  # noqa: S603
        [router, "route", str(SAMPLE)], cwd=elsewhere, capture_output=True, text=True, check=False
    )
    assert route.returncode == 0, route.stderr
    assert "RUEHRO-0877/01-3130915  42 deliveries, 0 intercepts" in route.stdout

    demo = subprocess.run(  # noqa: S603
        [router, "demo", "--headless", "--duration", "120", "--time-scale", "600"],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert demo.returncode == 0, demo.stderr
    (journal,) = elsewhere.glob("demo-runs/*/journal.sqlite")
    assert (journal.parent / "report" / "index.html").is_file()
    installed = subprocess.run(  # noqa: S603
        [str(bin_dir / "python"), "-c", "import router.routing.shipped as s; print(s.SHIPPED)"],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        check=True,
    )
    assert str(tmp_path / "venv") in installed.stdout  # the package's own copy, not the checkout's


def _metadata(wheel: Path) -> str:
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        return archive.read(name).decode()
