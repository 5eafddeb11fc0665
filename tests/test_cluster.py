"""The bus on a clustered broker: a private three-node NATS cluster (MQTT 3.1.1), several broker URLs.

The cluster is started by the tests (tests/nats.py): free loopback ports, its own config and
JetStream folders, the project's users and grants as NATS permissions. Nothing already running
is used (a NATS on 4222 is left alone).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import signal
import sys
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING

import pytest

from router.bus import topics
from router.bus.address import BrokerAddress, without_password
from router.bus.mqtt import LastWill, MqttBus, reconnecting
from router.bus.nats import MQTT_DELIVERIES, permissions, subject, subjects
from router.bus.security import ROLE_GRANTS, ROUTER, post_grants
from router.errors import BusError
from router.settings import Settings, load_settings
from router.sim.post import PostStation, Reading, post_connection, serve_post
from tests.helpers import receive
from tests.nats import NatsCluster, nats_binary

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterator
    from pathlib import Path

POSTS = ("RUEHC", "RUEHFR")
SETTLING = 30.0
"""Seconds a test gives the cluster to settle after a node is lost: up to some 8 s were seen before
a session's queued messages came again (new stream and consumer leaders are elected)."""
FAST = 1_000_000.0
"""Network seconds per host second for the router under test: a 75-baud copy takes microseconds."""
_ids = itertools.count()

needs_nats = pytest.mark.skipif(
    nats_binary() is None, reason="nats-server is not installed (.ci/run installs the Debian package)"
)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsCluster]:
    """A three-node NATS cluster for the module's tests that leave every node running."""
    if nats_binary() is None:
        pytest.skip("nats-server is not installed (.ci/run installs the Debian package)")
    with NatsCluster(tmp_path_factory.mktemp("nats"), posts=POSTS) as nodes:
        yield nodes


@pytest.fixture
def own_cluster(tmp_path: Path) -> Iterator[NatsCluster]:
    """A cluster of the test's own, for a test that kills nodes."""
    if nats_binary() is None:
        pytest.skip("nats-server is not installed (.ci/run installs the Debian package)")
    with NatsCluster(tmp_path / "nats", posts=POSTS) as nodes:
        yield nodes


# --- several URLs: one broker of several nodes


def test_a_comma_list_is_one_broker_of_several_nodes_logged_in_alike() -> None:
    """Each URL of a list is a node, in order; a later one without a login logs in as the first."""
    address = BrokerAddress.parse("mqtt://u:pw@a:1, mqtt://b:2,mqtts://c")
    assert [str(node) for node in address.nodes] == ["mqtt://a:1", "mqtt://b:2", "mqtts://c:8883"]
    assert str(address) == "mqtt://a:1,mqtt://b:2,mqtts://c:8883"
    second = address.at(address.nodes[1])
    assert (second.host, second.port, second.username, second.password) == ("b", 2, "u", "pw")
    assert second.cluster is None
    assert address.logged_in("v", "x").cluster is address.cluster  # one memory of which node is up


@pytest.mark.parametrize(
    ("urls", "problem"),
    [
        ("mqtt://a:1,,mqtt://b:2", "an empty address"),
        ("mqtt://u:pw@a:1,mqtt://v:pw@b:2", "every node logs in as the first"),
        ("mqtt://a:1,http://b:2", "is not mqtt://host:port"),
    ],
)
def test_a_bad_list_of_brokers_is_refused_in_one_line(urls: str, problem: str) -> None:
    """A list with an empty entry, two logins or a bad URL is refused, saying which."""
    with pytest.raises(BusError, match=problem) as refused:
        BrokerAddress.parse(urls)
    assert "pw" not in str(refused.value)


def test_a_round_starts_at_the_node_connected_last_and_after_a_node_lost() -> None:
    """Each round tries every node once: from the first, then from the node in use, then past a lost one."""
    cluster = BrokerAddress.parse("mqtt://a:1,mqtt://b:2,mqtt://c:3").cluster
    assert cluster is not None
    assert cluster.order() == [0, 1, 2]
    assert cluster.connected(1) is None
    assert cluster.order() == [1, 2, 0]
    cluster.lost(1)
    assert cluster.order() == [2, 0, 1]
    assert cluster.connected(2) == 1
    cluster.lost(1)  # a loss reported late, for a node no longer in use: the round stays
    assert cluster.order() == [2, 0, 1]


