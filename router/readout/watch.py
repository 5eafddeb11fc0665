"""`router watch`: the routing log and the queue depths, live in the terminal (rich).

`follow` reads what the router publishes (router/status, router/log), `live_view` shows it; `router
watch` and `router demo`'s live view are these two together.
"""

from __future__ import annotations

import json
from collections import deque
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from rich.console import Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table

from router.bus import topics
from router.cable.models import Precedence

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from router.bus.protocol import Bus

    OnUpdate = Callable[[dict[str, Any] | None, dict[str, Any] | None], None]
    """Called with a routing-log event (None when the status changed) and the latest status."""

_COLUMNS = [p.value for p in sorted(Precedence, reverse=True)]
EVENTS_SHOWN = 15
"""Routing-log events on the screen, latest last."""


async def follow(bus: Bus, on_update: OnUpdate) -> None:
    """Feed ``on_update`` every routing-log event and every status the router publishes, until cancelled."""
    status: dict[str, Any] | None = None
    await bus.subscribe(topics.STATUS, qos=0)
    await bus.subscribe(topics.LOG, qos=0)
    async for message in bus.messages():
        if message.topic == topics.STATUS:
            status = json.loads(message.payload)
            on_update(None, status)
        else:
            on_update(json.loads(message.payload), status)


@contextmanager
def live_view(lines: int = EVENTS_SHOWN) -> Iterator[OnUpdate]:
    """The watch screen in the terminal while the block runs; gives the ``on_update`` that redraws it."""
    events: deque[dict[str, Any]] = deque(maxlen=lines)
    with Live(render(None, events), refresh_per_second=4) as live:

        def update(event: dict[str, Any] | None, status: dict[str, Any] | None) -> None:
            if event is not None:
                events.append(event)
            live.update(render(status, events))

        yield update


def render(status: dict[str, Any] | None, events: deque[dict[str, Any]]) -> Group:
    """The screen: one row per line with its waiting copies by precedence, then the latest events."""
    queues = Table(title="lines (waiting by precedence, in flight, on the line now)", expand=True)
    queues.add_column("post")
    for column in [*_COLUMNS, "in flight", "line"]:
        queues.add_column(column, justify="right")
    for post, depths in sorted(((status or {}).get("queues") or {}).items()):
        line = "DOWN" if depths.get("up") is False else depths.get("sending") or ""
        queues.add_row(
            post, *(str(depths.get(c, "")) for c in _COLUMNS), str(depths.get("in_flight", 0)), str(line)
        )
    rates = (status or {}).get("rates_per_s") or {}
    summary = "  ".join(f"{name} {rate}/s" for name, rate in sorted(rates.items()) if rate) or "idle"
    log = "\n".join(_line(event) for event in events) or "(no events yet)"
    return Group(
        Panel(summary, title=f"router  {(status or {}).get('at', 'no status yet')}"),
        queues,
        Panel(log, title="routing log"),
    )


def _line(event: dict[str, Any]) -> str:
    name = event.get("event", "?")
    detail = " ".join(
        f"{key}={event[key]}"
        for key in ("precedence", "message_id", "post", "transmission", "reason", "deliveries", "cause")
        if key in event
    )
    return f"{name:<12} {detail}"
