"""A whole archive through the router: the pool's real cables, cycled with new identities, unthrottled.

    python benchmarks/archive.py [--cables N] [--compiled]     # default 250,000

It starts everything itself and stops by itself: the private broker of `benchmarks/peers.py`,
`router run` on the committed routing table with unthrottled lines, `mosquitto_sub` counting every
copy, and the posts receipting every copy they get (a process of their own, `--posts`): a post's
window holds 10,000 copies not yet receipted, and the pool sends a quarter of a million to the
Department alone, so posts that never receipt would stop their lines.

The cables are the 12,985 of `../shared/corpus/pool.jsonl.gz` over and over, each pass with
new message identities (the DE line's filing day moved on one day a pass; a cable with no DE line,
identified by a digest of its text, gets a last line naming the pass), so that the router routes
them all rather than filing them as duplicates; the copies each should make are worked out
beforehand with the router's own parser and routing decisions. Printed: wall time from the first
publish to the last copy, cables/s, copies lost, and the router's resident memory every 10 s (RSS
flat means the switch keeps no more per cable than its bounded caches). The last line is one JSON
object. ``--compiled``: the router built with mypyc (`ROUTER_MYPYC=1`, as benchmarks/compiled.py
builds it, once, into a cache folder).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import Self

sys.path.insert(0, str(Path(__file__).resolve().parent))

from compiled import compiled_build
from e2e import POOL, Cable, CopyCounter, Router, noticed, publish_all, receipt_of, rss_kb, unthrottled_table
from machine import describe
from peers import Broker

from router import parse_cable
from router.bus.mqtt import BrokerAddress, MqttBus
from router.errors import CableParseError
from router.routing.decide import decide
from router.routing.table import RoutingTable, parse_table
from router.sim.replay import replay_schedule

_FILING_DAY = re.compile(
    rb"^(DE\s+[A-Z]{4,7}\s+(?:#\s*)?\d{1,5}[A-Z]?(?:/\d{1,3})?\s+)(\d{3})(\d{4}\b)", re.MULTILINE
)
RSS_EVERY = 10.0
"""Seconds between two readings of the router's resident memory."""
RECEIPTS_IN_FLIGHT = 4096
"""Receipts the posts have sent without the broker's PUBACK, at most."""


def pool() -> list[tuple[str, bytes]]:
    """The pool's cables, in date order."""
    return [(s.name, s.raw) for s in replay_schedule([POOL], speedup=None)]


def renamed(raw: bytes, number: int) -> bytes:
    """The cable with a message identity of pass ``number`` (0: as it is)."""
    if not number:
        return raw
    moved, found = _FILING_DAY.subn(
        lambda m: m[1] + b"%03d" % ((int(m[2]) - 1 + number) % 366 + 1) + m[3], raw, count=1
    )
    return moved if found else raw.rstrip(b"\n") + b"\n(ARCHIVE PASS %d)\n" % number


def archive(cables: list[tuple[str, bytes]], count: int) -> Iterator[tuple[str, bytes]]:
    """``count`` cables: the pool over and over, a pass at a time, each with new identities."""
    for index in range(count):
        number, position = divmod(index, len(cables))
        name, raw = cables[position]
        yield f"{name}-{number}", renamed(raw, number)


def copies(cables: list[tuple[str, bytes]], count: int, table: RoutingTable) -> int:
    """The copies the router will make of the archive: its decisions, duplicates making none."""
    seen: set[str] = set()
    total = 0
    for _, raw in archive(cables, count):
        try:
            cable = parse_cable(raw, text_fields=False)
        except CableParseError:
            continue
        if cable.message_id in seen:
            total += len(noticed(cable.message_id, table))  # the router tells its station (§428a)
            continue
        seen.add(cable.message_id)
        total += len(decide(cable, table).deliveries)
    return total


