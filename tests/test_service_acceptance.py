"""The service's acceptance on real brokers: a private Mosquitto, and amqtt (the embedded fallback)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from router.bus import topics
from router.bus.broker import free_port
from router.bus.fallback import amqtt_broker
from router.bus.mqtt import BrokerAddress, MqttBus
from router.bus.protocol import Message
from router.bus.security import OWNER, OWNER_GRANTS, Users, new_password
from router.journal import queries
from router.journal.store import Journal
from router.network.channel import read_copy
from router.network.clock import ScaledClock
from router.routing.table import RoutingTable, load_table
from router.sim.post import PostStation, Reading, post_connection, serve_post
from router.switch.core import Limits
from tests.helpers import opened, receipt_for, receive, running

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from router.bus.broker import Mosquitto
    from router.cable.models import Cable

FAST = 1_000_000.0
"""Network seconds per host second in these tests: a 75-baud line delivers a cable in microseconds."""
SEED_POSTS = {"RUEHC", "RUEHBJ", "RUEHUL", "RHHMUNA", "RUEAIIA", "RHEHAAA", "RHMFISS"}


def cable(serial: int, precedence: str, to: str = "AMEMBASSY PARIS") -> bytes:
    return (
        f"VZCZCXYZ{serial:04d}\n{precedence}{precedence} RUEHWEB\nDE RUEHRO #{serial:04d} 0011200\n"
        f"ZNR UUUUU ZZH\n{precedence} 011200Z JAN 09\nFM AMEMBASSY ROME\nTO {to}\n\n"
        f"UNCLAS ROME {serial:06d}\n\nSUBJECT: CABLE {serial}\n"
    ).encode()


@pytest.fixture(scope="module")
def table() -> RoutingTable:
    """The committed routing table."""
    return load_table()


@pytest.fixture(params=["mosquitto", "amqtt"])
async def broker(request: pytest.FixtureRequest) -> AsyncIterator[tuple[BrokerAddress, bool]]:
    """A real broker: the private Mosquitto of the session, or the embedded amqtt, each with its owner."""
    if request.param == "mosquitto":
        mosquitto: Mosquitto = request.getfixturevalue("mosquitto")
        yield BrokerAddress.parse(mosquitto.url), True
        return
    owner = Users({OWNER: new_password()}, OWNER_GRANTS)
    async with amqtt_broker(free_port(), owner) as address:
        yield address.logged_in(OWNER, owner.passwords[OWNER]), False


@asynccontextmanager
async def service(
    broker: tuple[BrokerAddress, bool], journal: Path, table: RoutingTable, name: str
) -> AsyncIterator[MqttBus]:
    """A router on the broker, and a client for the test (publisher, watcher, post)."""
    address, mqtt5 = broker
    async with AsyncExitStack() as stack:
        bus = await stack.enter_async_context(
            MqttBus(address, client_id=f"router-{name}", manual_ack=True, mqtt5=mqtt5)
        )
        client = await stack.enter_async_context(MqttBus(address, client_id=f"client-{name}", mqtt5=mqtt5))
        # The committed table's lines run at 75 baud: a fast clock lets the tests not wait for them.
        clock = ScaledClock(FAST)
        # At this scale a receipt's round trip through the broker takes hours of network time:
        # copies are not sent again for want of one within these tests.
        await stack.enter_async_context(
            running(
                bus,
                Journal(journal, clock=clock.now),
                table,
                clock=clock,
                ack_timeout=FAST,
                # Nor does a line fall silent long enough for a channel check (§412b).
                limits=Limits(receipt_timeout=FAST, channel_check_after=FAST),
            )
        )
        yield client


async def collect(client: MqttBus, until: str) -> list[Message]:
    """Messages received until one arrives on ``until`` (excluded); fails after 10 s."""
    got: list[Message] = []
    async with asyncio.timeout(10):
        async for message in client.messages():
            if message.topic == until:
                return got
            got.append(message)
    return got


async def test_the_seed_cable_reaches_its_seven_addressees_exactly_once(
    broker: tuple[BrokerAddress, bool], table: RoutingTable, tmp_path: Path, corpus_dir: Path
) -> None:
    """The Tokyo cable on cables/in goes to each of its seven posts' topics once."""
    seed = (corpus_dir.parent / "seed-tokyo-1571.txt").read_bytes()
    async with service(broker, tmp_path / "journal.sqlite", table, "seed") as client:
        await client.subscribe("cables/out/#")
        await client.publish("cables/in/tokyo", seed)
        # A second cable to Paris comes out after every copy of the first: the router sends in order.
        await client.publish("cables/in/marker", cable(1, "Z"))
        copies = await collect(client, until="cables/out/RUEHFR")
    topics = [m.topic.removeprefix("cables/out/") for m in copies]
    assert sorted(topics) == sorted(SEED_POSTS)
    assert {opened(m)[1].message_id for m in copies} == {"RUEHKO-1571-1610901"}


