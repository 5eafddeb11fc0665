"""A network of switching centres, one process each, unthrottled: end-to-end cables/s, copies/s, per hop.

    python benchmarks/network.py [--cables N] [--cluster]

It starts everything itself and stops by itself: the private broker of `benchmarks/peers.py`, one
`router run --centre NAME` for each centre of the committed network (`config/network.toml`, every
trunk unthrottled with a window of 10,000; the committed routing table, every line unthrottled),
and `mosquitto_sub` counting every copy at the posts. The work: N distinct copies of the seed cable
(Tokyo 1571: seven RIs; three served by BELTSVILLE itself, three by DETRICK one trunk away, one
by WAHIAWA two trunks away, by DETRICK as the doctrine has it), filed at BELTSVILLE, its
originating centre (RUEHKO is State's). Printed: the wall time from
the first publish to the last copy, cables/s and copies/s end to end, lost copies, each centre's
CPU a cable, and each trunk's copies with their time from queued to sent and to receipted (the
journals' network time, p50 and p99). The last line is one JSON object. With ``--cluster``, the
bus is a private three-node NATS cluster instead (MQTT 3.1.1; `tests/nats.py` starts it, as the
tests do): each centre is given every node's URL, the copies are counted on the first node, the
cables filed on the second.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import deque
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))  # tests.nats: the cluster the tests start

from e2e import PUBLISH_IN_FLIGHT, CopyCounter, Router, cpu_seconds, unthrottled_table
from machine import describe
from peers import FANOUT, Broker, seed_cables

from router.bus import topics
from router.bus.mqtt import BrokerAddress, MqttBus
from router.bus.security import OWNER
from router.routing.network_description import DEFAULT_NETWORK, load_network
from tests.nats import NatsCluster

if TYPE_CHECKING:
    from collections.abc import Iterator

ORIGIN = "BELTSVILLE"
"""The seed cable's originating centre: RUEHKO (Tokyo) is State's, served there."""


def unthrottled_network(window: int) -> str:
    """The committed network with every trunk unthrottled and the given window."""
    text = DEFAULT_NETWORK.read_text(encoding="utf-8")
    return re.sub(r"^baud = \d+$", f"baud = 0\nwindow = {window}", text, flags=re.MULTILINE)


def _folder(path: Path) -> Path:
    """``path``, made: a centre's own work folder (its journal and log)."""
    path.mkdir()
    return path


def trunk_times(journal: Path, neighbours: set[str]) -> dict[str, dict[str, float]]:
    """Each trunk's copies out of ``journal``: how many, and queued→sent, queued→receipted (ms, p50/p99)."""
    found: dict[str, dict[str, float]] = {}
    with sqlite3.connect(f"file:{journal}?mode=ro", uri=True) as db:
        for post in sorted(neighbours):
            rows = db.execute(
                "SELECT delivered_at - queued_at, acknowledged_at - queued_at FROM deliveries WHERE post = ?",
                (post,),
            ).fetchall()
            if not rows:
                continue
            sent = sorted(1000 * s for s, _ in rows if s is not None)
            receipted = sorted(1000 * r for _, r in rows if r is not None)
            found[post] = {
                "copies": len(rows),
                **_percentiles("sent", sent),
                **_percentiles("receipted", receipted),
            }
    return found


def _percentiles(name: str, values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    p99 = values[min(len(values) - 1, round(0.99 * (len(values) - 1)))]
    return {f"{name}_ms_p50": round(statistics.median(values), 1), f"{name}_ms_p99": round(p99, 1)}


async def publish(url: str, cables: list[tuple[str, bytes]]) -> float:
    """File every cable at the originating centre, 256 PUBACKs outstanding at most; the first's time."""
    async with MqttBus(BrokerAddress.parse(url), client_id=f"publisher-{time.monotonic_ns()}") as bus:
        first = time.time()
        pending: deque[asyncio.Future[None]] = deque()
        for name, raw in cables:
            pending.append(bus.send(topics.centre_intake(ORIGIN, name), raw))
            if len(pending) > PUBLISH_IN_FLIGHT:
                await pending.popleft()
        await asyncio.gather(*pending)
        return first


@contextmanager
def bus(folder: Path, *, cluster: bool) -> Iterator[tuple[str, str, str]]:
    """The bus: the URL the centres get, the one the copies are counted on, the one cables are filed on."""
    if not cluster:
        with Broker(folder) as broker:
            yield broker.url, broker.url, broker.url
        return
    with NatsCluster(folder) as nodes:
        yield nodes.url(user=OWNER), nodes.url(0, user=OWNER), nodes.url(1, user=OWNER)


def main() -> None:
    """Push the seed work through the network; print the figures, the last line as JSON."""
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--cables", type=int, default=2_000, help="seed cables (default 2,000)")
    options.add_argument("--cluster", action="store_true", help="on a private three-node NATS cluster")
    args = options.parse_args()
    network = load_network(DEFAULT_NETWORK)
    with tempfile.TemporaryDirectory(prefix="router-network-") as directory:
        work = Path(directory)
        (work / "table.toml").write_text(unthrottled_table(window=10_000), encoding="utf-8")
        (work / "network.toml").write_text(unthrottled_network(window=10_000), encoding="utf-8")
        cables = seed_cables(args.cables, 0)
        expected = FANOUT * len(cables)
        with (
            bus(work / "broker", cluster=args.cluster) as (url, counted_on, filed_on),
            ExitStack() as running,
        ):
            centres = {
                name: running.enter_context(
                    Router(
                        url,
                        work / "table.toml",
                        _folder(work / name),
                        options=("--centre", name, "--network", str(work / "network.toml")),
                        client_id=None,  # each centre its own session, router-NAME
                    )
                )
                for name in network.centres
            }
            counter = CopyCounter(counted_on, expected)
            before = {name: cpu_seconds(c.pid) for name, c in centres.items()}
            first = asyncio.run(publish(filed_on, cables))
            counter.done.wait(300)
            counter.stop()
            used = {name: cpu_seconds(c.pid) - before[name] for name, c in centres.items()}
        trunks = {name: trunk_times(c.journal, set(network.neighbours(name))) for name, c in centres.items()}
    seconds = max(counter.last - first, 1e-9)
    results = {
        "benchmark": "network",
        "bus": "NATS cluster, 3 nodes" if args.cluster else "Mosquitto",
        "cables": len(cables),
        "copies": counter.count,
        "expected_copies": expected,
        "lost": max(0, expected - counter.count),
        "seconds": round(seconds, 3),
        "cables_per_s": round(len(cables) / seconds),
        "copies_per_s": round(counter.count / seconds),
        "cpu_ms_per_cable": {name: round(1000 * cpu / len(cables), 3) for name, cpu in used.items()},
        "trunks": {name: found for name, found in trunks.items() if found},
        "machine": describe(),
    }
    print(
        f"{len(cables):,} cables filed at {ORIGIN}: {counter.count:,} copies of {expected:,} at the posts in "
        f"{seconds:.1f} s ({results['cables_per_s']:,} cables/s, {results['copies_per_s']:,} copies/s)"
    )
    for name, found in trunks.items():
        for neighbour, figures in found.items():
            print(f"  {name} -> {neighbour}: {json.dumps(figures)}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
