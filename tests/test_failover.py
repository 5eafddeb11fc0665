"""Past one machine: the network demo's centres on a three-node NATS cluster, journalling in PostgreSQL.

The five centres of the network demo's scenario as `router run --centre` processes, each as its own
user and with its journal in PostgreSQL; its eleven posts as `router post` runs them, spread over
the nodes; its generated traffic, each cable filed at its originating centre. A NATS node is killed
mid-stream, then DETRICK's process is SIGKILLed and started again elsewhere (another process,
another work folder; its journal reached by its URL, its lease free once the holder died). Every
post must be shown every cable it is owed exactly once: the broker keeps what the centres and the
posts were sent while they were away, the journals what the centres took. Bounded in time: it stops
by itself, saying what was missing when it does.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING

import pytest

from router.bus import topics
from router.bus.mqtt import MqttBus, reconnecting
from router.bus.security import PUBLISHER, centre_user, post_user
from router.errors import BusError
from router.sim.ledger import Filed, plan_filing
from router.sim.post import PostStation, Reading, post_connection, serve_post
from router.sim.scenario import NETWORK_SCENARIO, load_network_scenario
from router.sim.traffic import generate
from tests.nats import NatsCluster, nats_binary
from tests.postgres import Postgres

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from router.bus.address import BrokerAddress

CABLES = 18
"""Cables filed in all: six before the node is lost, six before a centre is, six after."""
RELAY = "DETRICK"
"""The centre killed and started again elsewhere: the relay between BELTSVILLE and WAHIAWA's posts."""
EVERY_COPY_WITHIN = 120.0
"""Seconds the posts have to be shown every cable once the last is filed (node loss and restart included)."""
ROUTING = NETWORK_SCENARIO.parent / "network-posts.toml"
"""The network demo's routing table: its eleven posts and their lines."""
QUIET = {
    # At 100x a test's minute is under two network hours: no channel check (§412b) or receipt
    # timeout falls in it, and a copy delayed by the node loss is not sent again for want of one.
    "ROUTER_CHANNEL_CHECK_AFTER": "1e15",
    "ROUTER_RECEIPT_TIMEOUT": "1e15",
    "ROUTER_ACK_TIMEOUT": "1e15",
    "ROUTER_RECONNECT_MAX": "1",
}


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[NatsCluster]:
    """A cluster of the test's own (it loses a node), with a user for each post and each centre."""
    if nats_binary() is None:
        pytest.skip("nats-server is not installed (.ci/run installs the Debian package)")
    _, table, network = load_network_scenario()
    with NatsCluster(tmp_path / "nats", posts=sorted(table.posts), network=network) as nodes:
        yield nodes


async def start_centre(
    cluster: NatsCluster, name: str, journal: str, work: Path
) -> asyncio.subprocess.Process:
    """`router run --centre NAME` in ``work`` as centre-NAME on every node, its journal at ``journal``."""
    await asyncio.to_thread(work.mkdir, parents=True, exist_ok=True)
    log = work / "router.log"
    user = centre_user(name)
    with log.open("ab") as stderr:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "router", "run", "--centre", name, "--time-scale", "100",
            "--broker", cluster.url(user=None), "--username", user,
            "--password-file", str(cluster.password_file(user)),
            "--routing", str(ROUTING), "--journal", journal,
            cwd=work, stderr=stderr, env={**os.environ, **QUIET},
        )  # fmt: skip
    try:
        async with asyncio.timeout(60):
            while b'"listening"' not in log.read_bytes():  # noqa: ASYNC110 (another process's)
                await asyncio.sleep(0.05)
    except BaseException:
        process.kill()  # not left running after the test: it never took its place
        raise
    return process


async def file_at_origin(address: BrokerAddress, cables: list[Filed]) -> None:
    """File each cable at its originating centre, to its PUBACK; a connection the cluster drops is made again.

    A cable whose PUBACK was lost with its node may be filed twice: the centre files the second
    as a duplicate (§428a), and no post is shown it twice.
    """
    pending = list(cables)
    for _ in range(60):
        try:
            async with MqttBus(address, mqtt5=False) as publisher:
                while pending:
                    await publisher.publish(
                        topics.centre_intake(pending[0].centre, pending[0].name), pending[0].raw
                    )
                    pending.pop(0)
                return
        except BusError:
            await asyncio.sleep(0.5)
    raise AssertionError(f"cables {[c.name for c in pending]} not filed in 60 connections")


