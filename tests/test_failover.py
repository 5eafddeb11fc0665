"""Past one machine: three centre processes on a three-node NATS cluster, journalling in PostgreSQL.

Cables filed at PIRMASENS for posts behind it, DETRICK and TINKER (two hops); a NATS node killed
mid-stream, then DETRICK's process SIGKILLed and started again elsewhere (another process, another
work folder; its journal in PostgreSQL, reached by its URL, its lease free once the holder died).
Every post must be shown every cable exactly once: the broker keeps what the centres and the posts
were sent while they were away, the journals what the centres took. Bounded in time: it stops by
itself, saying what was missing when it does.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from contextlib import AsyncExitStack
from functools import partial
from typing import TYPE_CHECKING

import pytest

from router.bus import topics
from router.bus.mqtt import MqttBus, reconnecting
from router.bus.security import PUBLISHER, centre_user, post_user
from router.errors import BusError
from router.routing.network_description import DEFAULT_NETWORK, load_network
from router.sim.post import PostStation, Reading, post_connection, serve_post
from tests.nats import NatsCluster, nats_binary
from tests.postgres import Postgres
from tests.test_centres import FAR, MIDDLE, ORIGIN, POSTS, TABLE_TOML, cable

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from router.bus.address import BrokerAddress

CABLES = 18
"""Cables filed in all: six before the node is lost, six before the centre is, six after."""
EVERY_COPY_WITHIN = 120.0
"""Seconds the posts have to be shown every cable once the last is filed (node loss and restart included)."""
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
    with NatsCluster(tmp_path / "nats", posts=POSTS, network=load_network(DEFAULT_NETWORK)) as nodes:
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
            "--routing", str(work.parent.parent / "routing.toml"), "--journal", journal,
            cwd=work, stderr=stderr, env={**os.environ, **QUIET},
        )  # fmt: skip
    async with asyncio.timeout(60):
        while b'"listening"' not in log.read_bytes():  # noqa: ASYNC110 (another process's)
            await asyncio.sleep(0.05)
    return process


async def file_at_origin(address: BrokerAddress, serials: range) -> None:
    """File the cables at PIRMASENS, each to its PUBACK; a connection the cluster drops is made again.

    A cable whose PUBACK was lost with its node may be filed twice: the centre files the second
    as a duplicate (§428a), and no post is shown it twice.
    """
    pending = list(serials)
    for _ in range(60):
        try:
            async with MqttBus(address, mqtt5=False) as publisher:
                while pending:
                    await publisher.publish(topics.centre_intake(ORIGIN, f"c{pending[0]}"), cable(pending[0]))
                    pending.pop(0)
                return
        except BusError:
            await asyncio.sleep(0.5)
    raise AssertionError(f"cables {pending} not filed in 60 connections")


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
    (tmp_path / "routing.toml").write_text(TABLE_TOML, encoding="utf-8")
    shown: dict[str, Counter[str]] = {post: Counter() for post in POSTS}
    wanted = {f"RUFGNAA-{serial:04d}-0011200" for serial in range(1, CABLES + 1)}
    everyone_shown = asyncio.Event()

    def counted(post: str) -> Callable[[Reading], None]:
        def count(reading: Reading) -> None:
            if reading.cable is not None:
                shown[post][reading.cable.message_id] += 1
            if all(set(seen) >= wanted for seen in shown.values()):
                everyone_shown.set()

        return count

    journals = {name: postgres.new_schema() for name in (FAR, MIDDLE, ORIGIN)}  # a database of each's own
    async with AsyncExitStack() as stack:
        posting = []
        for index, post in enumerate(POSTS):  # the posts spread over the nodes, each reconnecting
            address = cluster.address(index % 3, (index + 1) % 3, (index + 2) % 3, user=post_user(post))
            async with post_connection(address, post, session_expiry=3600) as first:
                await first.subscribe(topics.copies(post), qos=1)  # its session, before any copy
            posting.append(asyncio.create_task(a_post(address, post, counted(post))))
        centres = {
            name: await start_centre(cluster, name, journals[name], tmp_path / "first" / name)
            for name in (FAR, MIDDLE, ORIGIN)
        }
        stack.callback(stop_all, centres, posting)
        publisher = cluster.address(user=PUBLISHER)

        await file_at_origin(publisher, range(1, 7))
        cluster.kill(0)  # the node every centre connected to first: they move to the next
        await file_at_origin(publisher, range(7, 13))
        centres[MIDDLE].send_signal(signal.SIGKILL)  # the relay, mid-stream
        await centres[MIDDLE].wait()
        # Elsewhere: another process, another work folder; the journal it had, in PostgreSQL (the
        # dead holder's lease went with its connection), its session at the broker holding what came.
        centres[MIDDLE] = await start_centre(cluster, MIDDLE, journals[MIDDLE], tmp_path / "second" / MIDDLE)
        await file_at_origin(publisher, range(13, CABLES + 1))
        try:
            await asyncio.wait_for(everyone_shown.wait(), EVERY_COPY_WITHIN)
        except TimeoutError:
            missing = {post: sorted(wanted - set(seen)) for post, seen in shown.items() if wanted - set(seen)}
            raise AssertionError(f"not shown within {EVERY_COPY_WITHIN:g} s: {missing}") from None
        for process in centres.values():
            process.send_signal(signal.SIGTERM)
        assert [await asyncio.wait_for(p.wait(), 15) for p in centres.values()] == [0, 0, 0]
    assert {post: set(seen) for post, seen in shown.items()} == dict.fromkeys(POSTS, wanted)  # lost 0
    assert all(count == 1 for seen in shown.values() for count in seen.values())  # shown twice 0
