"""The watch screen shows queue depths by precedence and the latest routing-log events."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from rich.console import Console

from router.bus import topics
from router.bus.memory import MemoryBroker
from router.readout.watch import follow, render


def test_the_screen_shows_depths_rates_and_events() -> None:
    """A post's waiting copies appear under their precedence; events appear one a line."""
    status = {
        "at": "2026-11-27T10:00:00+00:00",
        "queues": {
            "RUEHC": {"FLASH": 1, "ROUTINE": 12, "in_flight": 4, "up": True, "sending": "EHC0042"},
            "RUEHLO": {"ROUTINE": 3, "in_flight": 0, "up": False, "sending": None},
        },
        "rates_per_s": {"delivered": 3.5, "routed": 0},
    }
    events = deque([{"event": "routed", "message_id": "RUEHKO-1571-1610901", "precedence": "IMMEDIATE"}])
    console = Console(record=True, width=120)
    console.print(render(status, events))
    text = console.export_text()
    assert "RUEHC" in text
    assert "delivered 3.5/s" in text
    assert "routed" in text
    assert "message_id=RUEHKO-1571-1610901" in text
    row = next(line for line in text.splitlines() if "RUEHC" in line)
    assert row.replace("│", " ").split() == ["RUEHC", "1", "12", "4", "EHC0042"]  # FLASH, ROUTINE, ...
    down = next(line for line in text.splitlines() if "RUEHLO" in line)
    assert down.replace("│", " ").split() == ["RUEHLO", "3", "0", "DOWN"]


async def test_follow_feeds_each_event_with_the_latest_status() -> None:
    """`follow` hands on every routing-log event with the last status, and None for a new status."""
    broker = MemoryBroker()
    watcher, router = broker.connect(), broker.connect()
    updates: asyncio.Queue[tuple[dict[str, Any] | None, dict[str, Any] | None]] = asyncio.Queue()
    await router.publish(topics.STATUS, b'{"at": "1"}', retain=True)
    following = asyncio.create_task(
        follow(watcher, lambda event, status: updates.put_nowait((event, status)))
    )
    async with asyncio.timeout(5):
        got = [await updates.get()]  # the retained status: the watcher has subscribed to both topics
        await router.publish(topics.LOG, b'{"event": "routed"}')
        await router.publish(topics.STATUS, b'{"at": "2"}')
        got += [await updates.get(), await updates.get()]
    following.cancel()
    await asyncio.wait({following})
    assert got == [(None, {"at": "1"}), ({"event": "routed"}, {"at": "1"}), (None, {"at": "2"})]
