"""The MQTT adapter: the one module that imports gmqtt, turning its errors into `BusError`."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import ssl
import time
from contextlib import AbstractAsyncContextManager, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Self, TypeVar

import gmqtt
import gmqtt.mqtt.connection
import structlog
from gmqtt.mqtt.constants import MQTTv50, MQTTv311
from gmqtt.mqtt.handler import MqttPackageHandler
from gmqtt.mqtt.package import Package
from gmqtt.mqtt.protocol import MQTTProtocol
from gmqtt.mqtt.utils import IdGenerator

from router.bus.address import BrokerAddress, Cluster, Node
from router.bus.flow import Inbox, Writer, fixed_header, puback, remaining_length
from router.bus.properties import variable_byte_integer
from router.bus.protocol import Message
from router.errors import BrokerRefusedError, BusError, SubscriptionRefusedError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable
    from types import TracebackType

CONNECT_WITHIN = 10.0
"""Seconds a connection (TCP, TLS, CONNECT and its CONNACK) may take."""
DISCONNECT_WITHIN = 5.0
"""Seconds a disconnection may take before the connection is simply dropped."""
PUBACK_WITHIN = 10.0
"""Seconds `publish` (and `subscribe`, for its SUBACK) waits for the broker's acknowledgement."""
KEEPALIVE = 60
"""Seconds between the pings of an idle connection."""
Connection = TypeVar("Connection")
"""What `reconnecting` connects: a bus, or a test's stand-in for one."""
FIRST_RETRY = 0.5
"""Seconds `reconnecting` waits after the first failed attempt; doubled after each until its cap."""
STEADY_AFTER = 1.0
"""Seconds a connection must have lasted for the wait after it to be the first one again."""
WRONG_LOGIN = "not authorized (a wrong password, or a user it does not know)"
REFUSED_CODES = {4: WRONG_LOGIN, 5: WRONG_LOGIN, 134: WRONG_LOGIN, 135: WRONG_LOGIN, 138: "banned"}
"""CONNACK codes (MQTT 3.1.1: 4, 5; MQTT 5: 134 and up) that a second attempt would get again."""
MAX_PAYLOAD = 268_435_455 - 2 - 65_535 - 2 - 1
"""Bytes a PUBLISH may carry beside its longest topic (MQTT §2.2.3: remaining length < 256 MiB)."""
ACKS_AWAITED_AT_MOST = 896
"""Sends awaiting their PUBACK past which the socket is read, however full the inbox: the same
stream carries the PUBACKs, and a sender waiting for them must not wait for the inbox to be taken.
Below the router's own limit (`router.switch.service.IN_FLIGHT`, 1,024: it waits past that), so
the router never waits for a PUBACK its held-back socket keeps from it."""
PUBACK_REASONS = {
    0x80: "Unspecified error",
    0x83: "Implementation specific error",
    0x87: "Not authorized",
    0x90: "Topic Name invalid",
    0x91: "Packet Identifier in use",
    0x97: "Quota exceeded",
    0x99: "Payload format invalid",
}
"""MQTT 5 §3.4.2.1: the reason codes of a PUBACK that refuses a message, by the standard's names."""

__all__ = ["BrokerAddress", "LastWill", "MqttBus", "reconnecting"]

# gmqtt logs a dropped connection as a warning with its traceback: our `BusError` says it in one
# line, and Python's last-resort handler would print the traceback beside it.
logging.getLogger("gmqtt").addHandler(logging.NullHandler())


@dataclass(frozen=True, slots=True)
class LastWill:
    """What the broker publishes for us if our connection ends without a DISCONNECT (a crash, a kill)."""

    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


