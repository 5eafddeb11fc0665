"""The bus the router sits on, as a protocol: what it needs of the MQTT adapter and the in-memory bus."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


@dataclass(frozen=True, slots=True)
class Message:
    """One message as a subscriber receives it."""

    topic: str
    payload: bytes
    qos: int = 0
    retain: bool = False
    mid: int = 0
    """The broker's packet id, for a manual acknowledgement."""
    ahead: bool = False
    """It came on a subscription heard ahead (`Bus.subscribe`): acknowledged where it came."""
    properties: bytes = b""
    """Its MQTT 5 properties as they came, encoded (`router.bus.properties`); none under 3.1.1."""
    redelivered: bool = False
    """MQTT's DUP flag: the broker sends it again, not having heard our acknowledgement (a
    reconnection, a slow PUBACK): it may be one the router has already journalled."""


class Bus(Protocol):
    """What the router needs of a bus; the MQTT adapter and `MemoryBus` both provide it."""

    async def publish(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False, properties: bytes = b""
    ) -> None:
        """Publish ``payload`` on ``topic``; at QoS 1 return once the broker has it.

        ``properties``: MQTT 5 properties, encoded; dropped on a bus that does not speak MQTT 5.
        """

    def send(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False, properties: bytes = b""
    ) -> asyncio.Future[None]:
        """Hand a message to the broker now, in call order; the future completes at its PUBACK.

        Pipelining: many sends, and their acknowledgements awaited together.
        """

    async def subscribe(self, topic_filter: str, *, qos: int = 1, ahead: bool = False) -> None:
        """Receive from now on every message whose topic matches ``topic_filter``.

        ``ahead``: its messages do not wait behind a backlog of the others' (where the bus has a
        connection apart for them): receipts and service messages, small and urgent, not cables.
        """

    def messages(self) -> AsyncIterator[Message]:
        """The messages received, in arrival order."""

    async def ack(self, message: Message) -> None:
        """Tell the broker ``message`` is safe with us (manual acknowledgement, QoS 1)."""
