"""Routing speed: decide() over the whole corpus on one core, cables per second.

    python benchmarks/route.py [--corpus DIR] [--routing PATH] [--rounds N]

The cables are parsed first; only the routing decisions are timed, in CPU time of this process,
best of --rounds rounds. The table's loading time is printed apart (it happens once at start-up).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import describe
from timing import cpu_rounds, per_cable, report

from router import parse_cable
from router.routing.decide import decide
from router.routing.table import DEFAULT_TABLE, load_table

DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "cables"


def main() -> None:
    """Time decide() over the parsed corpus and print the figures, the last line as JSON."""
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    options.add_argument("--routing", type=Path, default=DEFAULT_TABLE)
    options.add_argument("--rounds", type=int, default=15)
    args = options.parse_args()
    start = time.process_time()
    table = load_table(args.routing)
    load_s = time.process_time() - start
    cables = [parse_cable(path.read_bytes()) for path in sorted(args.corpus.glob("*.txt"))]
    if not cables:
        sys.exit(f"no cables in {args.corpus}")
    # A freshly loaded table each round: what it remembers of misspelt names starts empty,
    # as on a first pass over the corpus.
    rounds, delivered = cpu_rounds(
        args.rounds,
        lambda: load_table(args.routing),
        lambda table: sum(len(decide(cable, table).deliveries) for cable in cables),
    )
    best = min(rounds)
    deliveries = delivered[-1]
    result = {
        "benchmark": "route",
        "cables": len(cables),
        "deliveries": deliveries,
        **per_cable(len(cables), best),
        "table_load_s": round(load_s, 3),
        "posts": len(table.posts),
        "machine": describe(),
    }
    report(
        f"routed {len(cables)} cables into {deliveries} deliveries in {best:.3f} s of CPU: "
        f"{result['cables_per_s']} cables/s (best of {args.rounds}); table loaded in {load_s:.3f} s",
        result,
    )


if __name__ == "__main__":
    main()