class _Link(MqttPackageHandler):  # type: ignore[misc] # gmqtt has no type hints
    """gmqtt's packet handler, with our own handling of PUBLISH, PUBACK and a lost connection.

    Private methods of gmqtt's, hence `gmqtt==0.8.0` pinned: gmqtt hands a message to its callback
    without its packet id, acknowledges it at once or after a task per message, and reports no
    PUBACK (nor its MQTT 5 reason code); and it reconnects by itself after a lost connection,
    which here is `reconnecting`'s job (bounded, logged, a new session object each time).
    """

    bus: MqttBus

    def _handle_publish_packet(self, cmd: int, packet: bytes) -> None:
        # MQTT §3.3: topic (2-byte length), packet id if QoS > 0, MQTT 5 properties, payload.
        qos = (cmd >> 1) & 0x03
        at = 2 + int.from_bytes(packet[:2], "big")
        topic = packet[2:at].decode("utf-8", "replace")
        mid = 0
        if qos:
            mid = int.from_bytes(packet[at : at + 2], "big")
            at += 2
        properties = b""
        if self._connection_state.protocol_version >= MQTTv50:
            # The properties: their length, a variable byte integer, then the properties.
            length = shift = 0
            while True:
                byte = packet[at]
                at += 1
                length |= (byte & 0x7F) << shift
                shift += 7
                if byte < 0x80:  # its continuation bit clear: the last byte
                    break
            if length:
                properties = packet[at : at + length]
            at += length
        bus = self.bus
        if qos == 1 and not bus.manual_ack:
            # Written with this turn's other packets, not at once by gmqtt (a system call each).
            bus._writer.write(puback(mid))  # noqa: SLF001
        elif qos == 2:  # we subscribe at QoS 1 at most: acknowledged as gmqtt does
            self._send_pubrec(mid)
        message = Message(
            topic,
            packet[at:],
            qos,
            bool(cmd & 0x01),
            mid,
            # On the connection for sends, heard ahead: made so at once, not copied so (a receipt a copy).
            ahead=bus._partner is not None,  # noqa: SLF001
            properties=properties,
            redelivered=bool(cmd & 0x08),
        )
        bus._arrived(message)  # noqa: SLF001

    def _handle_puback_packet(self, cmd: int, packet: bytes) -> None:  # noqa: ARG002 (gmqtt's signature)
        mid = int.from_bytes(packet[:2], "big")
        self.id_generator.free_id(mid)
        # MQTT 5 §3.4.2.1: a reason code, if any, after the packet id; none means success.
        self.bus._acknowledged(mid, packet[2] if len(packet) > 2 else 0)  # noqa: SLF001

    def _handle_disconnect_packet(self, cmd: int, packet: bytes) -> None:  # noqa: ARG002
        # The broker's DISCONNECT (MQTT 5), or gmqtt's own stand-in for a closed socket.
        self._connection_lost.set()
        if not self._connack_received.is_set():
            # `connect` waits for a CONNACK that will not come now: let it go, with this error.
            self._error = ConnectionResetError("the broker closed the connection before its CONNACK")
            self._connack_received.set()
        reason = f" (reason code {packet[0]:#x})" if packet else ""
        self.bus._lost(BusError(f"lost the broker at {self.bus.address}{reason}"))  # noqa: SLF001

    def set_connection(self, connection: gmqtt.mqtt.connection.MQTTConnection) -> None:
        # gmqtt's, called as each connection is made, before the broker can send anything: a
        # persistent session's queued messages may come before `connect` returns, and a PUBACK
        # for each goes through our writer.
        super().set_connection(connection)
        writer = self.bus._writer  # noqa: SLF001
        writer.transport, writer.loop = connection._transport, asyncio.get_running_loop()  # noqa: SLF001

    def _apply_receive_maximum(self) -> None:
        # MQTT 5 CONNACK's Receive Maximum would cap gmqtt's packet ids (Mosquitto: 256) and fail a
        # send past it; the broker acknowledges QoS 1 at once, and the caller bounds what is in flight.
        pass


class _PacketIds(IdGenerator):  # type: ignore[misc] # gmqtt has no type hints
    """gmqtt's packet ids (PUBLISH, SUBSCRIBE: one series, MQTT §2.2.1), without its debug log calls.

    The next id not in use after the last one given, 1 to 65,535 round again; an id is free again
    at its PUBACK (or SUBACK). gmqtt's own asks the logging module twice a copy whether to log.
    """

    _used_ids: set[int]
    _last_used_id: int
    _max: int

    def next_id(self) -> int:
        used = self._used_ids
        top = self._max - 1
        if len(used) >= top:
            raise OverflowError("all packet ids are in use")
        mid = self._last_used_id
        while True:
            mid = mid + 1 if mid < top else 1
            if mid not in used:
                break
        used.add(mid)
        self._last_used_id = mid
        return mid

    def free_id(self, mid: int) -> None:
        self._used_ids.discard(mid)


