"""How long a centre of the committed network takes to start on a NATS cluster, logged in as itself.

    python benchmarks/centre_startup.py [--centre NAME] [--within S]

It starts everything itself and stops by itself: the private three-node NATS cluster the tests
start (`tests/nats.py`: MQTT, JetStream with three replicas, the users and grants of the committed
routing table's posts and of the committed network's centres), then `router run --centre NAME`
(DETRICK by default: 826 posts) on its nodes as ``centre-NAME``, whose grants are its own posts'
topics only. NATS refuses it the wide filters (``cables/ack/+``: past its grants), so the centre
subscribes to each of its posts' four topics one by one; NATS makes a JetStream consumer for each
QoS 1 subscription. Printed: whether the centre listened within ``--within`` seconds (default
120) and after how long, the consumers NATS made meanwhile (its log's ``new consumer leader``
lines), and the first subscription it refused, if one was. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))  # tests.nats: the cluster the tests start

from machine import describe

from router.bus.security import centre_user
from router.routing.network_description import load_network
from router.routing.table import load_table
from tests.nats import NatsCluster

ROOT = Path(__file__).resolve().parent.parent
_REFUSED = re.compile(r"the broker refused the subscription to (\S+): ([^\"]*)")


async def start(cluster: NatsCluster, name: str, work: Path, within: float) -> dict[str, object]:
    """`router run --centre NAME` as centre-NAME on every node: when it listened, or what stopped it."""
    log = work / "router.log"
    user = centre_user(name)
    began = time.monotonic()
    with log.open("ab") as stderr:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "router", "run", "--centre", name,
            "--broker", cluster.url(user=None), "--username", user,
            "--password-file", str(cluster.password_file(user)),
            "--journal", str(work / "journal.sqlite"),
            cwd=work, stderr=stderr, env={**os.environ, "ROUTER_STATUS_EVERY": "3600"},
        )  # fmt: skip
    listened_after = None
    try:
        async with asyncio.timeout(within):
            while b'"listening"' not in log.read_bytes():  # noqa: ASYNC110 (another process's)
                await asyncio.sleep(0.2)
            listened_after = round(time.monotonic() - began, 1)
    except TimeoutError:
        pass
    finally:
        process.kill()
        await process.wait()
    text = log.read_text(encoding="utf-8")
    refused = _REFUSED.search(text)
    return {
        "listened_after_s": listened_after,
        "refused": f"{refused[1]}: {refused[2]}" if refused else None,
        "connections_lost": text.count('"broker-lost"'),
    }


def main() -> None:
    """Start the cluster, then the centre; say what happened."""
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--centre", default="DETRICK", help="the centre to start (default DETRICK)")
    options.add_argument("--within", type=float, default=120.0, help="seconds to wait for it (default 120)")
    args = options.parse_args()
    table = load_table(ROOT / "config" / "routing.toml")
    network = load_network(ROOT / "config" / "network.toml")
    if args.centre not in network.centres:
        raise SystemExit(f"centre_startup: no centre {args.centre} in config/network.toml")
    served = len(network.served(args.centre, table.posts))
    with tempfile.TemporaryDirectory(prefix="router-centre-startup-") as directory:
        folder = Path(directory)
        (folder / "work").mkdir()
        with NatsCluster(folder / "nats", posts=sorted(table.posts), network=network) as cluster:
            figures = asyncio.run(start(cluster, args.centre, folder / "work", args.within))
            consumers = sum(
                (node.folder / "nats.log").read_text(encoding="utf-8").count("new consumer leader")
                for node in cluster.nodes
            )
    listened = figures["listened_after_s"]
    said = (
        f"listened after {listened} s" if listened is not None else f"not listening within {args.within:g} s"
    )
    print(f"{args.centre} ({served} posts) on NATS as {centre_user(args.centre)}: {said}")
    print(f"  consumers NATS made meanwhile: {consumers}; connections lost: {figures['connections_lost']}")
    if figures["refused"]:
        print(f"  first refusal: {figures['refused']}")
    print(
        json.dumps(
            {"centre": args.centre, "posts": served, "consumers": consumers, **figures, "machine": describe()}
        )
    )


if __name__ == "__main__":
    main()
