"""Instructions the router executes a cable of the peers' work: a count, not a time, to compare two commits.

    python benchmarks/instructions.py [--cables N] [--few N] [--compiled]

A shared machine's CPU times move by 5-10 % from one run to the next, as much as most changes to
the router's work; the number of instructions it executes moves by well under 1 % (only the
bursts' sizes vary with timing). This runs `router run` under Valgrind's callgrind (`apt install
valgrind`) on a private Mosquitto twice, with `--few` and with `--cables` seed cables (benchmarks/peers.py's
work: 7 RIs, unthrottled lines), and prints the instructions a cable: the difference of the two
counts over the difference of the cables, which leaves the start and stop out. Under callgrind
the router runs some fifty times slower: 1,200 cables take a minute or two. With Valgrind's
`callgrind_annotate` it also says where the instructions are: SQLite, pydantic-core, regular
expressions, JSON, uvloop, the C library, and the interpreter running Python. Run it in each of
two checkouts to compare them (it measures the checkout it is in), or with ``--compiled`` to count
the router built with mypyc (benchmarks/compiled.py's build of this checkout): then the total
alone, since `callgrind_annotate`'s list of functions for it did not add up to the total when
tried (its parts came to twice the total). The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from compiled import compiled_build
from e2e import CpuMeter, Router, prepare, push, unthrottled_table
from machine import describe
from peers import seed_cables

from router.bus.broker import Mosquitto, free_port
from router.routing.table import parse_table

ROOT = Path(__file__).resolve().parent.parent
PARTS = (
    ("SQLite", ("libsqlite3", "_sqlite3")),
    ("pydantic-core", ("_pydantic_core",)),
    ("regular expressions", ("/_sre/",)),
    ("JSON", ("_json.",)),
    ("uvloop", ("uvloop",)),
    ("C library", ("libc.so", "ld-linux")),
)
"""Where an instruction is counted, by the file or library `callgrind_annotate` names; the rest is
the interpreter running Python (CPython's own code, inlined or not)."""
_COUNTED = re.compile(r"^\s*([\d,]+) \([ \d.]+%\)\s+(.*)$")
STARTED_WITHIN = 60.0
"""Seconds the router is given to start under callgrind before the first cable."""


def instructions(count: int, first: int, build: Path | None = None) -> dict[str, int]:
    """Instructions `router run` executes from start to stop, ``count`` seed cables routed meanwhile.

    By part (`PARTS`, the interpreter, and "all"); "all" alone without `callgrind_annotate`.
    """
    table_text = unthrottled_table(window=10_000)
    cables = prepare(seed_cables(count, first), parse_table(table_text))
    with tempfile.TemporaryDirectory(prefix="router-instructions-") as directory:
        work = Path(directory)
        (work / "table.toml").write_text(table_text, encoding="utf-8")
        (work / "run").mkdir()
        counts = work / "callgrind.out"
        with Mosquitto(work / "broker", port=free_port()) as broker:
            router = Router(broker.url, work / "table.toml", work / "run", build=build)
            router.command[:0] = ["valgrind", "--quiet", "--tool=callgrind", f"--callgrind-out-file={counts}"]
            os.environ["PYTHONHASHSEED"] = "0"  # the same dictionaries, run after run
            assert broker.pid is not None
            with router:
                ready = time.monotonic() + STARTED_WITHIN
                while "listening" not in _read(router.log) and time.monotonic() < ready:
                    time.sleep(0.5)
                figures = asyncio.run(
                    push(broker.url, cables, within=1800, meter=CpuMeter(router.pid, broker.pid))
                )
            if figures["lost"]:
                raise SystemExit(f"instructions: {figures['lost']} copies lost; no count")
        found = re.search(r"^summary: (\d+)$", counts.read_text(encoding="utf-8"), re.MULTILINE)
        if found is None:
            raise SystemExit(f"instructions: callgrind wrote no summary in {counts}")
        return {"all": int(found.group(1)), **by_part(counts)}


def by_part(counts: Path) -> dict[str, int]:
    """The instructions of each part, from `callgrind_annotate`'s list of functions; none without it."""
    annotate = shutil.which("callgrind_annotate")
    if annotate is None:
        return {}
    listing = subprocess.run(  # noqa: S603 (valgrind's own script, found above)
        [annotate, "--threshold=100", str(counts)], capture_output=True, text=True, check=True
    ).stdout
    parts = dict.fromkeys([name for name, _ in PARTS] + ["the interpreter"], 0)
    for line in listing.splitlines():
        counted = _COUNTED.match(line)
        if counted is None or "PROGRAM TOTALS" in line:
            continue
        where = counted.group(2)
        part = next(
            (name for name, marks in PARTS if any(mark in where for mark in marks)), "the interpreter"
        )
        parts[part] += int(counted.group(1).replace(",", ""))
    return parts


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8") if path.exists() else ""


def main() -> None:
    """Count the instructions of two runs; print their difference a cable, the last line as JSON."""
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--cables", type=int, default=1_200, help="seed cables of the long run (1,200)")
    options.add_argument("--few", type=int, default=200, help="seed cables of the short run (200)")
    options.add_argument("--compiled", action="store_true", help="the router built with mypyc")
    args = options.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("instructions: valgrind is not installed (apt install valgrind)")
    if args.cables <= args.few:
        raise SystemExit("instructions: --cables must be more than --few")
    build = compiled_build() if args.compiled else None
    few = instructions(args.few, 0, build)
    many = instructions(args.cables, 0, build)
    per_cable = {part: (many[part] - few[part]) / (args.cables - args.few) for part in many}
    print(f"{args.few} and {args.cables} seed cables: {few['all']:,} and {many['all']:,} instructions")
    which = f"{ROOT.name}, {'compiled with mypyc' if build else 'pure Python'}"
    print(f"{per_cable['all'] / 1e6:.3f} million instructions a cable ({which})")
    parts = {part: count for part, count in per_cable.items() if part != "all" and build is None}
    for part, count in sorted(parts.items(), key=lambda item: -item[1]):
        print(f"  {100 * count / per_cable['all']:5.1f} %  {part}")
    print(
        json.dumps(
            {
                "benchmark": "instructions",
                "build": "mypyc" if build else "pure",
                "cables": [args.few, args.cables],
                "instructions": [few["all"], many["all"]],
                "instructions_per_cable": round(per_cable["all"]),
                "parts_per_cable": {part: round(count) for part, count in parts.items()},
                "machine": describe(),
            }
        )
    )


if __name__ == "__main__":
    main()
