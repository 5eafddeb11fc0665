"""An in-memory bus with MQTT's topic rules: fast tests of the contract the MQTT adapter keeps."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from router.bus.protocol import Message
from router.bus.topics import topic_matches, valid_topic
from router.errors import BusError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


@dataclass(slots=True)
class MemoryBroker:
    """A broker in the process: retained messages and the buses connected to it.

    For fast tests of the same contract the MQTT adapter keeps against a real Mosquitto; it
    keeps MQTT's rules (topic matching, retained messages) and none of its network.
    """

    retained: dict[str, Message] = field(default_factory=dict)
    clients: list[MemoryBus] = field(default_factory=list)

    def connect(self, *, max_queued: int = 10_000) -> MemoryBus:
        """A new bus on this broker, with a bounded queue of received messages."""
        bus = MemoryBus(self, asyncio.Queue(max_queued))
        self.clients.append(bus)
        return bus

    async def deliver(self, message: Message) -> None:
        """Keep a retained message, then pass the message to every matching subscription."""
        self._retain(message)
        for client in self.clients:
            await client.offer(_delivered(message, retain=False))

    def deliver_now(self, message: Message) -> None:
        """As `deliver`, without waiting: a subscriber whose queue is full is an error."""
        self._retain(message)
        for client in self.clients:
            client.offer_now(_delivered(message, retain=False))

    def _retain(self, message: Message) -> None:
        if message.retain:
            if message.payload:
                self.retained[message.topic] = message
            else:  # an empty retained payload clears the topic, as in MQTT
                self.retained.pop(message.topic, None)


@dataclass(slots=True)
class MemoryBus:
    """One connection to a `MemoryBroker`."""

    broker: MemoryBroker
    queue: asyncio.Queue[Message]
    filters: list[str] = field(default_factory=list)

    async def publish(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False, properties: bytes = b""
    ) -> None:
        """Hand the message to the broker, which passes it to every matching subscription.

        Its properties go with it, as between two MQTT 5 clients.
        """
        if not valid_topic(topic):
            raise BusError(f"cannot publish on {topic!r}: not a valid topic")
        await self.broker.deliver(Message(topic, payload, qos, retain, properties=properties))

    def send(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False, properties: bytes = b""
    ) -> asyncio.Future[None]:
        """Deliver at once; the future is already complete (the broker is in the process)."""
        if not valid_topic(topic):
            raise BusError(f"cannot publish on {topic!r}: not a valid topic")
        self.broker.deliver_now(Message(topic, payload, qos, retain, properties=properties))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    async def subscribe(self, topic_filter: str, *, qos: int = 1, ahead: bool = False) -> None:  # noqa: ARG002 (one QoS, one queue here)
        """Subscribe; the retained messages that match arrive at once, marked retained."""
        self.filters.append(topic_filter)
        for message in list(self.broker.retained.values()):
            if topic_matches(topic_filter, message.topic):
                await self.queue.put(_delivered(message, retain=True))

    async def offer(self, message: Message) -> None:
        """Queue ``message`` if a subscription matches it (backpressure when the queue is full)."""
        if any(topic_matches(f, message.topic) for f in self.filters):
            await self.queue.put(message)

    def offer_now(self, message: Message) -> None:
        """As `offer`, without waiting; a full queue is a `BusError` (the subscriber fell behind)."""
        if any(topic_matches(f, message.topic) for f in self.filters):
            try:
                self.queue.put_nowait(message)
            except asyncio.QueueFull:
                raise BusError(f"a subscriber's queue is full: {message.topic} not delivered") from None

    async def messages(self) -> AsyncIterator[Message]:
        """The messages received, in arrival order."""
        while True:
            yield await self.queue.get()

    async def ack(self, message: Message) -> None:
        """Nothing to tell: the in-memory broker never redelivers."""


def _delivered(message: Message, *, retain: bool) -> Message:
    """``message`` as a subscriber gets it, its properties kept.

    Made anew, not by `dataclasses.replace`, which costs more than the rest of a delivery here.
    """
    return Message(
        message.topic,
        message.payload,
        message.qos,
        retain,
        properties=message.properties,
        redelivered=message.redelivered,
    )
