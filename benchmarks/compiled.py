"""The compiled build against the pure one: benchmarks/switch.py each way, alternating.

    python benchmarks/compiled.py [--runs N] [--cables N] [--receipts]

It builds the package as `ROUTER_MYPYC=1 pip install .` does (setup.py: the modules of pyproject's
[tool.router.compiled] compiled with mypyc), into a cache folder, once for each state of the
sources (`compiled_build`, which benchmarks/peers.py uses too), then runs benchmarks/switch.py
`--runs` times each way in turn, compiled with that folder first on the path, pure with this
checkout: CPU ms a seed cable, the best run each way, and the gain. When the corpus is there
(`../shared`), benchmarks/parse.py the same way: the parser alone, over real cables. It needs a C
compiler, and mypy and setuptools 77 or newer in this environment (`pip install -e '.[bench]'`).
The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import describe

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus" / "cables"
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "router-benchmarks"
BUILT_FROM = ("pyproject.toml", "setup.py", "README.md", "LICENSE")
"""The files the build reads besides router/ and config/ (the first two shape what it builds)."""


def _sources() -> list[Path]:
    """What the build's code comes from: README.md and LICENSE go into its metadata only."""
    files = [ROOT / name for name in BUILT_FROM[:2]]
    for folder in ("router", "config"):
        files += sorted(p for p in (ROOT / folder).rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    return files


def has_c_compiler() -> bool:
    """Whether mypyc will find a C compiler (``$CC``, cc or gcc) on the PATH."""
    return shutil.which(os.environ.get("CC", "cc")) is not None or shutil.which("gcc") is not None


def compiled_build(cache: Path = CACHE) -> Path:
    """A folder in ``cache`` holding the package built with ``ROUTER_MYPYC=1`` from this checkout.

    Built once for each state of the sources (their digest names the folder), like a user's
    `ROUTER_MYPYC=1 pip install .`, but with this environment's mypy and dependencies (no download)
    and into a folder of its own: put it first on ``PYTHONPATH`` (and run Python with ``-P``).
    `SystemExit` says why it could not be built. tests/test_compiled.py builds with it too.
    """
    digest = hashlib.sha256()
    for path in _sources():
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    folder = cache / f"compiled-{digest.hexdigest()[:16]}"
    if (folder / "router").is_dir():
        return folder
    if not has_c_compiler():
        raise SystemExit("compiled: no C compiler (cc or gcc) on the PATH; mypyc needs one")
    print(f"building the compiled core into {folder} (once for these sources; a few minutes)", flush=True)
    source = cache / "compiled-source"
    shutil.rmtree(source, ignore_errors=True)
    source.mkdir(parents=True)
    for name in BUILT_FROM:
        shutil.copy(ROOT / name, source / name)
    for name in ("router", "config"):  # router/config is a link to ../config: kept a link
        leave_out = shutil.ignore_patterns("__pycache__")
        shutil.copytree(ROOT / name, source / name, symlinks=True, ignore=leave_out)
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    install = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation"]
    done = subprocess.run(  # noqa: S603 (this Python's pip)
        [*install, "--target", str(partial), str(source)],
        env={**os.environ, "ROUTER_MYPYC": "1"},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        told = (done.stdout + done.stderr).splitlines()
        errors = [line.strip() for line in told if ": error:" in line] or told[-1:] or ["?"]
        raise SystemExit(f"compiled: the build failed: {errors[0]}")
    shutil.rmtree(source)
    partial.rename(folder)
    return folder


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
    """The compiled build (from the cache), compared; the figures, the last line as JSON."""
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--runs", type=int, default=3, help="runs each way (default 3)")
    options.add_argument("--cables", type=int, default=3_000, help="seed cables a switch.py round")
    options.add_argument("--receipts", action="store_true", help="switch.py with every copy receipted")
    args = options.parse_args()
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    folder = compiled_build()
    modules = sorted(str(p.relative_to(folder)).split(".")[0] for p in (folder / "router").rglob("*.so"))
    print(f"{len(modules)} modules compiled, in {folder}", flush=True)
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