async def test_a_cable_on_cables_in_itself_is_taken_from_a_real_broker(
    broker: tuple[BrokerAddress, bool], table: RoutingTable, tmp_path: Path
) -> None:
    """The broker's ``cables/in/#`` matches ``cables/in`` too: a cable published there reaches its post."""
    async with service(broker, tmp_path / "journal.sqlite", table, "bare") as client:
        await client.subscribe("cables/out/RUEHFR")
        await client.publish("cables/in", cable(3, "O"))
        (copy,) = await receive(client, 1, topic="cables/out/RUEHFR")
    assert opened(copy)[1].message_id == "RUEHRO-0003-0011200"


async def test_a_retained_cable_is_journalled_once_over_restarts_on_mosquitto(
    mosquitto: Mosquitto, table: RoutingTable, tmp_path: Path
) -> None:
    """A cable retained on the intake is taken at the first start and cleared: the next start finds none."""
    on_mosquitto = (BrokerAddress.parse(mosquitto.url), True)
    journal = tmp_path / "journal.sqlite"
    async with MqttBus(on_mosquitto[0], client_id="retainer") as publisher:
        await publisher.publish("cables/in/retained", cable(4, "R"), retain=True)
    for marker in (5, 6):
        async with service(on_mosquitto, journal, table, "retained") as client:
            await client.subscribe("cables/out/RUEHFR")
            # Retained messages come on subscription, before the marker: its copy out, both are handled.
            await client.publish("cables/in/marker", cable(marker, "R"))
            copies = await receive(client, 2 if marker == 5 else 1, topic="cables/out/RUEHFR")
            for copy in copies:
                await client.publish("cables/ack/RUEHFR", receipt_for(copy))
    with queries.read_only(journal) as db:
        topics = [topic for (topic,) in db.execute("SELECT topic FROM cables ORDER BY id")]
    assert topics == ["cables/in/retained", "cables/in/marker", "cables/in/marker"]


async def test_garbage_reaches_cables_rejected(
    broker: tuple[BrokerAddress, bool], table: RoutingTable, tmp_path: Path
) -> None:
    """Bytes that are no cable are rejected on cables/rejected with where and why."""
    async with service(broker, tmp_path / "journal.sqlite", table, "garbage") as client:
        await client.subscribe("cables/rejected")
        await client.publish("cables/in/noise", b"\xff\xfe" + bytes(range(256)))
        async with asyncio.timeout(10):
            message = await anext(aiter(client.messages()))
    record = json.loads(message.payload)
    assert record["reason"] == "not UTF-8: byte 0xff cannot start a character"
    assert (record["line"], record["column"]) == (1, 1)
    assert record["journal_id"] >= 1


async def test_a_stalled_post_gets_its_backlog_in_precedence_order(
    broker: tuple[BrokerAddress, bool], table: RoutingTable, tmp_path: Path
) -> None:
    """Paris stops acknowledging: when it resumes, FLASH and IMMEDIATE come before older ROUTINE."""
    window = table.posts["RUEHFR"].line.window
    async with service(broker, tmp_path / "journal.sqlite", table, "stalled") as client:
        await client.subscribe("cables/out/+")
        for serial in range(1, window + 3):  # the window fills; two ROUTINE wait in the router
            await client.publish("cables/in/x", cable(serial, "R"))
        in_flight = await receive(client, window, topic="cables/out/RUEHFR")
        await client.publish("cables/in/x", cable(90, "Z"))
        await client.publish("cables/in/x", cable(91, "O"))
        # Intake is in order: once a later cable for the Department is out, both are queued.
        await client.publish("cables/in/x", cable(92, "R", to="SECSTATE WASHDC"))
        await receive(client, 1, topic="cables/out/RUEHC")
        order = []
        for _ in range(4):  # the post resumes: each acknowledgement lets the next copy out
            await client.publish("cables/ack/RUEHFR", receipt_for(in_flight.pop(0)))
            (copy,) = await receive(client, 1, topic="cables/out/RUEHFR")
            precedence = opened(copy)[1].precedence
            order.append(precedence.value if precedence else None)
    assert order == ["FLASH", "IMMEDIATE", "ROUTINE", "ROUTINE"]


