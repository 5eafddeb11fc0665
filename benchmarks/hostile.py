"""Hostile sizes: seconds to parse and decide each hostile cable of the issue (a 1 MB one among them).

    python benchmarks/hostile.py [--rounds N]

The cables are those of `tests/test_hostile_sizes.py` (`tests/hostile_cables.py`): a 160 KB
addressee name, 2,500 TO and 2,499 XMT lines (97 KB, and padded to 1 MB), and a megabyte of
everything at once. Each is parsed as the switch parses (`text_fields=False`) and decided with
a freshly loaded committed table, in CPU time of this process, best of --rounds rounds. Each
must take well under a second; before the hostile-sizes work they took 9 s to minutes.

Then what one does to a FLASH behind it: a router in this process (the in-memory bus, a journal
in a temporary folder, the committed table on unthrottled lines) is given the hostile cable and,
at once after it, a FLASH for Paris; the FLASH's wait from its publish to its copy at the post, in
host time, against the same FLASH alone (`flash_behind_ms`, `flash_alone_ms`); and the worst wait
of a FLASH published 10, 20, ... 300 ms after the hostile cable (`flash_worst_ms`), whenever in its
handling that falls. A big cable is read and decided off the switch's loop
(`router.switch.arrivals`), so the FLASH waits only for the part of the switch's work that is not.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the cables are the tests'
sys.path.insert(0, str(Path(__file__).resolve().parent))

import structlog
from machine import describe

from router import parse_cable
from router.bus.memory import MemoryBroker
from router.journal.store import Journal
from router.routing.decide import decide
from router.routing.table import DEFAULT_TABLE, RoutingTable, load_table, parse_table
from router.switch.service import Router
from tests.hostile_cables import CASES

FLASH = (
    b"VZCZCXYZ0002\nZZ RUEHWEB\nDE RUEHRO #0002 0011200\nZNR UUUUU ZZH\nZ 011200Z JAN 09\n"
    b"FM AMEMBASSY ROME\nTO AMEMBASSY PARIS\n\nUNCLAS ROME 000002\n\nSUBJECT: A FLASH\n"
)


LATER = tuple(i / 100 for i in range(1, 31))
"""Seconds after the hostile cable the FLASH is published, to find its worst moment (10 ms to 300 ms)."""


def unthrottled() -> RoutingTable:
    """The committed table with every line unthrottled and a wide window: only the switch's own time."""
    text = DEFAULT_TABLE.read_text(encoding="utf-8")
    return parse_table(re.sub(r"baud = 75\nwindow = 4", "baud = 0\nwindow = 10000", text, count=1))


async def flash_wait(table: RoutingTable, before: bytes | None, after: float = 0.0) -> float:
    """Host seconds from a FLASH's publish to its copy at Paris, ``after`` seconds behind ``before``."""
    broker = MemoryBroker()
    post, publisher = broker.connect(), broker.connect()
    await post.subscribe("cables/out/RUEHFR")
    with tempfile.TemporaryDirectory() as folder:
        journal = Journal(Path(folder) / "journal.sqlite")
        router = Router(broker.connect(max_queued=100_000), journal, table, publish_log=False)
        stop = asyncio.Event()
        running = asyncio.create_task(router.run(stop))
        await router.ready.wait()
        if before is not None:
            await publisher.publish("cables/in/hostile", before)
            await asyncio.sleep(after)
        sent = time.perf_counter()
        await publisher.publish("cables/in/flash", FLASH)
        async with asyncio.timeout(60):
            async for message in post.messages():
                if b"SUBJECT: A FLASH" in message.payload:
                    break
        waited = time.perf_counter() - sent
        stop.set()
        await running
        journal.close()
    return waited


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
    # The routing log of thousands of intercepts would time the terminal, not the switch.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    table = unthrottled()
    alone = min(asyncio.run(flash_wait(table, None)) for _ in range(args.rounds))
    print(f"{'a FLASH alone':32} {alone * 1000:9.1f} ms from publish to post")
    for name, build in CASES.items():
        behind = min(asyncio.run(flash_wait(table, build().encode())) for _ in range(args.rounds))
        cases[name]["flash_behind_ms"] = round(behind * 1000, 1)
        print(f"{'a FLASH behind ' + name:32} {behind * 1000:9.1f} ms from publish to post")
        # Not only right behind: whenever it comes while the hostile cable is in the switch.
        waits = {after: asyncio.run(flash_wait(table, build().encode(), after)) for after in LATER}
        worst = max(waits, key=waits.__getitem__)
        cases[name]["flash_worst_ms"] = round(waits[worst] * 1000, 1)
        cases[name]["flash_worst_after_ms"] = round(worst * 1000)
        print(
            f"{'  the worst of ' + str(len(LATER)) + ' moments later':32} {waits[worst] * 1000:9.1f} ms"
            f" (published {worst * 1000:.0f} ms after it)"
        )
    summary = {"benchmark": "hostile", "flash_alone_ms": round(alone * 1000, 1), "cases": cases}
    print(json.dumps({**summary, "machine": describe()}))


if __name__ == "__main__":
    main()