class _Reader(MQTTProtocol):  # type: ignore[misc] # gmqtt has no type hints
    """gmqtt's protocol, cutting each read into packets as it arrives, in `data_received`.

    gmqtt's own reading feeds an asyncio StreamReader, wakes a task for each read, joins what it
    read to a bytes buffer and hands each packet on through `put_package`, the handler's
    `__call__` and a look-up by name: more of the adapter's CPU than our handling of the packet.
    Here the bytes of one read are cut into packets at once; PUBLISH and PUBACK (all but a few
    packets of a connection) go straight to the handler's methods for them (`_Link`'s), the rest
    through `put_package` as before; a packet a read ends inside waits in one bytearray for the
    next read to finish it. Private methods of gmqtt's, hence `gmqtt==0.8.0` pinned.
    """

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self._pending = bytearray()
        """The start of a packet not all here yet, from earlier reads."""
        self._wanted = 0
        """The size of that packet, header and all, once its header is here; 0 until then."""

    def connection_made(self, transport: asyncio.Transport) -> None:
        # gmqtt's base protocol's, not MQTTProtocol's: that one starts the read loop this replaces.
        super(MQTTProtocol, self).connection_made(transport)

    def eof_received(self) -> bool:
        # The StreamReader's protocol keeps the socket open at the broker's EOF for gmqtt's read
        # loop to close it; with no loop, the transport closes it (`connection_lost`, as before).
        return False

    def data_received(self, data: bytes) -> None:
        connection = self._connection
        if connection._handler.current_connection is not connection or self._transport.is_closing():  # noqa: SLF001
            return  # a connection replaced, or closing: what it reads is for nobody (as gmqtt)
        connection._last_data_in = time.monotonic()  # noqa: SLF001 (gmqtt's keepalive reads it)
        at = self._finish(data) if self._pending else 0
        if at >= 0:
            end = self._cut(data, at)
            if 0 <= end < len(data):
                self._pending += memoryview(data)[end:]

    def _finish(self, data: bytes) -> int:
        """Finish the packet begun in earlier reads with the start of ``data``, not with a copy of it all.

        In a burst nearly every read (a few hundred KiB) ends inside a packet. Where the packets after
        it start in ``data``; -1 if none do (all of ``data`` taken, or the connection closed).
        """
        pending = self._pending
        at = 0
        while True:
            begun = len(pending)
            # Up to its end if its length is known, else up to the end of its header (five bytes).
            upto = at + (self._wanted or 5) - begun
            pending += memoryview(data)[at:upto]
            if len(pending) < self._wanted:
                return -1  # a long PUBLISH still arriving: cut once whole, not at each read
            joined = bytes(pending)
            pending.clear()
            end = self._cut(joined, 0)
            if end >= begun or end < 0:
                return end if end < 0 else at + end - begun
            pending += joined  # its header was not all here: it is now, unless ``data`` ran out
            if upto >= len(data):
                return -1
            at = upto

    def _cut(self, data: bytes, at: int) -> int:
        """Hand on each whole packet in ``data`` from ``at``: where the first one not all here starts.

        -1 if a packet is malformed: the connection is closed.
        """
        handler = self._connection._handler  # noqa: SLF001 (see the class)
        publish = handler._handle_publish_packet  # noqa: SLF001
        puback = handler._handle_puback_packet  # noqa: SLF001
        size = len(data)
        self._wanted = 0
        while at + 1 < size:
            # MQTT §2.2: the packet type and flags, then the remaining length (`_remaining_length`);
            # one byte for a PUBACK, read here without a call.
            start = at + 2
            length = data[at + 1]
            if length > 0x7F:
                try:
                    start, length = remaining_length(data, at + 1)
                except ValueError:
                    # MQTT §4.8 (MQTT 5 §4.13): a malformed packet closes the network connection.
                    self._pending.clear()
                    self._transport.close()
                    return -1
                if not start:
                    break
            end = start + length
            if end > size:
                self._wanted = end - at
                break
            command = data[at]
            kind = command & 0xF0
            try:
                if kind == 0x40:  # MQTT §2.2.1: PUBACK
                    puback(command, data[start:end])
                elif kind == 0x30:  # PUBLISH
                    publish(command, data[start:end])
                else:
                    self._connection.put_package(Package(command, data[start:end]))
            except Exception:  # one packet's failure leaves the others (gmqtt's handler logs it too)
                handler._logger.exception("[MqttPackageHandler] error handling package")  # noqa: SLF001
            at = end
        return at


