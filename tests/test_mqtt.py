"""The MQTT adapter's reading: packets cut from the bytes as they arrive, however the reads split them."""

from __future__ import annotations

import asyncio
import itertools
from typing import TYPE_CHECKING

import pytest

from router.bus.flow import INBOX_MESSAGES, fixed_header
from router.bus.mqtt import ACKS_AWAITED_AT_MOST, BrokerAddress, MqttBus, _PacketIds
from router.errors import BusError
from router.switch.service import IN_FLIGHT
from tests.helpers import receive

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterable

    from router.bus.broker import Mosquitto
    from router.bus.protocol import Message

_ids = itertools.count()
EXPIRY_AND_USER = b"\x02\x00\x00\x0e\x10" + b"\x26\x00\x04from\x00\x05tokyo"
"""MQTT 5 §3.3.2.3: a Message Expiry Interval (3,600 s) and a User Property ("from", "tokyo")."""


def _varint(value: int) -> bytes:
    """MQTT §2.2.3: a variable byte integer, seven bits a byte, least significant first."""
    encoded = bytearray()
    while True:
        value, digit = divmod(value, 128)
        encoded.append(digit | 0x80 if value else digit)
        if not value:
            return bytes(encoded)


@pytest.mark.parametrize("remaining", [0, 127, 128, 2_500, 16_383, 16_384, 2_097_151, 2_097_152, 268_435_455])
def test_a_fixed_header_carries_the_remaining_length_as_a_variable_byte_integer(remaining: int) -> None:
    """MQTT §2.2.3, on both sides of each byte's boundary (one and two bytes have a way of their own)."""
    assert fixed_header(0x32, remaining) == b"\x32" + _varint(remaining)


def test_packet_ids_skip_those_in_use_and_come_round_again() -> None:
    """MQTT §2.2.1: a new PUBLISH or SUBSCRIBE takes a packet id not in use; none free, no send."""
    ids = _PacketIds(max=6)  # ids 1 to 5
    assert [ids.next_id() for _ in range(3)] == [1, 2, 3]
    ids.free_id(2)
    ids.free_id(7)  # not in use: nothing to free
    assert [ids.next_id() for _ in range(3)] == [4, 5, 2]
    with pytest.raises(OverflowError):
        ids.next_id()
    ids.free_id(4)
    assert ids.next_id() == 4


def _publish(  # noqa: PLR0913 (the fields of a PUBLISH)
    topic: str,
    payload: bytes,
    *,
    qos: int = 0,
    mid: int = 0,
    properties: bytes | None = None,
    dup: bool = False,
) -> bytes:
    """A PUBLISH as a broker sends it (MQTT §3.3); ``properties`` (their bytes) for MQTT 5."""
    body = len(topic.encode()).to_bytes(2, "big") + topic.encode()
    if qos:
        body += mid.to_bytes(2, "big")
    if properties is not None:
        body += _varint(len(properties)) + properties
    return bytes([0x30 | dup << 3 | qos << 1]) + _varint(len(body) + len(payload)) + body + payload


def _feed(bus: MqttBus, *reads: bytes) -> None:
    """Hand ``reads`` to the connection's protocol, as the transport hands it what each read returns."""
    protocol = bus._client._connection._protocol
    for data in reads:
        protocol.data_received(data)


def _arrived(bus: MqttBus) -> list[Message]:
    """The messages read so far and not yet taken: there at once, with no task to wait for."""
    got = []
    while (message := bus._inbox.take()) is not None:
        got.append(message)
    return got


def _sent_unwritten(bus: MqttBus) -> tuple[int, asyncio.Future[None]]:
    """A send awaiting its PUBACK whose PUBLISH never leaves: the PUBACK fed here is the only one."""
    future = bus.send("test/reads/out", b"copy")
    bus._writer.drop()
    return bus._last_mid, future


@pytest.fixture(params=[True, False], ids=["mqtt5", "mqtt3.1.1"])
async def bus(request: pytest.FixtureRequest, mosquitto: Mosquitto) -> AsyncIterator[MqttBus]:
    """A connection to a real Mosquitto that subscribes to nothing: what it reads is what a test feeds it.

    Manual acknowledgement, so that a PUBLISH fed at QoS 1 is not acknowledged to a broker that never sent it.
    """
    address = BrokerAddress.parse(mosquitto.url)
    async with MqttBus(
        address, client_id=f"test-reads-{next(_ids)}", manual_ack=True, mqtt5=request.param
    ) as bus:
        yield bus


