"""What several test modules need: receiving from a bus without ever hanging."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from router.cable.parser import parse_cable
from router.network.channel import read_copy, receipt
from router.switch.service import Router

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from router.bus.protocol import Bus, Message
    from router.cable.models import Cable
    from router.journal.store import Journal
    from router.routing.table import RoutingTable


@asynccontextmanager
async def running(bus: Bus, journal: Journal, table: RoutingTable, **options: Any) -> AsyncIterator[Router]:
    """A router on ``bus``, listening, until the block ends; its errors are raised here."""
    router = Router(bus, journal, table, **options)
    stop = asyncio.Event()
    task = asyncio.create_task(router.run(stop))
    await asyncio.wait_for(router.ready.wait(), 5)
    try:
        yield router
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


async def receive(bus: Bus, count: int, *, topic: str | None = None, within: float = 10.0) -> list[Message]:
    """The next ``count`` messages (on ``topic`` only, when given), failing after ``within`` seconds."""
    got: list[Message] = []
    async with asyncio.timeout(within):
        async for message in bus.messages():
            if topic is None or message.topic == topic:
                got.append(message)
                if len(got) == count:
                    break
    return got


def opened(message: Message) -> tuple[str, Cable]:
    """A copy off a post's topic: its transmission id (``HFR0001``) and the cable it carries."""
    copy = read_copy(message.payload)
    return copy.transmission_id, parse_cable(copy.cable)


def receipt_for(message: Message) -> bytes:
    """The post's receipt for a copy, as `router post` sends it on cables/ack/<RI>."""
    transmission_id, cable = opened(message)
    return receipt(cable.precedence.letter if cable.precedence else "R", transmission_id)