# gmqtt builds a connection's protocol itself, `partial(MQTTProtocol, ...)` in
# `MQTTConnection.create_connection`, looking the name up in its module at each connection, and
# takes no other: ours is put there. For every gmqtt client of the process, but only this module
# imports gmqtt, and `_Reader` hands packets to any handler of gmqtt's as gmqtt would.
gmqtt.mqtt.connection.MQTTProtocol = _Reader


class _Connecting:
    """How a bus connects: to its one node, or to the first of a cluster's nodes that takes it.

    `MqttBus`'s connecting half, apart from what it does once connected: a new client and
    connection state for each node tried (`_prepare`); a failed attempt is closed by
    `MqttBus._close`, and the broker's acknowledgements go to `MqttBus._acknowledged`.
    """

    address: BrokerAddress
    _session: tuple[str | None, bool, int, LastWill | None]
    """The client id, whether the session is persistent, its expiry (MQTT 5), the Last Will."""
    _closing: bool

    def _acknowledged(self, mid: int, reason: int) -> None:
        raise NotImplementedError

    def _prepare(self, address: BrokerAddress, *, mqtt5: bool) -> None:
        """A new gmqtt client for one node at ``address``, and a new connection's state.

        Made again for each node tried and for each protocol version: a client whose connection
        failed has lost its state (`_lost`), and gmqtt's keeps its own.
        """
        client_id, persistent, session_expiry, will = self._session
        self.address = address
        self._mqtt5 = mqtt5
        # MQTT 5: keep the session (subscriptions, queued QoS 1 messages) while we are away; MQTT
        # 3.1.1 (amqtt, NATS) has no properties: a persistent session is one not cleaned.
        properties = {"session_expiry_interval": session_expiry} if persistent and mqtt5 else {}
        self._client = gmqtt.Client(
            client_id,
            clean_session=not persistent,
            will_message=None
            if will is None
            else gmqtt.Message(will.topic, will.payload, qos=will.qos, retain=will.retain),
            **properties,
        )
        self._client.stop_reconnect()  # after a refused CONNACK; a lost connection is `_Link`'s
        # gmqtt builds its handler itself and takes no other: ours is the same object, given our
        # methods (`_Link` adds methods only, no state of its own but the bus it reports to).
        link = self._client._package_handler  # noqa: SLF001 (see `_Link`)
        link.__class__ = _Link
        link.bus = self
        link.id_generator = _PacketIds(max=link.id_generator._max)  # noqa: SLF001 (see `_PacketIds`)
        self._link: _Link = link
        # SUBACK: its return codes, 0x80 and up a refusal (one a filter; we send one at a time).
        self._client.on_subscribe = lambda _client, mid, codes, *_: self._acknowledged(
            mid, max(codes, default=0)
        )
        if address.username is not None:
            self._client.set_auth_credentials(address.username, address.password)
        self._acks: dict[int, asyncio.Future[None]] = {}
        """QoS 1 sends (and subscriptions) awaiting their PUBACK (SUBACK), by packet id."""
        self._checked: dict[int, str | None] = {}
        """`publish`'s sends by packet id: the broker's reason for refusing one (MQTT 5), else None."""
        self._gone: BusError | None = None
        """Why the connection is over, once it is."""
        self._writer = Writer()
        self._inbox = Inbox(self._writer)
        self._last_mid = 0
        self._partner: MqttBus | None = None
        """The bus this one sends for (``sends_apart``): lost with it."""

    async def _close(self) -> None:
        raise NotImplementedError

    async def _connect_cluster(self, cluster: Cluster) -> None:
        """Connect to the first node of the cluster that takes us, once each, from `Cluster.first` on.

        A round of them all failing raises: the caller's `reconnecting` waits and starts another.
        A login refused by every node that answered stays refused (`BrokerRefusedError`).
        """
        failed: list[BusError] = []
        for index in cluster.order():
            node = cluster.nodes[index]
            if failed:
                self._prepare(self.address.at(node), mqtt5=self._mqtt5)
            else:
                self.address = self.address.at(node)
            try:
                await self._connect_node()
            except BusError as exc:
                failed.append(exc)
                continue
            before = cluster.connected(index)
            if failed or (before is not None and before != index):
                _moved(node, index, len(cluster.nodes), failed)
            return
        refused = [error for error in failed if isinstance(error, BrokerRefusedError)]
        if refused:
            raise refused[0]
        reasons = "; ".join(str(error) for error in failed)
        raise BusError(f"no node of the broker took the connection ({len(failed)} tried): {reasons}")

    async def _connect_node(self) -> None:
        """Connect to the one node at `address`: MQTT 5 if asked, else (or if it speaks only that) 3.1.1.

        NATS speaks MQTT 3.1.1 only, and closes a connection that asks for 5 before its CONNACK:
        a broker that does so (or answers 'unacceptable protocol version') is asked again in 3.1.1.
        """
        try:
            await self._connect_once()
        except BusError as exc:
            if not self._mqtt5 or isinstance(exc, BrokerRefusedError) or not _may_want_311(exc):
                raise
            self._prepare(self.address, mqtt5=False)
            await self._connect_once()

    async def _connect_once(self) -> None:
        try:
            async with asyncio.timeout(CONNECT_WITHIN):
                await self._client.connect(
                    self.address.host,
                    self.address.port,
                    ssl=self.address.ssl_context() or False,
                    keepalive=KEEPALIVE,
                    version=MQTTv50 if self._mqtt5 else MQTTv311,
                )
        except (gmqtt.MQTTConnectError, OSError, TimeoutError) as exc:
            with suppress(Exception):
                await self._close()
            raise _connect_error(self.address, exc) from exc
        # Nagle's algorithm holds a small packet (a PUBACK) until the last one is acknowledged,
        # and the broker delays its TCP acknowledgements: 40 ms lost on nearly every message.
        transport = self._client._connection._transport  # noqa: SLF001 (gmqtt gives no other way)
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in {socket.AF_INET, socket.AF_INET6}:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._closing = False