class Memory:
    """The router's resident memory, read every `RSS_EVERY` seconds on a thread of its own."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.readings: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _read(self) -> None:
        start = time.monotonic()
        while True:
            rss, _ = rss_kb(self.pid)
            self.readings.append((round(time.monotonic() - start, 1), round(rss / 1024, 1)))
            if self._stop.wait(RSS_EVERY):
                return


async def receipt_every_copy(url: str) -> None:
    """Be every post: receipt each copy as it comes (§151b: ``R`` + FL2's prosign letter + FL1's serial).

    A service message or a cancellation is not receipted (`router.network.channel.read_copy`).
    Runs until killed; prints how many it receipted each 10 s.
    """
    async with MqttBus(BrokerAddress.parse(url), client_id=f"posts-{time.monotonic_ns()}") as bus:
        await bus.subscribe("cables/out/+", qos=1)
        pending: deque[asyncio.Future[None]] = deque()
        receipted, told = 0, time.monotonic()
        async for message in bus.messages():
            answer = receipt_of(message.payload)
            if answer is None:
                continue
            pending.append(bus.send(message.topic.replace("/out/", "/ack/"), answer))
            if len(pending) > RECEIPTS_IN_FLIGHT:
                await pending.popleft()
            receipted += 1
            if time.monotonic() - told > RSS_EVERY:
                print(f"posts: {receipted:,} copies receipted", flush=True)
                told = time.monotonic()


class Posts:
    """`receipt_every_copy` in a process of its own (this script with ``--posts URL``)."""

    def __init__(self, url: str) -> None:
        self.process = subprocess.Popen([sys.executable, __file__, "--posts", url])  # noqa: S603

    def __enter__(self) -> Self:
        time.sleep(1.0)  # subscribed before anything is published
        return self

    def __exit__(self, *_: object) -> None:
        self.process.terminate()
        self.process.wait(10)


async def publish(url: str, cables: list[tuple[str, bytes]], count: int) -> float:
    """Publish the archive a pass at a time (a pass in memory at once); the time of the first publish."""
    first = None
    async with MqttBus(BrokerAddress.parse(url), client_id=f"publisher-{time.monotonic_ns()}") as bus:
        batch: list[Cable] = []
        for name, raw in archive(cables, count):
            batch.append(Cable(name, raw, None, "-", []))
            if len(batch) == len(cables):
                started = await publish_all(bus, batch, {})
                first = first or started
                batch = []
        if batch:
            started = await publish_all(bus, batch, {})
            first = first or started
    assert first is not None
    return first


def main() -> None:
    """Push the archive through the router; print the figures, the last line as JSON."""
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--cables", type=int, default=250_000, help="cables to push (default 250,000)")
    options.add_argument("--posts", metavar="URL", help=argparse.SUPPRESS)  # the receipting posts
    options.add_argument("--compiled", action="store_true", help="the router built with mypyc")
    args = options.parse_args()
    if args.posts:
        with suppress(KeyboardInterrupt):
            asyncio.run(receipt_every_copy(args.posts))
        return
    if not POOL.exists():
        raise SystemExit(f"{POOL} is missing: the archive is made of its cables")
    cables = pool()
    build = compiled_build() if args.compiled else None
    with tempfile.TemporaryDirectory(prefix="router-archive-") as directory:
        work = Path(directory)
        table_path = work / "table.toml"
        table_path.write_text(unthrottled_table(window=10_000), encoding="utf-8")
        print(f"working out the copies of {args.cables:,} cables ...", flush=True)
        expected = copies(cables, args.cables, parse_table(table_path.read_text(encoding="utf-8")))
        print(f"{args.cables:,} cables, {expected:,} copies expected", flush=True)
        (work / "run").mkdir()
        with (
            Broker(work / "broker") as broker,
            Router(broker.url, table_path, work / "run", build=build) as router,
            Posts(broker.url),
        ):
            counter = CopyCounter(broker.url, expected)
            with Memory(router.pid) as memory:
                first = asyncio.run(publish(broker.url, cables, args.cables))
                print(f"published in {time.time() - first:.0f} s; waiting for the copies", flush=True)
                counter.done.wait(1800)
            counter.stop()
            journal_mb = (work / "run" / "journal.sqlite").stat().st_size / 1e6
    seconds = max(counter.last - first, 1e-9)
    rss = [mb for _, mb in memory.readings]
    half = rss[len(rss) // 2 :] or rss
    results = {
        "benchmark": "archive",
        "build": "mypyc" if build else "pure",
        "cables": args.cables,
        "copies": counter.count,
        "expected_copies": expected,
        "lost": max(0, expected - counter.count),
        "seconds": round(seconds, 1),
        "cables_per_s": round(args.cables / seconds),
        "rss_mb_start": rss[0],
        "rss_mb_peak": max(rss),
        "rss_mb_end": rss[-1],
        "rss_mb_growth_second_half": round(half[-1] - half[0], 1),
        "rss_mb_readings": memory.readings,
        "journal_mb": round(journal_mb),
        "machine": describe(),
    }
    print(
        f"{args.cables:,} cables in {seconds:.0f} s ({results['cables_per_s']:,} cables/s), "
        f"{counter.count:,} copies of {expected:,}; router RSS {rss[0]} MB at the start, "
        f"{max(rss)} MB at most, {rss[-1]} MB at the end; journal {journal_mb:.0f} MB"
    )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
