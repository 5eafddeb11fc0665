"""`router watch`: the routing log and the queue depths, live in the terminal (rich)."""

from __future__ import annotations

from collections import deque
from typing import Any

from rich.console import Group
from rich.panel import Panel
from rich.table import Table

from router.cable.models import Precedence

_COLUMNS = [p.value for p in sorted(Precedence, reverse=True)]


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