def test_no_password_of_a_list_is_shown() -> None:
    """Every password in a list of URLs is hidden."""
    assert without_password("mqtt://u:s1@a:1,mqtt://u:s2@b:2") == "mqtt://u:***@a:1,mqtt://u:***@b:2"


def test_the_broker_setting_takes_a_list_from_the_file_a_variable_or_flags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``broker = [...]`` in the file, ``ROUTER_BROKER=a,b`` and ``--broker`` repeated make one list."""
    config = tmp_path / "router.toml"
    config.write_text('broker = ["mqtt://a:1", "mqtt://b:2"]\n')
    monkeypatch.setattr(Settings, "config_file", config)
    monkeypatch.delenv("ROUTER_BROKER", raising=False)
    assert load_settings().broker == "mqtt://a:1,mqtt://b:2"
    monkeypatch.setenv("ROUTER_BROKER", "mqtt://c:3,mqtt://d:4")
    assert [str(node) for node in load_settings().broker_address(ROUTER).nodes] == [
        "mqtt://c:3",
        "mqtt://d:4",
    ]
    assert load_settings(broker=["mqtt://e:5", "mqtt://f:6"]).broker == "mqtt://e:5,mqtt://f:6"


# --- the grants as NATS permissions


@pytest.mark.parametrize(
    ("topic_filter", "expected"),
    [
        ("cables/out/RUEHC", ["cables.out.RUEHC"]),
        ("cables/ack/+", ["cables.ack.*"]),
        ("cables/in/#", ["cables.in.>", "cables.in"]),
        ("#", [">"]),
    ],
)
def test_topic_filters_become_nats_subjects(topic_filter: str, expected: list[str]) -> None:
    """``/`` is ``.``, ``+`` is ``*``, and ``a/#`` needs ``a.>`` and ``a`` (MQTT's ``#`` matches ``a``)."""
    assert subjects(topic_filter) == expected
    assert subject(topic_filter) == expected[0]


def test_a_post_is_permitted_its_own_topics_only() -> None:
    """A post subscribes to its copies (and NATS's QoS 1 deliveries), publishes its receipts and ZFX."""
    assert permissions(post_grants("RUEHC")) == {
        "publish": ["cables.ack.RUEHC", "cables.svc.RUEHC"],
        "subscribe": ["cables.out.RUEHC", MQTT_DELIVERIES],
    }
    assert "cables.in.>" in permissions(ROLE_GRANTS[ROUTER])["subscribe"]


# --- the bus contract on the cluster


@needs_nats
async def test_qos1_messages_published_on_one_node_reach_a_subscriber_on_another(
    cluster: NatsCluster,
) -> None:
    """A hundred QoS 1 messages published on node 1 reach node 2's subscriber once each and in order."""
    async with (
        MqttBus(cluster.address(1), client_id=f"test-sub-{next(_ids)}", mqtt5=False) as subscriber,
        MqttBus(cluster.address(0), client_id=f"test-pub-{next(_ids)}", mqtt5=False) as publisher,
    ):
        await subscriber.subscribe("order/+", qos=1)
        await publisher.publish("elsewhere/0", b"not matched")
        for number in range(100):
            await publisher.publish(f"order/{number % 7}", str(number).encode(), qos=1)
        got = await receive(subscriber, 100)
    assert [int(message.payload) for message in got] == list(range(100))
    assert {message.qos for message in got} == {1}


@needs_nats
async def test_a_client_asking_for_mqtt5_is_answered_in_311(cluster: NatsCluster) -> None:
    """NATS closes an MQTT 5 CONNECT unanswered: the adapter asks again in 3.1.1, and works."""
    async with MqttBus(cluster.address(2), client_id=f"test-v5-{next(_ids)}", mqtt5=True) as bus:
        assert bus._mqtt5 is False
        topic = f"test/v5/{next(_ids)}"
        await bus.subscribe(topic)
        await bus.publish(topic, b"heard")
        (got,) = await receive(bus, 1)
    assert got.payload == b"heard"


