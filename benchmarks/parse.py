"""Parsing speed: cables per second over the whole corpus on one core.

    python benchmarks/parse.py [--corpus DIR] [--rounds N]

Reads every cable into memory first, then times `parse_cable` over all of them, `--rounds`
times, and reports the best round (the least disturbed by the rest of the machine). CPU time
of this process is measured, so a busy second core does not count against the parser. The
parser's cache of address lines is emptied before each round.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import describe
from timing import cpu_rounds, per_cable, report

from router import parse_cable
from router.cable.addressee import parse_addressee_line

DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "cables"


def main() -> None:
    """Time the parser over the corpus and print the figures, the last line as JSON."""
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    options.add_argument("--rounds", type=int, default=15)
    args = options.parse_args()
    cables = [path.read_bytes() for path in sorted(args.corpus.glob("*.txt"))]
    if not cables:
        sys.exit(f"no cables in {args.corpus}")
    # Each round starts cold, as a first pass over the corpus would: only the repetition
    # within the corpus itself (the same posts addressed again and again) may be cached.
    rounds, _ = cpu_rounds(args.rounds, parse_addressee_line.cache_clear, lambda _: _parse_all(cables))
    best = min(rounds)
    result = {
        "benchmark": "parse",
        "cables": len(cables),
        "megabytes": round(sum(map(len, cables)) / 1e6, 1),
        **per_cable(len(cables), best),
        "median_round_cables_per_s": round(len(cables) / sorted(rounds)[len(rounds) // 2]),
        "machine": describe(),
    }
    report(
        f"parsed {result['cables']} cables ({result['megabytes']} MB) in {best:.3f} s of CPU: "
        f"{result['cables_per_s']} cables/s, {result['us_per_cable']} us/cable (best of {args.rounds})",
        result,
    )


def _parse_all(cables: list[bytes]) -> None:
    for data in cables:
        parse_cable(data)


if __name__ == "__main__":
    main()