class MqttBus(_Connecting):
    """A `Bus` on a real MQTT broker, used as ``async with MqttBus(address, ...) as bus``."""

    def __init__(  # noqa: PLR0913 (keyword-only options of one connection)
        self,
        address: BrokerAddress,
        *,
        client_id: str | None = None,
        persistent: bool = False,
        session_expiry: int = 3600,
        manual_ack: bool = False,
        mqtt5: bool = True,
        will: LastWill | None = None,
        sends_apart: bool = False,
    ) -> None:
        self.address = address
        """The node connected to (or to be): one of the cluster's, if ``address`` has several."""
        self.manual_ack = manual_ack
        """Each QoS 1 message is acknowledged by `ack`, not as it arrives (the broker redelivers it)."""
        self._cluster = address.cluster
        """The nodes of a clustered broker (a list of URLs), tried in order by `__aenter__`."""
        self._sender = (
            MqttBus(
                address.at(address.nodes[0]),  # moved to the node the bus reaches, in `__aenter__`
                client_id=f"{client_id}-sends" if client_id else None,
                persistent=persistent,
                session_expiry=session_expiry,
                manual_ack=manual_ack,
                mqtt5=mqtt5,
            )
            if sends_apart
            else None
        )
        """``sends_apart``: a second connection of its own for what this bus sends, and for what it
        hears ahead (`subscribe`'s ``ahead``). The PUBACKs of the sends, and the receipts, then never
        wait behind messages the inbox holds back (`Inbox`): a switch taking a flood slower than it
        comes holds the broker back on one connection and gets its PUBACKs and receipts on the
        other. Either connection lost, the bus is lost."""
        self._session = (client_id, persistent, session_expiry, will)
        """What each new client for a node is made with (`_prepare`)."""
        self._closing = False
        """Our own `_close` has begun: the end of the connection is no lost node."""
        self._prepare(address.at(address.nodes[0]), mqtt5=mqtt5)

    async def __aenter__(self) -> Self:
        if self._cluster is None:
            await self._connect_node()
        else:
            await self._connect_cluster(self._cluster)
        if self._sender is not None:
            # On the node this bus reached, in the protocol it speaks: one node for both connections.
            self._sender._prepare(self.address, mqtt5=self._mqtt5)  # noqa: SLF001 (its own other connection)
            try:
                await self._sender.__aenter__()
            except BusError:
                await self._close()
                raise
            self._sender._partner = self  # noqa: SLF001 (its own other connection, below too)
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self._close()

    async def _close(self) -> None:
        """A clean DISCONNECT, but never an unbounded wait for it: a stop must stop.

        The connection is over whatever its closing says: a TLS broker may send data after its
        close_notify (``APPLICATION_DATA_AFTER_CLOSE_NOTIFY``), one gone resets the socket.
        """
        self._closing = True
        self._writer.flush()  # what was handed over goes before the DISCONNECT
        if self._sender is not None:
            # Closed whatever ended the bus: a loss of the other connection leaves this one open.
            await self._sender._close()  # noqa: SLF001
        with suppress(TimeoutError, OSError):
            async with asyncio.timeout(DISCONNECT_WITHIN):
                await self._client.disconnect()
        self._lost(BusError(f"disconnected from the broker at {self.address}"))

    async def publish(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False, properties: bytes = b""
    ) -> None:
        """Publish; at QoS 1 this returns once the broker has acknowledged (PUBACK).

        ``BusError`` when the broker refuses it (MQTT 5 tells: a payload over its
        ``message_size_limit`` is acknowledged with an error and not passed on).
        """
        if self._sender is not None:
            await self._sender.publish(topic, payload, qos=qos, retain=retain, properties=properties)
            return
        future = self.send(topic, payload, qos=qos, retain=retain, properties=properties)
        mid = self._last_mid
        self._checked[mid] = None
        try:
            await asyncio.wait_for(future, PUBACK_WITHIN)
        except TimeoutError:
            raise BusError(f"publish on {topic} failed: no PUBACK within {PUBACK_WITHIN:g} s") from None
        finally:
            refused = self._checked.pop(mid, None)
        if refused is not None:
            raise BusError(f"the broker refused the message on {topic} ({len(payload)} bytes): {refused}")

    def send(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False, properties: bytes = b""
    ) -> asyncio.Future[None]:
        """Hand a message to the connection now, in call order; the future completes at its PUBACK.

        The PUBLISH is encoded here, not by gmqtt's `publish`, which builds a message object, looks
        its properties up and keeps a copy of each packet for a reconnection we do not let it make;
        and the packets of one turn of the event loop go out in one write (a system call each
        cost more than the encoding).
        """
        if self._sender is not None:
            return self._sender.send(topic, payload, qos=qos, retain=retain, properties=properties)
        header = self._writer.header(topic)
        if self._gone is not None:
            raise BusError(f"publish on {topic} failed: {self._gone}")
        if len(payload) > MAX_PAYLOAD:
            raise BusError(f"publish on {topic} failed: {len(payload)} bytes is over MQTT's limit")
        future: asyncio.Future[None] = (self._writer.loop or asyncio.get_running_loop()).create_future()
        if qos == 0:
            future.set_result(None)
        else:
            try:
                mid = self._link.id_generator.next_id()
            except OverflowError as exc:  # 65,535 sends in flight: the caller bounds them far below
                raise BusError(f"publish on {topic} failed: {exc}") from exc
            self._acks[mid] = future
            self._last_mid = mid
            if self._inbox.held_back and len(self._acks) > ACKS_AWAITED_AT_MOST:
                self._inbox.read_again()  # the PUBACKs are behind what the full inbox holds back
            header += mid.to_bytes(2, "big")
        if self._mqtt5:  # MQTT 5 §3.3.2.3: the properties' length, then them (3.1.1 has none)
            header += variable_byte_integer(len(properties)) + properties if properties else b"\x00"
        self._writer.write(
            fixed_header(0x30 | qos << 1 | retain, len(header) + len(payload)) + header, payload
        )
        return future

    async def ack(self, message: Message) -> None:
        """Acknowledge a QoS 1 message received with manual acknowledgement (PUBACK), where it came."""
        if message.ahead and self._sender is not None:
            await self._sender.ack(message)
        elif self.manual_ack and message.qos == 1 and self._gone is None:
            self._writer.write(puback(message.mid))

    async def subscribe(self, topic_filter: str, *, qos: int = 1, ahead: bool = False) -> None:
        """Subscribe to ``topic_filter`` at ``qos``; returns once the broker has it (SUBACK).

        ``ahead`` (with ``sends_apart``): on the connection for sends, not behind the inbox's backlog.
        """
        if ahead and self._sender is not None:
            await self._sender.subscribe(topic_filter, qos=qos)
            return
        if self._gone is not None:
            raise BusError(f"subscribe to {topic_filter} failed: {self._gone}")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        mid = self._client.subscribe(topic_filter, qos=qos)
        self._acks[mid] = future
        self._checked[mid] = None
        try:
            await asyncio.wait_for(future, PUBACK_WITHIN)
        except TimeoutError:
            raise BusError(
                f"subscribe to {topic_filter} failed: no SUBACK within {PUBACK_WITHIN:g} s"
            ) from None
        finally:
            refused = self._checked.pop(mid, None)
        if refused is not None:
            # A filter the user may not read (amqtt, NATS), or a NATS node that could not make the
            # subscription's JetStream consumer (while its cluster elects leaders): either way
            # nothing would come, and saying so beats waiting for it.
            raise SubscriptionRefusedError(
                f"the broker refused the subscription to {topic_filter}: {refused}"
            )

    async def messages(self) -> AsyncIterator[Message]:
        """The messages received, in arrival order; what arrived meanwhile is handed over at once."""
        inbox = self._inbox
        while True:
            while (message := inbox.take()) is not None:
                yield message
            if self._gone is not None:
                raise self._gone
            await inbox.wait()

    def _arrived(self, message: Message) -> None:
        partner = self._partner
        if partner is not None:  # heard ahead on the connection for sends (`ahead`): to the bus's own inbox
            partner._inbox.put(message, may_hold_back=False)  # noqa: SLF001
            return
        self._inbox.put(message, may_hold_back=len(self._acks) <= ACKS_AWAITED_AT_MOST)

    def _acknowledged(self, mid: int, reason: int) -> None:
        if reason >= 0x80 and mid in self._checked:  # MQTT 5: 0x80 and up refuse
            self._checked[mid] = PUBACK_REASONS.get(reason, f"reason code {reason:#x}")
        future = self._acks.pop(mid, None)
        if future is not None and not future.done():
            future.set_result(None)

    def _lost(self, error: BusError) -> None:
        """The connection is over: fail what waits for an acknowledgement, end `messages`."""
        if self._gone is None:
            self._gone = error
            cluster = self._cluster
            if cluster is not None and not self._closing and cluster.current is not None:
                cluster.lost(cluster.current)  # the next connection tries the next node first
        # The sends still waiting for their PUBACK fail at once: the broker may have dropped them
        # (Mosquitto disconnects a client whose message is too large).
        self._writer.drop()
        waiting, self._acks = self._acks, {}
        for future in waiting.values():
            if not future.done():
                future.set_exception(BusError(f"lost the broker at {self.address} before its PUBACK"))
                future.add_done_callback(_retrieved)
        self._inbox.wake()
        for other in (self._partner, self._sender):
            if other is not None and other._gone is None:  # noqa: SLF001
                other._lost(error)  # noqa: SLF001 (one connection of a bus lost: the bus is lost)


