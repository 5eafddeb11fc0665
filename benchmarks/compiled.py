"""What compiling the pure core with mypyc would give: benchmarks/switch.py pure and compiled, alternating.

    python benchmarks/compiled.py [--runs N] [--cables N] [--receipts] [--module PATH]...

It copies `router/` into a temporary folder, compiles the named modules there with mypyc (mypy's
compiler: `pip install -e '.[test]'`, and a C compiler), then runs benchmarks/switch.py `--runs`
times each way in turn, compiled with that folder first on the path, pure with this checkout:
CPU ms a seed cable, the best run each way, and the gain. When the corpus is there (`../shared`),
benchmarks/parse.py the same way: the parser alone, over real cables. The router is not changed:
this measures whether a compiled build would be worth having (issue 15). The modules, by default:
the parser and what it needs, the routing decision, the channel and line logic and the switch's
lines, the pure core the profile (benchmarks/profile_router.py) points at; pydantic models
(router/cable/models.py, router/routing/table.py) cannot be compiled. Run it on a quiet machine:
the gain is a few per cent, the noise of a shared one as much. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import describe

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus" / "cables"
CORE = (
    "router/cable/parser.py",
    "router/cable/addressee.py",
    "router/cable/textfields.py",
    "router/cable/tags.py",
    "router/cable/names.py",
    "router/cable/body.py",
    "router/cable/security.py",
    "router/routing/decide.py",
    "router/network/channel.py",
    "router/network/line.py",
    "router/switch/lines.py",
)
"""The pure core as the profile shows it: parsing, the decision, the lines."""


def compile_core(folder: Path, modules: list[str]) -> None:
    """A copy of the package in ``folder`` with ``modules`` compiled beside their sources."""
    if shutil.which(os.environ.get("CC", "cc")) is None and shutil.which("gcc") is None:
        raise SystemExit("compiled: no C compiler (cc or gcc) on the PATH; mypyc needs one")
    shutil.copytree(ROOT / "router", folder / "router", ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    shutil.copy(ROOT / "pyproject.toml", folder)  # mypy's settings (strict, the pydantic plugin)
    print(f"compiling {len(modules)} modules with mypyc (a minute or so)", flush=True)
    done = subprocess.run(  # noqa: S603 (this Python's mypyc)
        [sys.executable, "-m", "mypyc", *modules], cwd=folder, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        errors = [line for line in done.stdout.splitlines() if ": error:" in line] or [done.stderr.strip()]
        raise SystemExit(f"compiled: mypyc failed: {errors[0]}")
    # `python -c` puts its working folder first on the path: there, the folder's copy.
    where = run(
        [sys.executable, "-c", "import router.cable.parser as p; print(p.__file__)"], folder, cwd=folder
    )
    if not where.strip().endswith(".so"):
        raise SystemExit(f"compiled: the compiled parser is not the one imported ({where.strip()})")


def run(command: list[str], path: Path | None, *, cwd: Path = ROOT) -> str:
    """``command``'s output, with ``path`` first on the import path (None: this checkout, pure).

    It runs in the checkout (the benchmarks read config/ from there) unless told otherwise.
    """
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    if path is not None:
        env["PYTHONPATH"] = str(path)
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise SystemExit(
            f"compiled: {Path(command[1]).name} ({'compiled' if path else 'pure'}) failed: {last}"
        )
    return done.stdout


def figure(script: str, options: list[str], path: Path | None, key: str) -> float:
    """One run of a benchmark script: ``key`` of the JSON object it prints last."""
    output = run([sys.executable, str(ROOT / "benchmarks" / script), *options], path)
    return float(json.loads(output.splitlines()[-1])[key])


def compare(script: str, options: list[str], folder: Path, runs: int, key: str) -> dict[str, object]:
    """``runs`` runs each way, in turn (pure first, then compiled first): the best each way."""
    pure: list[float] = []
    compiled: list[float] = []
    for number in range(runs):
        ways = [(pure, None), (compiled, folder)]
        for taken, path in ways if number % 2 == 0 else ways[::-1]:
            taken.append(figure(script, options, path, key))
    best_pure, best_compiled = min(pure), min(compiled)
    gain = round(100 * (best_pure - best_compiled) / best_pure, 1)
    print(f"{script} {' '.join(options)}: pure {best_pure}, compiled {best_compiled} ({key}); {gain} % less")
    print(f"  runs: pure {pure}, compiled {compiled}", flush=True)
    return {"pure": best_pure, "compiled": best_compiled, "gain_percent": gain, "runs": [pure, compiled]}


def main() -> None:
    """Compile the core in a temporary folder, compare, and print the figures, the last line as JSON."""
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--runs", type=int, default=3, help="runs each way (default 3)")
    options.add_argument("--cables", type=int, default=3_000, help="seed cables a switch.py round")
    options.add_argument("--receipts", action="store_true", help="switch.py with every copy receipted")
    options.add_argument(
        "--module", action="append", help="a module to compile (repeat; default: the pure core)"
    )
    args = options.parse_args()
    modules = args.module or list(CORE)
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    with tempfile.TemporaryDirectory(prefix="router-compiled-") as directory:
        folder = Path(directory)
        compile_core(folder, modules)
        switch = ["--cables", str(args.cables), *(["--receipts"] if args.receipts else [])]
        results = {"switch": compare("switch.py", switch, folder, args.runs, "cpu_ms_per_cable")}
        if any(CORPUS.glob("*.txt")):
            results["parse"] = compare("parse.py", ["--rounds", "5"], folder, args.runs, "us_per_cable")
    print(
        json.dumps(
            {
                "benchmark": "compiled",
                "modules": modules,
                **results,
                "started": started,
                "machine": describe(),
            }
        )
    )


if __name__ == "__main__":
    main()
