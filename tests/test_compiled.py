"""The compiled build (`ROUTER_MYPYC=1`, setup.py): the core's own tests pass on it, as on pure Python.

The package is built once for this module, as `ROUTER_MYPYC=1 pip install .` builds it but with
this environment's mypyc and dependencies (no download) and into a folder of its own (about a
minute on two cores; `compiled_build` of benchmarks/compiled.py, which the benchmarks use too);
then the parser's, the routing's, the lines' and the switch's tests run in a child Python that
imports the router from that folder. mypyc checks at run time what mypy checks before
(an argument of another type than its annotation raises), so the same tests are a real second
trial, not a repeat. Every other test of the suite runs pure, from the checkout.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
COMPILED = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["router"]["compiled"][
    "modules"
]
CORE_TESTS = (
    "tests/test_parser.py",
    "tests/test_corpus.py",
    "tests/test_peer_cases.py",
    "tests/test_body.py",
    "tests/test_hostile_input.py",
    "tests/test_routing.py",
    "tests/test_routing_corpus.py",
    "tests/test_routing_properties.py",
    "tests/test_line.py",
    "tests/test_channel.py",
    "tests/test_channel_checks.py",
    "tests/test_service.py",
    "tests/test_journal_switch.py",
    "tests/test_centres.py",
)
"""Tests that run the compiled modules in their own process (a test that starts `router run` as a
child process runs the checkout's). tests/test_hostile_sizes.py is not among them: it hands the
intake a stand-in for its lines, which a compiled intake refuses for not being `Lines`."""


def _child(build: Path, code: str) -> subprocess.CompletedProcess[str]:
    """``code`` in a child Python importing the router from ``build`` (-P: not from the checkout)."""
    env = {**os.environ, "PYTHONPATH": f"{build}{os.pathsep}{ROOT}"}  # the tests themselves: the checkout's
    return subprocess.run(  # noqa: S603 (this Python)
        [sys.executable, "-P", "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # The benchmarks' build (benchmarks/compiled.py), into this test's own folder, not their cache.
    spec = importlib.util.spec_from_file_location("compiled", ROOT / "benchmarks" / "compiled.py")
    assert spec is not None
    assert spec.loader is not None
    benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchmark)
    if not benchmark.has_c_compiler():
        pytest.skip("no C compiler (cc or gcc): the compiled build cannot be made here")
    try:
        folder: Path = benchmark.compiled_build(tmp_path_factory.mktemp("compiled"))
    except SystemExit as exc:
        pytest.fail(str(exc))
    return folder


@pytest.mark.timeout(600)
def test_every_module_listed_is_compiled_and_the_router_says_so(build: Path) -> None:
    names = [module.removesuffix(".py").replace("/", ".") for module in COMPILED]
    shown = _child(
        build,
        "import importlib, sys\n"
        f"for name in {names!r}: print(importlib.import_module(name).__file__)\n"
        "from router.cli import app\n"
        "sys.argv = ['router', '--version']\n"
        "app()\n",
    )
    files = shown.stdout.splitlines()
    assert len(files) == len(names) + 1, shown.stderr
    for name, file in zip(names, files, strict=False):
        assert file.startswith(str(build)), (name, file)
        assert file.endswith(".so"), (name, file)
    assert files[-1].endswith(f"({len(COMPILED)} modules compiled with mypyc)")


@pytest.mark.timeout(600)
def test_the_core_s_tests_pass_on_the_compiled_build(build: Path) -> None:
    run = _child(
        build,
        "import sys, pytest\n"
        "import router.cable.parser, router.switch.core\n"
        "assert router.cable.parser.__file__.endswith('.so'), router.cable.parser.__file__\n"
        "assert router.switch.core.__file__.endswith('.so'), router.switch.core.__file__\n"
        f"sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', '-x', *{list(CORE_TESTS)!r}]))\n",
    )
    assert run.returncode == 0, run.stdout[-5000:] + run.stderr[-2000:]
    assert " passed" in run.stdout.splitlines()[-1], run.stdout[-2000:]
