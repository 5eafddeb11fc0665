"""How much of real traffic the routing table delivers: share of addressee lines and intercept reasons.

    python scripts/routing_coverage.py [--corpus DIR] [--routing PATH] [--top N]

An addressee line (TO or INFO, ZEN left out) counts as delivered when the decision for its cable
delivers to at least one post through it. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from router import parse_cable
from router.routing.coverage import measure
from router.routing.table import DEFAULT_TABLE, load_table

DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "cables"


def main() -> None:
    """Route every corpus cable and print the delivered share and the top intercept reasons."""
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    options.add_argument("--routing", type=Path, default=DEFAULT_TABLE)
    options.add_argument("--top", type=int, default=15)
    args = options.parse_args()
    table = load_table(args.routing)
    cables = (parse_cable(path.read_bytes()) for path in sorted(args.corpus.glob("*.txt")))
    coverage = measure(cables, table)
    print(
        f"{coverage.delivered} of {coverage.addressee_lines} addressee lines delivered "
        f"({coverage.share:.2f} %)"
    )
    print("intercepts by reason:", ", ".join(f"{r} {n}" for r, n in coverage.reasons.most_common()))
    print(f"top {args.top} unresolved addressees:")
    for name, count in coverage.unresolved.most_common(args.top):
        print(f"  {count:5d}  {name}")
    summary = {
        "addressee_lines": coverage.addressee_lines,
        "delivered": coverage.delivered,
        "share": round(coverage.share, 2),
        "intercepts": dict(coverage.reasons),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
