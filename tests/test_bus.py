"""The bus contract, held by the in-memory bus and by the MQTT adapter on a real Mosquitto."""

from __future__ import annotations

import itertools
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING

import pytest

from router.bus.broker import Mosquitto, free_port
from router.bus.memory import MemoryBroker
from router.bus.mqtt import BrokerAddress, MqttBus
from router.bus.protocol import Bus
from router.bus.topics import topic_matches
from router.errors import BusError
from tests.helpers import receive

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

BusPair = tuple[Bus, Bus]
_ids = itertools.count()


@asynccontextmanager
async def memory_pair(_: pytest.FixtureRequest) -> AsyncIterator[BusPair]:
    broker = MemoryBroker()
    yield broker.connect(), broker.connect()


@asynccontextmanager
async def mqtt_pair(request: pytest.FixtureRequest) -> AsyncIterator[BusPair]:
    broker: Mosquitto = request.getfixturevalue("mosquitto")
    address = BrokerAddress.parse(broker.url)
    async with AsyncExitStack() as stack:
        first = await stack.enter_async_context(MqttBus(address, client_id=f"test-a{next(_ids)}"))
        second = await stack.enter_async_context(MqttBus(address, client_id=f"test-b{next(_ids)}"))
        yield first, second


@pytest.fixture(params=[memory_pair, mqtt_pair], ids=["memory", "mosquitto"])
async def buses(request: pytest.FixtureRequest) -> AsyncIterator[BusPair]:
    """A subscriber and a publisher on the same broker: in memory, then on a real Mosquitto."""
    make: Callable[[pytest.FixtureRequest], AsyncIterator[BusPair]] = request.param
    async with make(request) as pair:  # type: ignore[attr-defined]
        yield pair


async def test_a_subscriber_gets_what_matches_its_filter(buses: BusPair) -> None:
    """Messages reach the subscriptions their topic matches, and only those."""
    subscriber, publisher = buses
    await subscriber.subscribe("cables/out/+")
    await publisher.publish("cables/in/x", b"not for the subscriber")
    await publisher.publish("cables/out/RUEHC", b"one")
    await publisher.publish("cables/out/RUEHC/extra", b"not matched by +")
    await publisher.publish("cables/out/RUEHFR", b"two")
    got = await receive(subscriber, 2)
    assert [(m.topic, m.payload) for m in got] == [
        ("cables/out/RUEHC", b"one"),
        ("cables/out/RUEHFR", b"two"),
    ]


async def test_retained_messages_reach_a_later_subscriber(buses: BusPair) -> None:
    """A retained message is handed to whoever subscribes after it, marked retained."""
    subscriber, publisher = buses
    topic = f"router/status/{next(_ids)}"
    await publisher.publish(topic, b"depths", retain=True)
    await subscriber.subscribe(topic)
    (got,) = await receive(subscriber, 1)
    assert (got.topic, got.payload, got.retain) == (topic, b"depths", True)
    await publisher.publish(topic, b"", retain=True)  # clear it for later tests


async def test_qos1_messages_from_one_publisher_keep_their_order(buses: BusPair) -> None:
    """A hundred QoS 1 messages arrive once each, in the order sent."""
    subscriber, publisher = buses
    await subscriber.subscribe("order/#", qos=1)
    for number in range(100):
        await publisher.publish(f"order/{number % 7}", str(number).encode(), qos=1)
    got = await receive(subscriber, 100)
    assert [int(m.payload) for m in got] == list(range(100))


@pytest.mark.parametrize("topic", ["cables/out/+", "cables/#", "", "bad\x00topic"])
async def test_no_message_is_published_on_a_wildcard_or_broken_topic(buses: BusPair, topic: str) -> None:
    """Publishing on a wildcard, empty or NUL topic is refused before it reaches the broker."""
    _, publisher = buses
    with pytest.raises(BusError, match="not a valid topic"):
        await publisher.publish(topic, b"x")


@pytest.mark.parametrize(
    ("topic_filter", "topic", "matches"),
    [
        ("cables/in/#", "cables/in/a/b", True),
        ("cables/in/#", "cables/in", True),
        ("cables/+/RUEHC", "cables/out/RUEHC", True),
        ("cables/+", "cables/out/RUEHC", False),
        ("#", "$SYS/broker/uptime", False),
        ("$SYS/#", "$SYS/broker/uptime", True),
        ("cables/out/RUEHC", "cables/out/RUEHFR", False),
    ],
)
def test_topic_filters_follow_mqtt(topic_filter: str, topic: str, matches: bool) -> None:
    """`+` matches one level, `#` the rest, and `$` topics only a filter that names them."""
    assert topic_matches(topic_filter, topic) is matches


async def test_an_absent_broker_is_a_bus_error() -> None:
    """Connecting where no broker listens fails with a BusError that says where."""
    address = BrokerAddress("127.0.0.1", free_port())
    with pytest.raises(BusError, match=f"cannot connect to the broker at {address}"):
        async with MqttBus(address):
            pass


@pytest.mark.parametrize("url", ["http://host:1883", "mqtt://", "mqtt://host:port"])
def test_a_bad_broker_address_is_refused(url: str) -> None:
    """Only mqtt://host[:port] is a broker address."""
    with pytest.raises(BusError):
        BrokerAddress.parse(url)


@pytest.mark.parametrize("mqtt5", [True, False], ids=["mqtt5", "mqtt3.1.1"])
async def test_a_message_not_acknowledged_comes_again_and_an_acknowledged_one_does_not(
    mosquitto: Mosquitto, mqtt5: bool
) -> None:
    """With manual acknowledgement, the broker redelivers what was taken but not acked; once acked, never."""
    address = BrokerAddress.parse(mosquitto.url)
    name = f"test-manual-{next(_ids)}"
    topic = f"test/manual/{name}"

    def session() -> MqttBus:
        return MqttBus(address, client_id=name, persistent=True, manual_ack=True, mqtt5=mqtt5)

    async with session() as reader:
        await reader.subscribe(topic)
        async with MqttBus(address, client_id=f"{name}-sender") as sender:
            await sender.publish(topic, b"FIRST")
            await sender.publish(topic, b"SECOND")
        got = await receive(reader, 2)
        await reader.ack(got[0])
    assert [m.payload for m in got] == [b"FIRST", b"SECOND"]
    async with session() as reader:
        again = await receive(reader, 1)
        await reader.ack(again[0])
    assert [m.payload for m in again] == [b"SECOND"]


async def test_a_lost_connection_fails_the_sends_awaiting_their_puback(mosquitto: Mosquitto) -> None:
    """Sends waiting for their PUBACK when the connection goes fail with a BusError; so do later ones."""
    async with MqttBus(BrokerAddress.parse(mosquitto.url), client_id=f"test-lost-{next(_ids)}") as bus:
        pending = bus.send("test/lost", b"X")
        assert bus._writer.transport is not None
        bus._writer.transport.abort()  # the socket gone under the client, as when the broker dies
        with pytest.raises(BusError, match="before its PUBACK"):
            await pending
        with pytest.raises(BusError, match="publish on test/lost failed"):
            bus.send("test/lost", b"Y")
        with pytest.raises(BusError, match="lost the broker"):
            await receive(bus, 1)