def _cable_stream(bus: MqttBus, mids: list[int]) -> bytes:
    """Two PUBACKs, a cable at QoS 1 (a two-byte length; MQTT 5 properties), a QoS 0 one, a PUBACK."""
    properties = EXPIRY_AND_USER if bus._mqtt5 else None
    first, second, last = (b"\x40\x02" + mid.to_bytes(2, "big") for mid in mids)
    return (
        first
        + second
        + _publish("cables/in/a", b"C" * 130, qos=1, mid=7, properties=properties)
        + _publish("cables/in/b", b"short", properties=b"" if bus._mqtt5 else None)
        + last
    )


def _read_whole(bus: MqttBus, cuts: Iterable[int]) -> None:
    """Feed `_cable_stream` in reads cut at ``cuts``: every packet arrives whole, in order."""
    sends = [_sent_unwritten(bus) for _ in range(3)]
    stream = _cable_stream(bus, [mid for mid, _ in sends])
    bounds = [0, *cuts, len(stream)]
    reads = [stream[start:end] for start, end in itertools.pairwise(bounds)]
    _feed(bus, *reads)
    got = [(m.topic, m.payload, m.qos, m.mid) for m in _arrived(bus)]
    assert got == [("cables/in/a", b"C" * 130, 1, 7), ("cables/in/b", b"short", 0, 0)], reads
    assert all(future.done() for _, future in sends), reads


async def test_packets_split_into_two_or_three_reads_anywhere_are_read_whole(bus: MqttBus) -> None:
    """PUBACKs and PUBLISH cut into two or three reads at any bytes arrive whole, in order."""
    length = len(_cable_stream(bus, [1, 2, 3]))
    for cut in range(1, length):
        _read_whole(bus, [cut])
    for cuts in itertools.combinations(range(1, length), 2):
        _read_whole(bus, cuts)


async def test_packets_fed_one_byte_a_read_are_read_whole(bus: MqttBus) -> None:
    """The same packets, one byte a read, arrive whole: a header may come in three pieces."""
    _read_whole(bus, range(1, len(_cable_stream(bus, [1, 2, 3]))))


async def test_many_packets_in_one_read_are_all_read(bus: MqttBus) -> None:
    """A hundred PUBACKs and fifty PUBLISH in one read each reach their send or the inbox, in order."""
    sends = [_sent_unwritten(bus) for _ in range(100)]
    properties = b"" if bus._mqtt5 else None
    publishes = [_publish(f"cables/in/{n}", str(n).encode(), properties=properties) for n in range(50)]
    pubacks = [b"\x40\x02" + mid.to_bytes(2, "big") for mid, _ in sends]
    _feed(bus, b"".join(itertools.chain.from_iterable(zip(pubacks, publishes * 2, strict=True))))
    assert [int(m.payload) for m in _arrived(bus)] == [*range(50), *range(50)]
    assert all(future.done() for _, future in sends)


