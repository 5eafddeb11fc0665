"""The MQTT adapter: the one module that imports aiomqtt, turning its errors into `BusError`."""

from __future__ import annotations

import asyncio
import socket
import ssl
from contextlib import AbstractAsyncContextManager, AsyncExitStack, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Self, TypeVar

import aiomqtt
from paho.mqtt import client as mqtt

from router.bus.address import BrokerAddress
from router.bus.protocol import Message
from router.bus.topics import valid_topic
from router.errors import BrokerRefusedError, BusError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable
    from types import TracebackType

DISCONNECT_WITHIN = 5.0
"""Seconds a disconnection may take before the connection is simply dropped."""
PUBACK_WITHIN = 10.0
"""Seconds `publish` waits for the broker's acknowledgement of a QoS 1 message."""
Connection = TypeVar("Connection")
"""What `reconnecting` connects: a bus, or a test's stand-in for one."""
FIRST_RETRY = 0.5
"""Seconds `reconnecting` waits after the first failed attempt; doubled after each until its cap."""
WRONG_LOGIN = "not authorized (a wrong password, or a user it does not know)"
REFUSED_CODES = {4: WRONG_LOGIN, 5: WRONG_LOGIN, 134: WRONG_LOGIN, 135: WRONG_LOGIN, 138: "banned"}
"""CONNACK codes (MQTT 3.1.1: 4, 5; MQTT 5: 134 and up) that a second attempt would get again."""

__all__ = ["BrokerAddress", "LastWill", "MqttBus", "reconnecting"]


@dataclass(frozen=True, slots=True)
class LastWill:
    """What the broker publishes for us if our connection ends without a DISCONNECT (a crash, a kill)."""

    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