async def test_sigkill_mid_stream_loses_nothing_and_repeats_nothing_acknowledged(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """Twenty cables, the router killed part-way: Paris gets all twenty, and none again after its ack."""
    address = BrokerAddress.parse(mosquitto.url)
    journal = tmp_path / "journal.sqlite"
    acknowledged: set[str] = set()
    again: list[str] = []
    cancellations: list[bytes] = []

    async def post(done: asyncio.Event) -> None:
        async with MqttBus(address, client_id="post-paris-kill", persistent=True) as bus:
            await bus.subscribe("cables/out/RUEHFR")
            async for message in bus.messages():
                if read_copy(message.payload).service is not None:
                    # The ZFR cancelling the transmission the kill cut (§424d): no message, no receipt.
                    cancellations.append(message.payload)
                    continue
                message_id = opened(message)[1].message_id
                if message_id in acknowledged:
                    again.append(message_id)
                await bus.publish("cables/ack/RUEHFR", receipt_for(message))
                acknowledged.add(message_id)
                if len(acknowledged) == 20:
                    done.set()

    log = tmp_path / "router.log"

    async def start_router() -> asyncio.subprocess.Process:
        # The routing log goes to a file, not a pipe: a pipe nobody empties stalls the router.
        listening = log.stat().st_size if log.exists() else 0
        with log.open("ab") as stderr:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "router",
                "run",
                "--broker",
                mosquitto.url,
                "--journal",
                str(journal),
                "--time-scale",
                str(FAST),
                stderr=stderr,
                # Hours of network time pass in a receipt's round trip: no copy goes again for want of
                # one, and no line is silent long enough for a channel check (ZID, §412b).
                env={
                    **os.environ,
                    "ROUTER_RECEIPT_TIMEOUT": str(FAST),
                    "ROUTER_ACK_TIMEOUT": str(FAST),
                    "ROUTER_CHANNEL_CHECK_AFTER": str(FAST),
                },
            )
        async with asyncio.timeout(10):
            while b'"listening"' not in log.read_bytes()[listening:]:  # noqa: ASYNC110 (another process's file)
                await asyncio.sleep(0.02)
        return process

    done = asyncio.Event()
    posting = asyncio.create_task(post(done))
    router = await start_router()
    async with MqttBus(address, client_id="publisher-kill") as publisher:
        for serial in range(1, 21):
            await publisher.publish("cables/in/x", cable(200 + serial, "R"))
            if serial == 8:
                router.send_signal(signal.SIGKILL)
                await router.wait()
                router = await start_router()
    async with asyncio.timeout(30):
        await done.wait()
    router.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(router.wait(), 15) == 0
    posting.cancel()
    assert len(acknowledged) == 20
    assert again == []
    assert all(b"\nUNCLAS SVC ZFR " in cancelled for cancelled in cancellations)


async def test_a_post_away_gets_its_backlog_once_and_in_precedence_order_on_return(
    mosquitto: Mosquitto, table: RoutingTable, tmp_path: Path
) -> None:
    """Copies for a post away wait (at the broker in its session, the rest on its line) and arrive once.

    The window's four ROUTINE copies went out while Paris was away: the broker kept them in the
    post's persistent session, and they come first. What came after waited on the switch's line,
    where precedence orders it (ACP 127 §151): FLASH, IMMEDIATE, PRIORITY, then ROUTINE.
    """
    on_mosquitto = (BrokerAddress.parse(mosquitto.url), True)
    address = on_mosquitto[0]
    async with post_connection(address, "RUEHFR", session_expiry=3600) as post:
        await post.subscribe(topics.copies("RUEHFR"), qos=1)  # the session the broker keeps
    order = ["R", "R", "R", "R", "R", "P", "O", "Z", "R", "O"]
    async with service(on_mosquitto, tmp_path / "journal.sqlite", table, "away") as client:
        await client.subscribe(topics.LOG, qos=0)
        for serial, precedence in enumerate(order, start=1):
            await client.publish(topics.intake(f"away{serial}"), cable(serial, precedence))
        routed = 0
        async with asyncio.timeout(10):
            async for message in client.messages():
                routed += json.loads(message.payload)["event"] == "routed"
                if routed == len(order):
                    break
        shown: list[Cable] = []
        all_shown = asyncio.Event()

        def show(reading: Reading) -> None:
            if reading.cable is not None:
                shown.append(reading.cable)
            if len(shown) == len(order):
                all_shown.set()

        async with post_connection(address, "RUEHFR", session_expiry=3600) as post:
            serving = asyncio.create_task(serve_post(post, PostStation("RUEHFR"), show))
            await asyncio.wait_for(all_shown.wait(), 10)
            serving.cancel()
    precedences = [str(c.precedence.letter if c.precedence else "") for c in shown]
    assert sorted(c.message_id for c in shown) == sorted(f"RUEHRO-{n:04d}-0011200" for n in range(1, 11))
    assert precedences == ["R", "R", "R", "R", "Z", "O", "O", "P", "R", "R"]