async def reconnecting(  # noqa: PLR0913 (keyword-only: what to tell, and when to stop)
    connect: Callable[[], AbstractAsyncContextManager[Connection]],
    work: Callable[[Connection], Awaitable[None]],
    *,
    reconnect_max: float,
    on_connected: Callable[[], None],
    on_lost: Callable[[str, float], None],
    stop: asyncio.Event | None = None,
    first_retry: float = FIRST_RETRY,
) -> None:
    """Connect and run ``work`` on the bus; when the broker goes away (or is not there), wait, connect again.

    The wait is ``first_retry``, doubled after each failed attempt up to ``reconnect_max``, and reset
    after a connection that lasted `STEADY_AFTER`: one lost at once (a subscription the broker
    refuses at every start, a broker that drops us as soon as we come) is a failed attempt, not a
    twice-a-second loop. ``on_lost`` is told why and how long each wait is. It ends when ``work``
    returns or ``stop`` is set, never by itself otherwise: a Ctrl-C (cancellation) ends it too, and
    a login or certificate the broker refuses raises its `BrokerRefusedError` at once.
    """
    delay = first_retry
    while stop is None or not stop.is_set():
        refused: BrokerRefusedError | None = None
        connected_at: float | None = None
        try:
            async with connect() as bus:
                connected_at = time.monotonic()
                on_connected()
                await work(bus)
                return
        except* BrokerRefusedError as refusals:
            first = refusals.exceptions[0]
            refused = first if isinstance(first, BrokerRefusedError) else None
            reason = str(first)
        except* BusError as group:
            reason = str(group.exceptions[0])
        if refused is not None:
            raise refused  # a login refused stays refused: saying so beats trying forever
        if connected_at is not None and time.monotonic() - connected_at >= STEADY_AFTER:
            delay = first_retry  # it worked for a while: the broker went away, come back soon
        on_lost(reason, delay)
        if stop is None:
            await asyncio.sleep(delay)  # the backoff itself: there is nothing to wait for but time
        else:
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
        delay = min(delay * 2, reconnect_max)