class MqttBus:
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
    ) -> None:
        self.address = address
        properties = None
        if persistent and mqtt5:
            # MQTT 5: keep the session (subscriptions, queued QoS 1 messages) while we are away.
            from paho.mqtt.packettypes import PacketTypes  # noqa: PLC0415 (paho comes with aiomqtt)
            from paho.mqtt.properties import Properties  # noqa: PLC0415

            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.SessionExpiryInterval = session_expiry
        # MQTT 3.1.1 (amqtt) has no clean start nor properties: a persistent session is one not cleaned.
        session: dict[str, Any] = (
            {"clean_start": not persistent, "properties": properties}
            if mqtt5
            else {"clean_session": not persistent}
        )
        self._client = aiomqtt.Client(
            address.host,
            address.port,
            username=address.username,
            password=address.password,
            tls_context=address.ssl_context(),
            identifier=client_id,
            protocol=aiomqtt.ProtocolVersion.V5 if mqtt5 else aiomqtt.ProtocolVersion.V311,
            # paho holds back every QoS 1 message past 20 unacknowledged, and scans its outgoing
            # messages at each PUBACK to release the next: the caller bounds what is in flight.
            max_inflight_messages=0,
            will=None if will is None else aiomqtt.Will(will.topic, will.payload, will.qos, will.retain),
            **session,
        )
        self._acks: dict[int, asyncio.Future[None]] = {}
        """QoS 1 sends awaiting their PUBACK, by packet id."""
        self._checked: dict[int, str | None] = {}
        """`publish`'s sends by packet id: the broker's reason for refusing one (MQTT 5), else None."""
        if manual_ack:
            # aiomqtt 2 acknowledges a message as it arrives; paho underneath can wait for us, so
            # that no cable is acknowledged before the journal holds it (the broker redelivers).
            self._client._client.manual_ack_set(True)  # noqa: SLF001, FBT003 (paho's own signature)
        self._stack = AsyncExitStack()
        self._last_mid = 0

    async def __aenter__(self) -> Self:
        try:
            await self._stack.enter_async_context(self._client)
        except (aiomqtt.MqttError, OSError) as exc:
            raise _connect_error(self.address, exc) from exc
        # Nagle's algorithm holds a small packet (a PUBACK) until the last one is acknowledged,
        # and the broker delays its TCP acknowledgements: 40 ms lost on nearly every message.
        paho = self._client._client  # noqa: SLF001 (paho underneath: its socket, its publish callback)
        sock = paho.socket()
        if isinstance(sock, socket.socket):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        on_publish = paho.on_publish

        def published(*args: Any) -> None:
            # paho's (client, userdata, mid, reason code, properties): our sends first, then aiomqtt's.
            future = self._acks.pop(args[2], None)
            if args[2] in self._checked and getattr(args[3], "is_failure", False):
                self._checked[args[2]] = str(args[3])  # MQTT 5: PUBACK with an error reason code
            if future is None:
                if on_publish is not None:
                    on_publish(*args)
            elif not future.done():
                future.set_result(None)

        paho.on_publish = published
        on_disconnect = paho.on_disconnect

        def disconnected(*args: Any) -> None:
            # A lost connection fails the sends still waiting for their PUBACK, at once: the broker
            # may have dropped them (Mosquitto disconnects a client whose message is too large).
            if on_disconnect is not None:
                on_disconnect(*args)
            waiting, self._acks = self._acks, {}
            for future in waiting.values():
                if not future.done():
                    future.set_exception(BusError(f"lost the broker at {self.address} before its PUBACK"))
                    future.add_done_callback(_retrieved)

        paho.on_disconnect = disconnected
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        try:
            # A clean DISCONNECT, but never an unbounded wait for it: a stop must stop.
            async with asyncio.timeout(DISCONNECT_WITHIN):
                await self._stack.__aexit__(kind, error, trace)
        except TimeoutError:
            return
        except (aiomqtt.MqttError, OSError) as exc:
            raise BusError(f"lost the broker at {self.address}: {exc}") from exc

    async def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        """Publish; at QoS 1 this returns once the broker has acknowledged (PUBACK).

        ``BusError`` when the broker refuses it (MQTT 5 tells: a payload over its
        ``message_size_limit`` is acknowledged with an error and not passed on).
        """
        future = self.send(topic, payload, qos=qos, retain=retain)
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

    def send(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> asyncio.Future[None]:
        """Hand a message to the connection now, in call order; the future completes at its PUBACK.

        paho itself, not aiomqtt's publish: that one scans every pending call and arms a timeout on
        each message, which costs more than the message when thousands are in flight.
        """
        if not valid_topic(topic):
            raise BusError(f"cannot publish on {topic!r}: not a valid topic")
        info = self._client._client.publish(topic, payload, qos, retain)  # noqa: SLF001
        self._last_mid = info.mid
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise BusError(f"publish on {topic} failed: {mqtt.error_string(info.rc)}")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if qos == 0 or info.is_published():
            future.set_result(None)
        else:
            self._acks[info.mid] = future
        return future

    async def ack(self, message: Message) -> None:
        """Acknowledge a QoS 1 message received with manual acknowledgement (PUBACK)."""
        if message.qos > 0:
            self._client._client.ack(message.mid, message.qos)  # noqa: SLF001

    async def subscribe(self, topic_filter: str, *, qos: int = 1) -> None:
        """Subscribe to ``topic_filter`` at ``qos``."""
        try:
            await self._client.subscribe(topic_filter, qos=qos)
        except (aiomqtt.MqttError, OSError) as exc:
            raise BusError(f"subscribe to {topic_filter} failed: {exc}") from exc

    async def messages(self) -> AsyncIterator[Message]:
        """The messages received, in arrival order."""
        try:
            async for message in self._client.messages:
                yield _message(message)
                # aiomqtt hands over one message per turn of the event loop; what has arrived
                # meanwhile is taken at once, so that the router handles a burst in one go.
                arrived = self._client._queue  # noqa: SLF001
                while not arrived.empty():
                    yield _message(arrived.get_nowait())
        except (aiomqtt.MqttError, OSError) as exc:
            raise BusError(f"lost the broker at {self.address}: {exc}") from exc


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
    once connected; ``on_lost`` is told why and how long each wait is. It ends when ``work`` returns
    or ``stop`` is set, never by itself otherwise: a Ctrl-C (cancellation) ends it too, and a login
    or certificate the broker refuses raises its `BrokerRefusedError` at once.
    """
    delay = first_retry
    while stop is None or not stop.is_set():
        refused: BrokerRefusedError | None = None
        try:
            async with connect() as bus:
                delay = first_retry
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
    code = getattr(exc, "rc", None)
    code = getattr(code, "value", code)
    if isinstance(code, int) and code in REFUSED_CODES:
        who = f"user {address.username!r}" if address.username else "an anonymous client (no --username)"
        return BrokerRefusedError(f"the broker at {address} refused {who}: {REFUSED_CODES[code]}")
    return BusError(f"cannot connect to the broker at {address}: {exc}")


def _tls_error(exc: BaseException) -> ssl.SSLError | None:
    """The TLS error behind ``exc``, if one is: aiomqtt raises its own error ``from None`` over it."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _retrieved(future: asyncio.Future[None]) -> None:
    """Mark a failed send's error as seen: whoever awaits it raises it; nobody else need hear of it."""
    future.exception()


def _message(message: aiomqtt.Message) -> Message:
    payload = message.payload if isinstance(message.payload, bytes) else str(message.payload).encode()
    return Message(str(message.topic), payload, int(message.qos), bool(message.retain), int(message.mid))
