"""Instructions the router executes a cable of the peers' work: a count, not a time, to compare two commits.

    python benchmarks/instructions.py [--cables N] [--few N]

A shared machine's CPU times move by 5-10 % from one run to the next, as much as most changes to
the router's work; the number of instructions it executes hardly moves at all (a few in a
million). This runs `router run` under Valgrind's callgrind (`apt install valgrind`) on a
private Mosquitto twice, with `--few` and with `--cables` seed cables (benchmarks/peers.py's
work: 7 RIs, unthrottled lines), and prints the instructions a cable: the difference of the two
counts over the difference of the cables, which leaves the start and stop out. Under callgrind
the router runs some fifty times slower: 1,200 cables take a minute or two. Run it in each of two
checkouts to compare them (it measures the checkout it is in). The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from e2e import CpuMeter, Router, prepare, push, unthrottled_table
from machine import describe
from peers import seed_cables

from router.bus.broker import Mosquitto, free_port
from router.routing.table import parse_table

ROOT = Path(__file__).resolve().parent.parent
STARTED_WITHIN = 60.0
"""Seconds the router is given to start under callgrind before the first cable."""


def instructions(count: int, first: int) -> int:
    """Instructions `router run` executes from start to stop, ``count`` seed cables routed meanwhile."""
    table_text = unthrottled_table(window=10_000)
    cables = prepare(seed_cables(count, first), parse_table(table_text))
    with tempfile.TemporaryDirectory(prefix="router-instructions-") as directory:
        work = Path(directory)
        (work / "table.toml").write_text(table_text, encoding="utf-8")
        (work / "run").mkdir()
        counts = work / "callgrind.out"
        with Mosquitto(work / "broker", port=free_port()) as broker:
            router = Router(broker.url, work / "table.toml", work / "run")
            router.command[:0] = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={counts}"]
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
        return int(found.group(1))


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8") if path.exists() else ""


def main() -> None:
    """Count the instructions of two runs; print their difference a cable, the last line as JSON."""
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--cables", type=int, default=1_200, help="seed cables of the long run (1,200)")
    options.add_argument("--few", type=int, default=200, help="seed cables of the short run (200)")
    args = options.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("instructions: valgrind is not installed (apt install valgrind)")
    if args.cables <= args.few:
        raise SystemExit("instructions: --cables must be more than --few")
    few = instructions(args.few, 0)
    many = instructions(args.cables, 0)
    per_cable = (many - few) / (args.cables - args.few)
    print(f"{args.few} and {args.cables} seed cables: {few:,} and {many:,} instructions")
    print(f"{per_cable / 1e6:.3f} million instructions a cable ({ROOT.name})")
    print(
        json.dumps(
            {
                "benchmark": "instructions",
                "cables": [args.few, args.cables],
                "instructions": [few, many],
                "instructions_per_cable": round(per_cable),
                "machine": describe(),
            }
        )
    )


if __name__ == "__main__":
    main()
