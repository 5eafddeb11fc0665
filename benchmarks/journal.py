"""The journal's writes alone: CPU µs a cable for what the switch writes of the seed work, SQLite included.

    python benchmarks/journal.py [--cables N] [--rounds R]

For each seed cable (benchmarks/peers.py's work: 7 RIs), the rows the switch writes in a burst of
64 cables: the cable as received, a log entry, the routing decision with its 7 deliveries, the
duplicate look-up, and the 7 copies sent at once on unthrottled lines; one commit a burst, into a
journal in a temporary folder. Printed: CPU µs a cable of this process (SQLite's own work is in
it: it lets the interpreter go, so py-spy's ``--gil`` profile does not see it), best of the
rounds. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import describe
from peers import seed_cables

from router.cable.models import Precedence
from router.journal.store import Journal
from router.journal.writes import Logged, Received, Routed, SentAtOnce
from router.routing.decide import Delivery

BURST = 64
"""Cables a transaction, as the switch's bursts."""
POSTS = ("RUEHC", "RUEHBJ", "RUEHUL", "RHHMUNA", "RUEAIIA", "RHEHAAA", "RHMFISS")
"""The seed cable's seven RIs."""


def one_round(count: int) -> float:
    """CPU µs a cable of writing ``count`` seed cables' rows."""
    cables = seed_cables(count, 0)
    with tempfile.TemporaryDirectory(prefix="router-journal-") as folder:
        journal = Journal(Path(folder) / "journal.sqlite")
        delivery = 0
        started = time.process_time()
        for first in range(0, count, BURST):
            with journal.transaction():
                for cable_id, (name, raw) in enumerate(cables[first : first + BURST], start=first + 1):
                    message_id = f"RUEHKO-{cable_id}"
                    journal.apply([Received(cable_id, f"cables/in/{name}", raw)])
                    journal.is_duplicate(message_id)
                    deliveries = tuple(
                        Delivery(post, Precedence.IMMEDIATE, "action", niact=False, via="direct", lines=(9,))
                        for post in POSTS
                    )
                    event = json.dumps({"event": "routed", "message_id": message_id})
                    journal.apply(
                        [
                            Logged("routed", event),
                            Routed(cable_id, message_id, delivery + 1, deliveries, (), ()),
                        ]
                    )
                    sent = [
                        SentAtOnce(
                            delivery + n, post, post[-3:], cable_id % 9999 + 1, "first", 2500, 1.0, 1.0
                        )
                        for n, post in enumerate(POSTS, start=1)
                    ]
                    journal.apply(sent)
                    delivery += len(POSTS)
        used = time.process_time() - started
        journal.close()
    return 1e6 * used / count


def main() -> None:
    """Rounds of the seed work's rows; the best, the last line as JSON."""
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--cables", type=int, default=6_400, help="seed cables a round (default 6,400)")
    options.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    args = options.parse_args()
    rounds = [round(one_round(args.cables), 1) for _ in range(args.rounds)]
    print(f"{args.cables} seed cables' rows: {min(rounds)} µs of CPU a cable (rounds: {rounds})")
    print(
        json.dumps(
            {
                "benchmark": "journal",
                "cables": args.cables,
                "cpu_us_per_cable": min(rounds),
                "rounds": rounds,
                "machine": describe(),
            }
        )
    )


if __name__ == "__main__":
    main()