def _connect_error(address: BrokerAddress, exc: Exception) -> BusError:
    """Why a connection failed, in one line; `BrokerRefusedError` when trying again cannot help."""
    tls = _tls_error(exc)
    if tls is not None:
        # The broker's certificate not signed by our CA (or not naming its host), or ours refused.
        reason = str(getattr(tls, "reason", None) or tls)
        if "ALERT" in reason:  # the broker's word: it did not take our certificate
            return BrokerRefusedError(
                f"the broker at {address} refused the client certificate {address.certfile}: {reason}"
            )
        trusted = f"the CA in {address.cafile}" if address.cafile else "the system's CAs"
        why = getattr(tls, "verify_message", None) or reason
        checked = f"its certificate checked against {trusted}"
        return BrokerRefusedError(f"TLS handshake with the broker at {address} failed: {why} ({checked})")
    code = getattr(exc, "_code", None)  # gmqtt's MQTTConnectError: the CONNACK's return code
    if isinstance(code, int) and code in REFUSED_CODES:
        who = f"user {address.username!r}" if address.username else "an anonymous client (no --username)"
        return BrokerRefusedError(f"the broker at {address} refused {who}: {REFUSED_CODES[code]}")
    if isinstance(exc, TimeoutError):
        return BusError(f"cannot connect to the broker at {address}: no CONNACK within {CONNECT_WITHIN:g} s")
    if isinstance(exc, OSError) and exc.errno is not None:
        # asyncio says "Connect call failed ('127.0.0.1', 1883)": the system's own words say why.
        return BusError(
            f"cannot connect to the broker at {address}: [Errno {exc.errno}] {os.strerror(exc.errno)}"
        )
    return BusError(f"cannot connect to the broker at {address}: {exc}")