@needs_nats
async def test_a_retained_message_reaches_a_later_subscriber_on_another_node(cluster: NatsCluster) -> None:
    """A retained status published on node 1 is handed, marked retained, to a subscriber on node 3."""
    topic = topics.status(f"T{next(_ids)}")
    async with MqttBus(cluster.address(0), mqtt5=False) as publisher:
        await publisher.publish(topic, b'{"state": "up"}', retain=True)
    async with MqttBus(cluster.address(2), mqtt5=False) as subscriber:
        await subscriber.subscribe(topic)
        (got,) = await receive(subscriber, 1)
    assert (got.topic, got.payload, got.retain) == (topic, b'{"state": "up"}', True)


@needs_nats
async def test_the_router_status_retained_at_qos0_is_kept_and_cleared_by_an_empty_one(
    cluster: NatsCluster,
) -> None:
    """The router's status (QoS 0, retained) reaches a later subscriber elsewhere; an empty one clears it."""
    topic = topics.status(f"Z{next(_ids)}")
    async with MqttBus(cluster.address(0), mqtt5=False) as publisher:
        await publisher.publish(topic, b'{"state": "up"}', qos=0, retain=True)
        await publisher.publish(f"{topic}/fence", b"", qos=1)  # the QoS 0 one handled before its PUBACK
    async with MqttBus(cluster.address(2), mqtt5=False) as subscriber:
        await subscriber.subscribe(topic, qos=0)
        (got,) = await receive(subscriber, 1)
    assert (got.payload, got.retain) == (b'{"state": "up"}', True)
    async with MqttBus(cluster.address(1), mqtt5=False) as publisher:
        await publisher.publish(topic, b"", retain=True)
    async with MqttBus(cluster.address(2), mqtt5=False) as subscriber:
        await subscriber.subscribe(topic, qos=0)
        await subscriber.subscribe(f"{topic}/after", qos=0)
        await subscriber.publish(f"{topic}/after", b"after")  # what comes after any retained one
        (first,) = await receive(subscriber, 1)
    assert first.payload == b"after"


@needs_nats
async def test_nats_drops_a_client_publishing_at_qos2(cluster: NatsCluster) -> None:
    """NATS 2.9 takes no QoS 2 PUBLISH: it closes the connection (the router publishes at QoS 0 and 1)."""
    async with MqttBus(cluster.address(0), mqtt5=False) as bus:
        with pytest.raises(BusError, match="lost the broker"):
            await bus.send("test/qos2", b"exactly once?", qos=2)


@needs_nats
async def test_a_last_will_is_published_through_another_node(cluster: NatsCluster) -> None:
    """A client gone without a DISCONNECT on node 1: node 2's subscriber gets its Last Will."""
    topic = topics.status(f"W{next(_ids)}")
    async with MqttBus(cluster.address(1), mqtt5=False) as watcher:
        await watcher.subscribe(topic)
        will = LastWill(topic, b'{"state": "offline"}')
        async with MqttBus(
            cluster.address(0), client_id=f"test-will-{next(_ids)}", will=will, mqtt5=False
        ) as dying:
            assert dying._writer.transport is not None
            dying._writer.transport.abort()
        (got,) = await receive(watcher, 1)
    assert got.payload == b'{"state": "offline"}'


