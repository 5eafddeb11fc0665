"""Hostile sizes: seconds to parse and decide each hostile cable of the issue (a 1 MB one among them).

    python benchmarks/hostile.py [--rounds N]

The cables are those of `tests/test_hostile_sizes.py` (`tests/hostile_cables.py`): a 160 KB
addressee name, 2,500 TO and 2,499 XMT lines (97 KB, and padded to 1 MB), and a megabyte of
everything at once. Each is parsed as the switch parses (`text_fields=False`) and decided with
a freshly loaded committed table, in CPU time of this process, best of --rounds rounds. Each
must take well under a second; before the hostile-sizes work they took 9 s to minutes.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the cables are the tests'
sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import describe

from router import parse_cable
from router.routing.decide import decide
from router.routing.table import load_table
from tests.hostile_cables import CASES


def main() -> None:
    """Time parse + decide of each hostile cable and print the figures, the last line as JSON."""
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--rounds", type=int, default=3)
    args = options.parse_args()
    cases: dict[str, dict[str, object]] = {}
    for name, build in CASES.items():
        data = build().encode()
        rounds = []
        for _ in range(args.rounds):
            table = load_table()
            start = time.process_time()
            decision = decide(parse_cable(data, text_fields=False), table)
            rounds.append(time.process_time() - start)
        best = min(rounds)
        cases[name] = {
            "bytes": len(data),
            "seconds": round(best, 4),
            "deliveries": len(decision.deliveries),
            "intercepts": len(decision.intercepts),
        }
        print(f"{name:32} {len(data):>9} bytes  {best:.4f} s  (best of {args.rounds})")
    print(json.dumps({"benchmark": "hostile", "cases": cases, "machine": describe()}))


if __name__ == "__main__":
    main()