def _may_want_311(error: BusError) -> bool:
    """Whether a failed MQTT 5 connection may be a broker that speaks 3.1.1 only."""
    cause = error.__cause__
    if isinstance(cause, ConnectionResetError):  # closed before its CONNACK (NATS does)
        return True
    return getattr(cause, "_code", None) == 1  # MQTT 3.1.1's CONNACK 1: unacceptable protocol version


def _moved(node: Node, index: int, count: int, failed: list[BusError]) -> None:
    """Say in one line which node of a clustered broker the connection moved to, and why."""
    why = f"; before it: {'; '.join(map(str, failed))}" if failed else "; the node before was lost"
    line = f"broker node {index + 1} of {count} ({node}) took the connection{why}"
    if structlog.is_configured():  # the service's log (router run): JSON lines with the rest
        structlog.get_logger("router").warning("broker-node-moved", node=str(node), reason=line)
    else:  # a client command: one line on stderr, not in its output
        logging.getLogger("router.bus").warning("%s", line)


def _tls_error(exc: BaseException) -> ssl.SSLError | None:
    """The TLS error behind ``exc``, if one is."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _retrieved(future: asyncio.Future[None]) -> None:
    """Mark a failed send's error as seen: whoever awaits it raises it; nobody else need hear of it."""
    future.exception()