@needs_nats
async def test_a_post_reads_and_writes_only_its_own_topics(cluster: NatsCluster) -> None:
    """post-RUEHC hears its own copies only, and what it publishes on the intake is dropped.

    Its subscriptions to Paris's copies, to ``#`` and to NATS's own QoS 1 delivery subjects
    (``$MQTT/sub/#``: every MQTT user is permitted ``$MQTT.sub.>`` for its own deliveries, but NATS
    takes no MQTT subscription there) are refused.
    """
    router, paris = cluster.address(0, user="router"), cluster.address(1, user="post-RUEHFR")
    async with AsyncExitStack() as stack:
        spy = await stack.enter_async_context(
            MqttBus(
                cluster.address(2, user="post-RUEHC"), client_id="post-RUEHC", persistent=True, mqtt5=False
            )
        )
        switch = await stack.enter_async_context(
            MqttBus(router, client_id=f"router-{next(_ids)}", mqtt5=False)
        )
        other = await stack.enter_async_context(
            MqttBus(paris, client_id="post-RUEHFR", persistent=True, mqtt5=False)
        )
        await switch.subscribe(topics.INTAKE)
        await other.subscribe(topics.copies("RUEHFR"))
        for topic_filter in (topics.copies("RUEHFR"), "#", "$MQTT/sub/#"):
            with pytest.raises(BusError, match=f"refused the subscription to {re.escape(topic_filter)}"):
                await spy.subscribe(topic_filter)
        await spy.subscribe(topics.copies("RUEHC"))
        await spy.publish(topics.intake("forged"), b"not the post's to write")
        await switch.publish(topics.copies("RUEHFR"), b"for Paris")
        await switch.publish(topics.copies("RUEHC"), b"for Cairo")
        async with MqttBus(cluster.address(0, user="publisher"), mqtt5=False) as publisher:
            await publisher.publish(topics.intake("real"), b"a cable")
        (mine,) = await receive(spy, 1)
        (paris_copy,) = await receive(other, 1)
        (intake,) = await receive(switch, 1)
        await switch.publish(topics.copies("RUEHC"), b"last")  # all before it has arrived, if sent
        (last,) = await receive(spy, 1)
    assert (mine.payload, paris_copy.payload, intake.payload, last.payload) == (
        b"for Cairo",
        b"for Paris",
        b"a cable",
        b"last",
    )


@needs_nats
async def test_nats_sends_an_unacknowledged_message_again_on_the_same_connection(tmp_path: Path) -> None:
    """A QoS 1 message not acknowledged within ``ack_wait`` comes again on the same connection.

    Mosquitto sends it again only on a new connection; a client acknowledging by hand (the
    router, once a cable is journalled) gets it twice on NATS if it holds it that long.
    """
    with NatsCluster(tmp_path / "nats", ack_wait="1s") as quick:
        async with MqttBus(
            quick.address(0), client_id="test-slow", persistent=True, manual_ack=True, mqtt5=False
        ) as slow:
            await slow.subscribe("test/slow", qos=1)
            async with MqttBus(quick.address(1), mqtt5=False) as publisher:
                await publisher.publish("test/slow", b"held")
            first, again = await receive(slow, 2)
            await slow.ack(again)
    assert (first.payload, first.mid) == (again.payload, again.mid)


# --- nodes lost


@asynccontextmanager
async def connected(
    make: Callable[[], MqttBus], *filters: str, within: float = SETTLING
) -> AsyncIterator[MqttBus]:
    """A bus from ``make`` subscribed to ``filters``, tried again every half second for ``within`` s.

    As a client's backoff would: after a node is lost NATS elects new leaders for its MQTT
    streams, and meanwhile the other nodes may close a connection before its CONNACK, or refuse
    a QoS 1 subscription (its JetStream consumer not made: SUBACK 0x80).
    """
    deadline = asyncio.get_running_loop().time() + within
    while True:
        bus = make()
        try:
            await bus.__aenter__()
            try:
                for topic_filter in filters:
                    await bus.subscribe(topic_filter)
            except BusError:
                await bus.__aexit__(None, None, None)
                raise
        except BusError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.5)
            continue
        try:
            yield bus
        finally:
            await bus.__aexit__(None, None, None)
        return


@needs_nats
async def test_a_client_whose_first_node_is_dead_connects_to_the_next(own_cluster: NatsCluster) -> None:
    """Three URLs, the first node killed: the client connects to another, not giving up on the first."""
    own_cluster.kill(0)
    # While the others elect new leaders for what node 1 led they may drop a client they took
    # (see README, "A node lost is not seamless"): a client's backoff rides that out, as here.
    deadline = asyncio.get_running_loop().time() + SETTLING
    while True:
        try:
            async with connected(lambda: MqttBus(own_cluster.address(), mqtt5=False), "test/next") as bus:
                assert bus.address.port in {own_cluster.nodes[1].ports.mqtt, own_cluster.nodes[2].ports.mqtt}
                await bus.publish("test/next", b"on node 2")
                (got,) = await receive(bus, 1, within=SETTLING)
            break
        except BusError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.5)
    assert got.payload == b"on node 2"


