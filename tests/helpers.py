"""What several test modules need: receiving from a bus without ever hanging."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from router.service import Router

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from router.bus import Bus, Message
    from router.journal import Journal
    from router.table import RoutingTable


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