async def a_post(address: BrokerAddress, post: str, on_reading: Callable[[Reading], None]) -> None:
    """`router post` as it runs: its copies read and receipted, the broker lost and found again."""
    station = PostStation(post)  # one for the run: its serials carry on across reconnections
    await reconnecting(
        partial(post_connection, address, post, session_expiry=3600),
        partial(serve_post, station=station, on_reading=on_reading),
        reconnect_max=1.0,
        on_connected=lambda: None,
        on_lost=lambda _reason, _delay: None,
    )


def stop_all(centres: dict[str, asyncio.subprocess.Process], posting: list[asyncio.Task[None]]) -> None:
    """Whatever ended the test: no centre process or post left running."""
    for process in centres.values():
        if process.returncode is None:
            process.kill()
    for task in posting:
        task.cancel()


async def test_a_node_and_a_centre_lost_mid_stream_lose_nothing(
    cluster: NatsCluster, postgres: Postgres, tmp_path: Path
) -> None:
    scenario, table, network = load_network_scenario()
    planned = plan_filing(
        generate(table, count=CABLES, seed=scenario.seed, start=datetime.now(UTC), posts=scenario.posts),
        table,
        network,
    )
    owed = {post: {cable.message_id for cable in planned if post in cable.posts} for post in table.posts}
    assert all(owed.values())  # every post is owed something: each is watched doing its share
    shown: dict[str, Counter[str]] = {post: Counter() for post in table.posts}
    everyone_shown = asyncio.Event()

    def counted(post: str) -> Callable[[Reading], None]:
        def count(reading: Reading) -> None:
            if reading.cable is not None:
                shown[post][reading.cable.message_id] += 1
            if all(set(shown[ri]) >= owed[ri] for ri in owed):
                everyone_shown.set()

        return count

    journals = {name: postgres.new_schema() for name in network.centres}  # a journal of each's own
    async with AsyncExitStack() as stack:
        posting = []
        for index, post in enumerate(sorted(table.posts)):  # the posts spread over the nodes
            address = cluster.address(index % 3, (index + 1) % 3, (index + 2) % 3, user=post_user(post))
            async with post_connection(address, post, session_expiry=3600) as first:
                await first.subscribe(topics.copies(post), qos=1)  # its session, before any copy
            posting.append(asyncio.create_task(a_post(address, post, counted(post))))
        centres: dict[str, asyncio.subprocess.Process] = {}
        stack.callback(stop_all, centres, posting)  # before any starts: a failed start leaves none
        for name in network.centres:
            centres[name] = await start_centre(cluster, name, journals[name], tmp_path / "first" / name)
        publisher = cluster.address(user=PUBLISHER)

        await file_at_origin(publisher, planned[:6])
        cluster.kill(0)  # the node every centre connected to first: they move to the next
        await file_at_origin(publisher, planned[6:12])
        centres[RELAY].send_signal(signal.SIGKILL)  # mid-stream
        await centres[RELAY].wait()
        # Elsewhere: another process, another work folder; the journal it had, in PostgreSQL (the
        # dead holder's lease went with its connection), its session at the broker holding what came.
        centres[RELAY] = await start_centre(cluster, RELAY, journals[RELAY], tmp_path / "second" / RELAY)
        await file_at_origin(publisher, planned[12:])
        try:
            await asyncio.wait_for(everyone_shown.wait(), EVERY_COPY_WITHIN)
        except TimeoutError:
            missing = {
                post: sorted(owed[post] - set(seen)) for post, seen in shown.items() if owed[post] - set(seen)
            }
            raise AssertionError(f"not shown within {EVERY_COPY_WITHIN:g} s: {missing}") from None
        for process in centres.values():
            process.send_signal(signal.SIGTERM)
        assert [await asyncio.wait_for(p.wait(), 15) for p in centres.values()] == [0] * len(centres)
    assert {post: set(seen) for post, seen in shown.items()} == owed  # lost 0, nothing unowed
    assert all(count == 1 for seen in shown.values() for count in seen.values())  # shown twice 0