@needs_nats
async def test_a_lost_node_sends_the_next_connection_to_the_node_after_it(own_cluster: NatsCluster) -> None:
    """Connected to node 1, which dies: the bus ends, and the next connection goes to node 2 first."""
    address = own_cluster.address()
    async with MqttBus(address, mqtt5=False) as bus:
        assert bus.address.port == own_cluster.nodes[0].ports.mqtt
        own_cluster.kill(0)
        with pytest.raises(BusError, match="lost the broker"):
            await receive(bus, 1)
    assert address.cluster is not None
    assert address.cluster.order() == [1, 2, 0]  # the next round starts after the node lost
    async with connected(lambda: MqttBus(address, mqtt5=False)) as bus:
        assert bus.address.port != own_cluster.nodes[0].ports.mqtt


@needs_nats
async def test_no_node_up_is_one_bus_error_naming_each(own_cluster: NatsCluster) -> None:
    """Every node down: one BusError saying each node's reason (the caller's backoff takes over)."""
    own_cluster.stop()
    with pytest.raises(BusError, match=r"no node of the broker took the connection \(3 tried\)") as failed:
        async with MqttBus(own_cluster.address(), mqtt5=False):
            pass
    assert all(str(node.ports.mqtt) in str(failed.value) for node in own_cluster.nodes)


@needs_nats
async def test_a_persistent_session_keeps_its_messages_over_a_node_loss(own_cluster: NatsCluster) -> None:
    """A session made on node 1 keeps what came while away after node 1 dies: it is handed over on node 2."""
    address = own_cluster.address()
    session = f"test-session-{next(_ids)}"
    async with MqttBus(address, client_id=session, persistent=True, mqtt5=False) as bus:
        await bus.subscribe("test/away", qos=1)
    async with MqttBus(own_cluster.address(2), mqtt5=False) as publisher:
        for number in range(5):
            await publisher.publish("test/away", f"kept {number}".encode())
    own_cluster.kill(0)
    async with connected(lambda: MqttBus(address, client_id=session, persistent=True, mqtt5=False)) as bus:
        assert bus.address.port != own_cluster.nodes[0].ports.mqtt
        got = await receive(bus, 5, within=SETTLING)
    assert [message.payload for message in got] == [f"kept {number}".encode() for number in range(5)]


# --- the router on the cluster


def cable(serial: int) -> bytes:
    """A ROUTINE cable from Rome to Paris (RUEHFR), numbered ``serial``."""
    return (
        f"VZCZCXYZ{serial:04d}\nRR RUEHWEB\nDE RUEHRO #{serial:04d} 0011200\nZNR UUUUU ZZH\n"
        f"R 011200Z JAN 09\nFM AMEMBASSY ROME\nTO AMEMBASSY PARIS\n\nUNCLAS ROME {serial:06d}\n\n"
        f"SUBJECT: CABLE {serial}\n"
    ).encode()


async def start_router(cluster: NatsCluster, journal: Path, log: Path) -> asyncio.subprocess.Process:
    """``router run --broker N3,N1,N2`` as the ``router`` user, its log in ``log``; once it listens."""
    start = log.stat().st_size if log.exists() else 0  # noqa: ASYNC240 (before the process starts)
    with log.open("ab") as stderr:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "router",
            "run",
            "--broker",
            cluster.url(2, 0, 1, user=None),
            "--username",
            ROUTER,
            "--password-file",
            str(cluster.password_file(ROUTER)),
            "--journal",
            str(journal),
            "--time-scale",
            str(FAST),
            stderr=stderr,
            # No copy goes again for want of a receipt, no line is checked for silence (§412b).
            env={
                **os.environ,
                "ROUTER_RECEIPT_TIMEOUT": str(FAST * 100),  # a hundred host seconds: receipts delayed
                "ROUTER_ACK_TIMEOUT": str(FAST * 100),  # by the node loss do not make copies go again
                "ROUTER_CHANNEL_CHECK_AFTER": str(FAST),
                "ROUTER_RECONNECT_MAX": "1",
            },
        )
    async with asyncio.timeout(30):
        while b'"listening"' not in log.read_bytes()[start:]:  # noqa: ASYNC110, ASYNC240 (another process's)
            await asyncio.sleep(0.05)
    return process


