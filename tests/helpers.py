"""What several test modules need: receiving from a bus without ever hanging."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from router.bus import Bus, Message


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
