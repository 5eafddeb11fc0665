"""`router watch`: the routing log and the queue depths, live in the terminal (rich).

`follow` reads what the router publishes (router/status, router/log), `live_view` shows it; `router
watch` and `router demo`'s live view are these two together. Nothing read off the bus is trusted:
a message that is not a JSON object, or is too large, is shown as such, and every control character
of what is shown is made visible (`visible`), never sent to the terminal.
"""

from __future__ import annotations

import json
import time
from collections import deque
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from rich.console import Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from router.bus import topics
from router.cable.models import Precedence
from router.readout.terminal import visible

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from router.bus.protocol import Bus, Message

    OnUpdate = Callable[[dict[str, Any] | None, dict[str, Any] | None], None]
    """Called with a routing-log event (None when the status changed) and the latest status."""

_COLUMNS = [p.value for p in sorted(Precedence, reverse=True)]
EVENTS_SHOWN = 15
"""Routing-log events on the screen, latest last."""
MAX_MESSAGE_BYTES = 64 * 1024
"""A routing-log event or a status larger than this is not read: it is shown as oversized."""
STALE_AFTER = 3
"""Status periods (`status_every`) without a fresh status after which the router is shown as stale."""
RETAINED = "retained"
"""Key `follow` adds to a status the broker kept from before we subscribed: it says nothing of now."""


def read_object(message: Message) -> dict[str, Any]:
    """A status or log message as a JSON object; one that is not, as an ``unreadable`` event saying why."""
    size = len(message.payload)
    if size > MAX_MESSAGE_BYTES:
        return {"event": "unreadable", "reason": f"oversized message on {message.topic}: {size} bytes"}
    try:
        value = json.loads(message.payload)
    except ValueError:  # not UTF-8, or not JSON
        excerpt = message.payload[:60].decode("utf-8", errors="replace")
        return {"event": "unreadable", "reason": f"not JSON on {message.topic}: {excerpt!r}"}
    if not isinstance(value, dict):
        return {
            "event": "unreadable",
            "reason": f"not a JSON object on {message.topic}: {type(value).__name__}",
        }
    return value


async def follow(bus: Bus, on_update: OnUpdate, centre: str | None = None) -> None:
    """Feed ``on_update`` every routing-log event and every status the router publishes, until cancelled.

    A status the broker kept from before (retained) is marked with `RETAINED`: the router may be gone.
    ``centre``: one centre of a network, its status (router/status/NAME) and its own log entries.
    """
    status: dict[str, Any] | None = None
    status_topic = topics.status(centre)
    await bus.subscribe(status_topic, qos=0)
    await bus.subscribe(topics.LOG, qos=0)
    async for message in bus.messages():
        value = read_object(message)
        if message.topic != status_topic:
            if centre is None or value.get("centre") == centre or value.get("event") == "unreadable":
                on_update(value, status)
        elif value.get("event") == "unreadable":
            on_update(value, status)  # a status we cannot read: shown in the log, the last one kept
        else:
            status = value | {RETAINED: True} if message.retain else value
            on_update(None, status)


def router_state(status: dict[str, Any] | None, age: float | None, stale_after: float) -> str:
    """What the screen says of the router: live, stale, or offline, from its last status.

    ``age`` is the host seconds since the last fresh status (None: none fresh since we started).
    """
    if status is None:
        return "no status yet"
    if status.get("state") == "offline":
        return f"OFFLINE ({status.get('reason', 'no reason given')})"
    if age is None:
        return "STALE (a status from before; none since)"
    if age > stale_after:
        return f"STALE (no status for {age:.0f} s)"
    return "live"


@contextmanager
def live_view(lines: int = EVENTS_SHOWN, *, status_every: float = 1.0) -> Iterator[OnUpdate]:
    """The watch screen in the terminal while the block runs; gives the ``on_update`` that redraws it.

    The screen is drawn four times a second, so a router that falls silent turns stale without a message.
    """
    events: deque[dict[str, Any]] = deque(maxlen=lines)
    latest: dict[str, Any] = {"status": None, "fresh_at": None}

    def screen() -> Group:
        fresh_at = latest["fresh_at"]
        age = None if fresh_at is None else time.monotonic() - fresh_at
        state = router_state(latest["status"], age, STALE_AFTER * status_every)
        return render(latest["status"], events, state=state)

    def update(event: dict[str, Any] | None, status: dict[str, Any] | None) -> None:
        if event is not None:
            events.append(event)
        elif status is not None:
            latest["fresh_at"] = None if status.get(RETAINED) else time.monotonic()
        latest["status"] = status

    with Live(get_renderable=screen, refresh_per_second=4):
        yield update


def render(status: dict[str, Any] | None, events: deque[dict[str, Any]], *, state: str = "") -> Group:
    """The screen: one row per line with its waiting copies by precedence, then the latest events."""
    queues = Table(title="lines (waiting by precedence, in flight, on the line now)", expand=True)
    queues.add_column("post")
    for column in [*_COLUMNS, "in flight", "line"]:
        queues.add_column(column, justify="right")
    raw_queues = (status or {}).get("queues")
    for post, depths in sorted((raw_queues if isinstance(raw_queues, dict) else {}).items()):
        if not isinstance(depths, dict):
            continue
        line = "DOWN" if depths.get("up") is False else depths.get("sending") or ""
        cells = [*(depths.get(c, "") for c in _COLUMNS), depths.get("in_flight", 0), line]
        queues.add_row(*(Text(visible(str(cell))) for cell in [post, *cells]))
    rates = (status or {}).get("rates_per_s")
    rates = rates if isinstance(rates, dict) else {}
    summary = "  ".join(f"{name} {rate}/s" for name, rate in sorted(rates.items()) if rate) or "idle"
    log = "\n".join(_line(event) for event in events) or "(no events yet)"
    title = f"router  {(status or {}).get('at', 'no status yet')}" + (f"  {state}" if state else "")
    # Text, not markup: a [bold] in a cable's field is shown as it is, not obeyed.
    return Group(
        Panel(Text(visible(summary)), title=Text(visible(title))),
        queues,
        Panel(Text(log), title="routing log"),  # each line made visible by `_line`,
    )


def _line(event: dict[str, Any]) -> str:
    name = str(event.get("event", "?"))
    detail = " ".join(
        f"{key}={visible(str(event[key]))}"
        for key in ("precedence", "message_id", "post", "transmission", "reason", "deliveries", "cause")
        if key in event
    )
    return visible(f"{name:<12} {detail}")
