"""The journal's writes alone: CPU µs a cable for what the switch writes of the seed work, SQLite included.

    python benchmarks/journal.py [--cables N] [--rounds R] [--journal postgresql://...] [--statements]
                                 [--inline-checkpoints]

For each seed cable (benchmarks/peers.py's work: 7 RIs), the rows the switch writes in a burst of
64 cables: the cable as received, a log entry, the routing decision with its 7 deliveries, the
duplicate look-up, and the 7 copies sent at once on unthrottled lines; one commit a burst, into a
journal in a temporary folder, its checkpoints made on a thread of their own as `router run` makes
them (`router.journal.checkpoints`; ``--inline-checkpoints``: by SQLite in the commits, as before).
Printed, best of the rounds: CPU µs a cable of the switch's thread (SQLite's own work is in it: it
lets the interpreter go, so py-spy's ``--gil`` profile does not see it), of the whole process (the
checkpoints' thread too), and wall-clock µs a cable of the switch's thread (its waits on the disk
included). The last line is one JSON object.

With ``--journal postgresql://...`` the rows go to PostgreSQL instead, each round into a schema of
its own in that database (made, then dropped); the server's work is not this process's, so the
wall-clock µs a cable is printed too.

``--statements``: one more round (SQLite) with each statement timed, CPU µs a cable by the
statement's first words (the burst's COMMIT, the deliveries' and transmissions' INSERTs, ...),
biggest first: where the journal's time goes. Timing each statement costs a little of its own.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import tempfile
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import describe
from peers import seed_cables

from router.cable.models import Precedence
from router.journal.checkpoints import checkpoints_aside
from router.journal.store import Journal
from router.journal.writes import Logged, Received, Routed, SentAtOnce
from router.routing.decide import Delivery

if TYPE_CHECKING:
    from collections.abc import Iterator

SCHEMAS = itertools.count(1)
BURST = 64
"""Cables a transaction, as the switch's bursts."""
POSTS = ("RUEHC", "RUEHBJ", "RUEHUL", "RHHMUNA", "RUEAIIA", "RHEHAAA", "RHMFISS")
"""The seed cable's seven RIs."""


@contextmanager
def fresh_journal(url: str | None, *, aside: bool = True) -> Iterator[Journal]:
    """An empty journal: an SQLite file in a temporary folder, or a fresh schema at ``url``.

    ``aside``: an SQLite journal's checkpoints made on their own thread, as `router run` makes them.
    """
    if url is None:
        with tempfile.TemporaryDirectory(prefix="router-journal-") as folder:
            journal = Journal(Path(folder) / "journal.sqlite")
            with checkpoints_aside(journal) if aside else nullcontext():
                yield journal
            journal.close()
        return
    import psycopg  # noqa: PLC0415 (only for PostgreSQL)

    schema = f"router_bench_{os.getpid()}_{next(SCHEMAS)}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
        try:
            journal = Journal(f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}")
            yield journal
            journal.close()
        finally:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")


class _TimedConnection:
    """A connection that adds each statement's CPU time (its thread's) to ``spent``, by its first words."""

    def __init__(self, db: Any, spent: dict[str, float]) -> None:
        self._db = db
        self._spent = spent

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)

    def _timed(self, method: str, sql: str, parameters: Any) -> Any:
        started = time.thread_time()
        try:
            return getattr(self._db, method)(sql, parameters)
        finally:
            kind = " ".join(sql.split("(", maxsplit=1)[0].split()[:4])
            self._spent[kind] = self._spent.get(kind, 0.0) + time.thread_time() - started

    def execute(self, sql: str, parameters: Any = (), /) -> Any:
        return self._timed("execute", sql, parameters)

    def executemany(self, sql: str, parameters: Any, /) -> Any:
        return self._timed("executemany", sql, parameters)


class Spent(NamedTuple):
    """µs a cable of one round."""

    cpu: float
    """CPU of the switch's thread."""
    process: float
    """CPU of the whole process."""
    wall: float
    """Wall-clock of the switch's thread."""


def one_round(
    count: int, url: str | None = None, spent: dict[str, float] | None = None, *, aside: bool = True
) -> Spent:
    """µs a cable of writing ``count`` seed cables' rows (``spent``: CPU by statement)."""
    cables = seed_cables(count, 0)
    with fresh_journal(url, aside=aside) as journal:
        if spent is not None:
            journal._db = _TimedConnection(journal._db, spent)  # noqa: SLF001 (this benchmark's probe)
        delivery = 0
        started, process, wall = time.thread_time(), time.process_time(), time.perf_counter()
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
        used = (time.thread_time() - started, time.process_time() - process, time.perf_counter() - wall)
    return Spent(*(round(1e6 * seconds / count, 1) for seconds in used))


def statements(count: int) -> dict[str, float]:
    """CPU µs a cable of each kind of statement, in a round of ``count`` seed cables (SQLite)."""
    spent: dict[str, float] = {}
    one_round(count, spent=spent)
    biggest_first = sorted(spent.items(), key=lambda item: -item[1])
    return {kind: round(1e6 * seconds / count, 1) for kind, seconds in biggest_first}


def main() -> None:
    """Rounds of the seed work's rows; the best, the last line as JSON."""
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--cables", type=int, default=6_400, help="seed cables a round (default 6,400)")
    options.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    options.add_argument("--journal", help="a postgresql:// URL: write there (default: an SQLite file)")
    options.add_argument("--statements", action="store_true", help="then each statement timed (SQLite)")
    options.add_argument(
        "--inline-checkpoints", action="store_true", help="SQLite's checkpoints in the commits, as before"
    )
    args = options.parse_args()
    aside = not args.inline_checkpoints
    measured = [one_round(args.cables, args.journal, aside=aside) for _ in range(args.rounds)]
    rounds, processes, walls = ([getattr(m, part) for m in measured] for part in Spent._fields)
    where = "SQLite" if args.journal is None else "PostgreSQL"
    if args.journal is None:
        where += ", checkpoints aside" if aside else ", checkpoints in the commits"
    print(
        f"{args.cables} seed cables' rows ({where}): {min(rounds)} µs of the switch's thread's CPU a"
        f" cable (rounds: {rounds}), {min(processes)} of the process's, {min(walls)} wall-clock"
        f" (rounds: {walls})"
    )
    result: dict[str, object] = {
        "benchmark": "journal",
        "cables": args.cables,
        "checkpoints": "aside" if aside else "inline",
        "cpu_us_per_cable": min(rounds),
        "rounds": rounds,
        "process_cpu_us_per_cable": min(processes),
        "wall_us_per_cable": min(walls),
        "wall_rounds": walls,
        "machine": describe(),
    }
    if args.journal is not None:
        result["journal"] = "postgresql"  # the server's work is in the wall-clock figure
    if args.statements:
        result["statements_us_per_cable"] = kinds = statements(args.cables)
        print("each statement, CPU µs a cable (one more round, timed statement by statement):")
        for kind, spent in kinds.items():
            print(f"  {spent:6.1f}  {kind}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