@pytest.mark.parametrize("size", [20_000, 2_304_000], ids=["3-byte length", "4-byte length"])
async def test_a_long_publish_arrives_whole_however_its_header_is_split(bus: MqttBus, size: int) -> None:
    """A PUBLISH with a 3- or 4-byte length, its header cut anywhere, its body in 64 KiB reads, is read."""
    payload = bytes(range(256)) * (size // 256)
    header = 4 if size < 2_097_152 else 5  # MQTT §2.2.3: four length bytes from 2 MiB
    for cut in range(1, header + 1):
        mid, future = _sent_unwritten(bus)
        stream = _publish("cables/in/big", payload, properties=b"" if bus._mqtt5 else None)
        assert stream[header - 1] < 0x80 <= stream[header - 2]  # the last length byte
        stream += b"\x40\x02" + mid.to_bytes(2, "big")
        reads = [stream[:cut], *(stream[at : at + 65_536] for at in range(cut, len(stream), 65_536))]
        _feed(bus, *reads[:-1])
        assert _arrived(bus) == []
        _feed(bus, reads[-1])
        assert [m.payload for m in _arrived(bus)] == [payload]
        assert future.done()


async def test_a_publish_sent_again_says_so(bus: MqttBus) -> None:
    """MQTT §3.3.1.1: DUP marks a PUBLISH the broker sends again (a retransmission): the message says so."""
    properties = b"" if bus._mqtt5 else None
    _feed(
        bus,
        _publish("cables/in/a", b"again", qos=1, mid=9, properties=properties, dup=True),
        _publish("cables/in/b", b"first", qos=1, mid=10, properties=properties),
    )
    assert [(m.payload, m.mid, m.redelivered) for m in _arrived(bus)] == [
        (b"again", 9, True),
        (b"first", 10, False),
    ]


@pytest.mark.parametrize("mqtt5", [True, False], ids=["mqtt5", "mqtt3.1.1"])
async def test_mosquitto_sends_an_unacknowledged_message_again_marked_dup(
    mosquitto: Mosquitto, *, mqtt5: bool
) -> None:
    """MQTT §4.4: a persistent session's unacknowledged QoS 1 message comes again on reconnection, DUP set."""
    address = BrokerAddress.parse(mosquitto.url)
    client_id = f"test-dup-{next(_ids)}"
    async with MqttBus(address, client_id=client_id, persistent=True, manual_ack=True, mqtt5=mqtt5) as taker:
        await taker.subscribe("test/dup/#", qos=1)
        async with MqttBus(address, client_id=f"{client_id}-publisher") as publisher:
            await publisher.publish("test/dup/a", b"once")
        (first,) = await receive(taker, 1)  # and not acknowledged
    async with MqttBus(address, client_id=client_id, persistent=True, manual_ack=True, mqtt5=mqtt5) as taker:
        (again,) = await receive(taker, 1)
        await taker.ack(again)
    assert (first.payload, first.redelivered) == (b"once", False)
    assert (again.payload, again.redelivered) == (b"once", True)


async def test_a_remaining_length_over_four_bytes_closes_the_connection(bus: MqttBus) -> None:
    """A malformed remaining length (a fifth byte) closes the connection: the bus says it lost the broker."""
    _feed(bus, b"\x30\xff\xff\xff\xff\x01")
    with pytest.raises(BusError, match="lost the broker"):
        await receive(bus, 1)


async def test_a_publish_with_mqtt5_properties_comes_through_the_broker(mosquitto: Mosquitto) -> None:
    """A message published with properties reaches an MQTT 5 subscriber: properties skipped, payload whole."""
    address = BrokerAddress.parse(mosquitto.url)
    async with (
        MqttBus(address, client_id=f"test-props-{next(_ids)}") as subscriber,
        MqttBus(address, client_id=f"test-props-{next(_ids)}") as publisher,
    ):
        await subscriber.subscribe("test/props/#")
        # The adapter publishes no properties of its own: this PUBLISH (QoS 0) is written as is.
        publisher._writer.write(_publish("test/props/a", b"PAYLOAD", properties=EXPIRY_AND_USER))
        (got,) = await receive(subscriber, 1)
    assert (got.topic, got.payload) == ("test/props/a", b"PAYLOAD")


@pytest.mark.parametrize("mqtt5", [True, False], ids=["mqtt5", "mqtt3.1.1"])
async def test_a_message_queued_for_an_auto_acknowledging_session_is_acknowledged_once_delivered(
    mosquitto: Mosquitto, mqtt5: bool
) -> None:
    """A message kept for a session away comes at its return (maybe before `connect` ends), and only then."""
    address = BrokerAddress.parse(mosquitto.url)
    name = f"test-auto-{next(_ids)}"
    topic = f"test/auto/{name}"

    def session() -> MqttBus:
        return MqttBus(address, client_id=name, persistent=True, mqtt5=mqtt5)

    async with session() as reader:
        await reader.subscribe(topic)
    async with MqttBus(address, client_id=f"{name}-sender") as sender:
        await sender.publish(topic, b"QUEUED")
    async with session() as reader:
        first = await receive(reader, 1)
    async with session() as reader, MqttBus(address, client_id=f"{name}-sender") as sender:
        await sender.publish(topic, b"MARK")
        then = await receive(reader, 1)
    assert [m.payload for m in first + then] == [b"QUEUED", b"MARK"]


@pytest.mark.parametrize("sends_apart", [False, True], ids=["one connection", "sends apart"])
async def test_a_flood_taken_slowly_is_held_back_at_the_broker_and_loses_nothing(
    mosquitto: Mosquitto, sends_apart: bool
) -> None:
    """Past `INBOX_MESSAGES` not taken, the socket is not read: TCP holds the broker back.

    The router takes a burst at a time, acknowledging as it goes; a publisher may flood faster.
    Mosquitto 2.0.11 then sends past its ``max_inflight_messages`` (tens of thousands ahead), so
    the adapter bounds what it holds itself. Every message still comes, in order; and a sender
    waiting for PUBACKs while the flood is held back gets them. On one connection they come behind
    the flood, which is read for them; with ``sends_apart`` (the router's, `router.switch.serve`)
    on a connection of their own, and the inbox stays near its bound the whole time.
    """
    address = BrokerAddress.parse(mosquitto.url)
    flood = INBOX_MESSAGES * 4
    answered_at = 2 * INBOX_MESSAGES
    name = f"test-flood-{next(_ids)}"
    async with (
        MqttBus(address, client_id=name, manual_ack=True, sends_apart=sends_apart) as reader,
        MqttBus(address, client_id=f"{name}-publisher") as publisher,
    ):
        await reader.subscribe("test/flood/#")
        cable = b" " * 3000  # a cable's size: a read of the socket holds some 80
        sending = asyncio.gather(
            *(publisher.send(f"test/flood/{n}", b"%d" % n + cable) for n in range(flood))
        )
        got: list[int] = []
        most = 0
        async with asyncio.timeout(60):
            async for message in reader.messages():
                got.append(int(message.payload))
                await reader.ack(message)
                if sends_apart or len(got) < answered_at:
                    most = max(most, len(reader._inbox))
                if len(got) % 64 == 0:
                    await asyncio.sleep(0.005)  # a burst's work
                if len(got) == answered_at:  # held back: the rest waits at the broker
                    answers = [
                        reader.send(f"test/answers/{n}", b"A") for n in range(2 * ACKS_AWAITED_AT_MOST)
                    ]
                    await asyncio.gather(*answers)  # their PUBACKs come, past the held-back flood
                if len(got) == flood:
                    break
        await sending
    assert got == list(range(flood))
    assert most < INBOX_MESSAGES + 1024, f"{most} held: the flood was not held back"


def test_the_router_never_waits_for_pubacks_a_held_back_socket_keeps_from_it() -> None:
    """The router waits for PUBACKs past `IN_FLIGHT` sends; the adapter reads again before that."""
    assert ACKS_AWAITED_AT_MOST < IN_FLIGHT


async def _drain(bus: MqttBus) -> None:
    """Take every message until the bus ends."""
    async for _ in bus.messages():
        pass


async def test_a_bus_whose_sending_connection_is_lost_is_lost(mosquitto: Mosquitto) -> None:
    """Either connection of a bus that sends apart gone, the bus is gone: its reader is told at once."""
    address = BrokerAddress.parse(mosquitto.url)
    async with MqttBus(address, client_id=f"test-apart-lost-{next(_ids)}", sends_apart=True) as bus:
        await bus.subscribe("test/apart-lost/#")
        bus._sender._writer.transport.close()  # type: ignore[union-attr]
        with pytest.raises(BusError, match="lost the broker"):
            await asyncio.wait_for(_drain(bus), 5)
        with pytest.raises(BusError):
            bus.send("test/apart-lost/x", b"X")


async def test_receipts_heard_ahead_pass_a_held_back_flood_and_are_acknowledged_where_they_came(
    mosquitto: Mosquitto,
) -> None:
    """``ahead``: receipts come on the connection for sends, not behind the intake's held-back flood.

    Taken as the router takes cables (a burst, then its work), the flood is held back at the broker;
    receipts published in the middle of it come next, not after it. Each message is acknowledged
    on the connection it came on: the sessions, met again, give nothing back.
    """
    address = BrokerAddress.parse(mosquitto.url)
    name = f"test-ahead-{next(_ids)}"
    flood = 4 * INBOX_MESSAGES

    def router_bus() -> MqttBus:
        return MqttBus(address, client_id=name, manual_ack=True, persistent=True, sends_apart=True)

    async with router_bus() as bus, MqttBus(address, client_id=f"{name}-publisher") as publisher:
        await bus.subscribe("test/ahead-cables/#")
        await bus.subscribe("test/ahead-receipts/#", ahead=True)
        cable = b" " * 3000
        sending = asyncio.gather(*(publisher.send(f"test/ahead-cables/{n}", cable) for n in range(flood)))
        taken = published_at = receipts_at = 0
        async with asyncio.timeout(60):
            async for message in bus.messages():
                taken += 1
                await bus.ack(message)
                if message.topic.startswith("test/ahead-receipts/"):
                    assert message.ahead
                    receipts_at = taken
                if taken % 64 == 0:
                    await asyncio.sleep(0.005)  # a burst's work
                if taken == INBOX_MESSAGES:
                    published_at = taken
                    await asyncio.gather(
                        *(publisher.send(f"test/ahead-receipts/{n}", b"R R HFR0001") for n in range(10))
                    )
                if taken == flood + 10:
                    break
        await sending
        # The last acknowledgements a moment to reach the broker: written right before a DISCONNECT,
        # a few were found not honoured (8 messages again at the next session), with or without
        # ``sends_apart``; filed as duplicates by the router, but not what this test is about.
        await asyncio.sleep(0.3)
    assert receipts_at - published_at < INBOX_MESSAGES + 1024, "the receipts did not wait for the flood"
    async with router_bus() as again:
        await asyncio.sleep(0.5)
        left = [m.topic for m in iter(again._inbox.take, None)]
        assert not left, f"everything was acknowledged on the connection it came on: {left}"