async def publish_riding_out(
    address: BrokerAddress, cables: list[bytes], *, after: Callable[[int], None], attempts: int = 60
) -> None:
    """Publish ``cables`` in order, each to its PUBACK, calling ``after`` with the count sent.

    A publish that fails (the node dropped us while the cluster elected new leaders) is made again
    on a new connection, half a second later, at most ``attempts`` times in all: the cable may then
    reach the router twice, and its second copy is a duplicate for the post to file.
    """
    sent = 0
    for _ in range(attempts):
        try:
            async with MqttBus(address, mqtt5=False) as publisher:
                while sent < len(cables):
                    await publisher.publish(topics.intake(f"c{sent + 1}"), cables[sent])
                    sent += 1
                    after(sent)
                return
        except BusError:
            await asyncio.sleep(0.5)
    raise AssertionError(f"{len(cables) - sent} cables not published in {attempts} connections")


@needs_nats
async def test_the_router_fails_over_mid_stream_losing_nothing(
    own_cluster: NatsCluster, tmp_path: Path
) -> None:
    """Node 3, the router's, killed mid-stream: the router moves to node 1, Paris is shown all twenty once.

    Cables are published on node 1 and Paris listens on node 2; a copy the broker hands Paris
    again after the loss is filed as a duplicate, not shown.
    """
    shown: list[str] = []
    readings: list[Reading] = []
    all_shown = asyncio.Event()

    def show(reading: Reading) -> None:
        readings.append(reading)
        if reading.cable is not None:
            shown.append(reading.cable.message_id)
        if len(set(shown)) == 20:
            all_shown.set()

    log = tmp_path / "router.log"
    paris = own_cluster.address(1, user="post-RUEHFR")
    async with post_connection(paris, "RUEHFR", session_expiry=3600) as post:
        await post.subscribe(topics.copies("RUEHFR"), qos=1)  # the session that holds Paris's copies
    station = PostStation("RUEHFR")  # one for the run: its serials carry on across reconnections
    # Paris's node stays up, but may drop Paris while the cluster elects new leaders: Paris
    # reconnects as `router post` does.
    posting = asyncio.create_task(
        reconnecting(
            lambda: post_connection(paris, "RUEHFR", session_expiry=3600),
            lambda bus: serve_post(bus, station, show),
            reconnect_max=1.0,
            on_connected=lambda: None,
            on_lost=lambda _reason, _delay: None,
        )
    )
    router = await start_router(own_cluster, tmp_path / "journal.sqlite", log)
    try:
        await publish_riding_out(
            own_cluster.address(0, user="publisher"),
            [cable(serial) for serial in range(1, 21)],
            after=lambda sent: own_cluster.kill(2) if sent == 8 else None,  # the router's node
        )
        try:
            await asyncio.wait_for(all_shown.wait(), 60)
        except TimeoutError:  # say which, and where the router's log and journal are (rare: seen once)
            missing = sorted({f"RUEHRO-{serial:04d}-0011200" for serial in range(1, 21)} - set(shown))
            pytest.fail(
                f"Paris was not shown {missing} within 60 s; the router's log and journal: {tmp_path}"
            )
    finally:
        posting.cancel()
        router.send_signal(signal.SIGTERM)
        await asyncio.wait_for(router.wait(), 15)
    routed = log.read_text()
    assert "broker-node-moved" in routed
    assert f"127.0.0.1:{own_cluster.nodes[0].ports.mqtt}" in routed.split("broker-node-moved", 1)[1]
    assert sorted(shown) == sorted(f"RUEHRO-{serial:04d}-0011200" for serial in range(1, 21))
    assert all(reading.problem is None for reading in readings)
