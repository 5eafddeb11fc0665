"""The switch alone: `Router` in this process on the in-memory bus, CPU time a cable, no MQTT, no broker.

    python benchmarks/switch.py [--cables N] [--receipts] [--rounds R]

The work of benchmarks/peers.py (the seed cable to 7 RIs, its serial changed each time) published
on the in-memory bus (`router.bus.memory`) to a `Router` with a journal in a temporary folder, the
committed table on unthrottled lines and the routing log to a file; a subscriber takes every copy
(and, with ``--receipts``, receipts it as a post does). Printed: CPU ms a cable of this process
(switch, journal, log, the memory bus and the subscriber), best of the rounds. What a change to
the switch's own work gives, without the broker and the MQTT client around it. The last line is
one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from e2e import receipt_of, unthrottled_table
from machine import describe
from peers import seed_cables

from router.bus.memory import MemoryBroker
from router.journal.store import Journal
from router.log import configure_logging
from router.routing.table import parse_table
from router.switch.service import Router

FANOUT = 7
"""Copies of each seed cable."""


async def one_round(count: int, *, receipts: bool, first: int) -> float:
    """CPU ms a cable of pushing ``count`` seed cables through a router in this process."""
    with tempfile.TemporaryDirectory(prefix="router-switch-") as folder:
        work = Path(folder)
        stream = configure_logging(work / "router.log")
        broker = MemoryBroker()
        post, publisher = broker.connect(max_queued=10**7), broker.connect(max_queued=10**7)
        await post.subscribe("cables/out/+")
        journal = Journal(work / "journal.sqlite")
        router = Router(
            broker.connect(max_queued=10**7), journal, parse_table(unthrottled_table(window=10_000))
        )
        stop = asyncio.Event()
        running = asyncio.create_task(router.run(stop))
        await router.ready.wait()
        cables = seed_cables(count, first)

        async def take() -> None:
            got = 0
            async for message in post.messages():
                got += 1
                if receipts and (answer := receipt_of(message.payload)) is not None:
                    await post.publish(message.topic.replace("/out/", "/ack/"), answer)
                if got == FANOUT * count:
                    return

        taking = asyncio.create_task(take())
        started = time.process_time()
        for number, (name, raw) in enumerate(cables):
            await publisher.publish(f"cables/in/{name}", raw)
            if number % 64 == 0:
                await asyncio.sleep(0)
        await asyncio.wait_for(taking, 300)
        while receipts and router.counts["acknowledged"] < FANOUT * count:  # noqa: ASYNC110 (a count, no event)
            await asyncio.sleep(0.01)
        used = time.process_time() - started
        stop.set()
        await running
        journal.close()
        stream.close()
    return 1000 * used / count


def main() -> None:
    """Rounds of the seed work through the switch; the best, the last line as JSON."""
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--cables", type=int, default=3_000, help="seed cables a round (default 3,000)")
    options.add_argument("--receipts", action="store_true", help="every copy receipted, as posts do")
    options.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    args = options.parse_args()
    rounds = [
        round(asyncio.run(one_round(args.cables, receipts=args.receipts, first=n * args.cables)), 3)
        for n in range(args.rounds)
    ]
    receipted = ", every copy receipted" if args.receipts else ""
    print(f"{args.cables} seed cables{receipted}: {min(rounds)} ms of CPU a cable (rounds: {rounds})")
    print(
        json.dumps(
            {
                "benchmark": "switch",
                "cables": args.cables,
                "receipts": args.receipts,
                "cpu_ms_per_cable": min(rounds),
                "rounds": rounds,
                "machine": describe(),
            }
        )
    )


if __name__ == "__main__":
    main()
