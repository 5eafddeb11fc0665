"""`router watch`: the routing log and the queue depths, live in the terminal (rich).

`follow` reads what the router publishes (router/status, router/log), `live_view` shows it; `router
watch` and `router demo`'s live view are these two together. With a network of centres (their
statuses on router/status/NAME), it shows every centre at once, a compact block each, and the log
the centres share with each entry's centre (`render_network`); `--centre NAME` shows one.

Nothing read off the bus is trusted: a message that is not a JSON object, or is too large, is shown
as such, and every control character of what is shown is made visible (`visible`), never sent to
the terminal.
"""

from __future__ import annotations

import json
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rich.columns import Columns
from rich.console import Console, Group
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
CENTRE = "centre"
"""Key `follow` gives a centre's status: the centre its topic (router/status/NAME) names."""
BLOCK_WIDTH = 52
"""Columns of one centre's block: three side by side on a terminal of 160."""
POSTS_SHOWN = 3
"""A centre's busiest post lines in its block (all its trunks are shown, up to `TRUNKS_SHOWN`)."""
TRUNKS_SHOWN = 6


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
    ``centre``: one centre of a network, its status (router/status/NAME) and its own log entries;
    none: the single switch's status and every centre's, each marked with its `CENTRE`.
    """
    status: dict[str, Any] | None = None
    status_topic = topics.status(centre)
    await bus.subscribe(status_topic, qos=0)
    if centre is None:
        await bus.subscribe(topics.CENTRE_STATUS, qos=0)
    await bus.subscribe(topics.LOG, qos=0)
    async for message in bus.messages():
        value = read_object(message)
        if message.topic == topics.LOG:
            if centre is None or value.get(CENTRE) == centre or value.get("event") == "unreadable":
                on_update(value, status)
        elif value.get("event") == "unreadable":
            on_update(value, status)  # a status we cannot read: shown in the log, the last one kept
        else:
            status = value | {RETAINED: True} if message.retain else value
            if message.topic != status_topic:  # router/status/NAME: the topic says whose it is
                status = status | {CENTRE: message.topic.rsplit("/", 1)[-1]}
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


@dataclass(frozen=True, slots=True)
class Only:
    """`router watch --post PREFIX --state STATE`: the lines shown, by RI and by what they are doing."""

    post: str = ""
    """Lines whose RI starts with this (RUEH: State's posts); empty: every line."""
    state: str = ""
    """``down``, ``sending``, ``waiting`` or ``in-flight``; empty: any."""

    def keeps(self, post: str, depths: dict[str, Any]) -> bool:
        """Whether the line to ``post``, with these depths, is shown."""
        if not post.startswith(self.post):
            return False
        waiting = sum(depths.get(column) or 0 for column in _COLUMNS if type(depths.get(column)) is int)
        return {
            "": True,
            "down": depths.get("up") is False,
            "sending": bool(depths.get("sending")),
            "waiting": waiting > 0,
            "in-flight": bool(depths.get("in_flight")),
        }.get(self.state, False)


@dataclass(slots=True)
class Screen:
    """What the watch screen shows: the latest events, the latest status of the router or of each centre."""

    events: deque[dict[str, Any]]
    stale_after: float
    only: Only = field(default_factory=Only)
    height: Callable[[], int | None] = lambda: None
    """The terminal's rows now (None: no limit): the lines shown are cut to leave the log its place."""
    statuses: dict[str | None, tuple[dict[str, Any], float | None]] = field(default_factory=dict)
    """By centre (None: the single switch): its last status, and the host time it came (None: retained)."""

    def update(self, event: dict[str, Any] | None, status: dict[str, Any] | None) -> None:
        """`OnUpdate`: an event to the log, else a new status for its router or centre."""
        if event is not None:
            self.events.append(event)
        elif status is not None:
            fresh_at = None if status.get(RETAINED) else time.monotonic()
            self.statuses[status.get(CENTRE)] = (status, fresh_at)

    def state(self, centre: str | None) -> str:
        """`router_state` of the router or of one centre, now."""
        status, fresh_at = self.statuses.get(centre, (None, None))
        age = None if fresh_at is None else time.monotonic() - fresh_at
        return router_state(status, age, self.stale_after)

    def renderable(self) -> Group:
        """The single switch's screen, or every centre's once a centre's status has come."""
        centres = sorted(name for name in self.statuses if name is not None)
        if not centres:
            status = self.statuses.get(None, (None, None))[0]
            return render(status, self.events, state=self.state(None), height=self.height(), only=self.only)
        shown = {name: (self.statuses[name][0], self.state(name)) for name in centres}
        return render_network(shown, self.events)


@contextmanager
def live_view(
    lines: int = EVENTS_SHOWN, *, status_every: float = 1.0, only: Only | None = None
) -> Iterator[OnUpdate]:
    """The watch screen in the terminal while the block runs; gives the ``on_update`` that redraws it.

    The screen is drawn four times a second, so a router that falls silent turns stale without a
    message; it is cut to the terminal's height as it is now (a resized window included).
    """
    console = Console()
    screen = Screen(
        deque(maxlen=lines),
        STALE_AFTER * status_every,
        only=only or Only(),
        height=lambda: console.size.height if console.is_terminal else None,
    )
    with Live(get_renderable=screen.renderable, refresh_per_second=4, console=console, screen=False):
        yield screen.update


STATES = ("down", "sending", "waiting", "in-flight")
"""What `Only.state` may be."""
FRAME_ROWS = 11
"""Rows the screen takes besides the lines' rows and the log's: the state's panel (3), the table's
title, borders and header (5), the log's borders (2), and the row the cursor keeps below (1)."""


def render(
    status: dict[str, Any] | None,
    events: deque[dict[str, Any]],
    *,
    state: str = "",
    height: int | None = None,
    only: Only | None = None,
) -> Group:
    """The screen: the router's state and rates, its busiest lines, then the latest events.

    Lines with work come first, busiest first; past the rows ``height`` leaves once the routing log
    has its place, the rest are summed in one row, so that the log is always on the screen. The
    time is the network's (the router's clock, scaled), and says so.
    """
    only = only or Only()
    raw_queues = (status or {}).get("queues")
    queues = {
        post: depths
        for post, depths in (raw_queues if isinstance(raw_queues, dict) else {}).items()
        if isinstance(depths, dict) and only.keeps(str(post), depths)
    }
    ranked = sorted(queues, key=lambda post: (-_load(queues[post]), post))
    room = len(ranked) if height is None else max(1, height - FRAME_ROWS - max(1, len(events)))
    shown, rest = (ranked, []) if len(ranked) <= room else (ranked[: room - 1], ranked[room - 1 :])
    title = "lines with work, busiest first (waiting by precedence, in flight, on the line now)"
    queues_table = Table(title=title, expand=True)
    queues_table.add_column("post")
    for column in [*_COLUMNS, "in flight", "line"]:
        queues_table.add_column(column, justify="right")
    for post in shown:
        depths = queues[post]
        line = "DOWN" if depths.get("up") is False else depths.get("sending") or ""
        cells = [*(depths.get(c, "") for c in _COLUMNS), depths.get("in_flight", 0), line]
        queues_table.add_row(*(Text(visible(str(cell))) for cell in [post, *cells]))
    other = (status or {}).get("other_lines") if only == Only() else None  # the router's own sum
    unlisted = _summed([queues[post] for post in rest], other if isinstance(other, dict) else {})
    if unlisted:
        queues_table.add_row(Text(visible(unlisted)))
    rates = (status or {}).get("rates_per_s")
    rates = rates if isinstance(rates, dict) else {}
    summary = "  ".join(f"{name} {rate}/s" for name, rate in sorted(rates.items()) if rate) or "idle"
    if only != Only():
        summary += f"  (showing: {only.post or 'every'} line{'s' if not only.state else ''} {only.state})"
    log = "\n".join(_line(event) for event in events) or "(no events yet)"
    at = (status or {}).get("at", "no status yet")
    title_text = f"router  network time {at}" + (f"  {state}" if state else "")
    # Text, not markup: a [bold] in a cable's field is shown as it is, not obeyed.
    return Group(
        Panel(Text(visible(summary)), title=Text(visible(title_text))),
        queues_table,
        Panel(Text(log), title="routing log"),  # each line made visible by `_line`,
    )


def render_network(centres: dict[str, tuple[dict[str, Any], str]], events: deque[dict[str, Any]]) -> Group:
    """Every centre at once: a compact block each (its trunks, its busiest lines), then the shared log.

    ``centres``: each centre's last status and its state (live, STALE, OFFLINE). A block shows the
    centre's trunks (its lines to the other centres) and its `POSTS_SHOWN` busiest post lines; the
    rest of its lines summed in one row, so that five centres and the log fit 160 by 50.
    """
    names = set(centres)
    blocks = [_centre_block(name, status, state, names) for name, (status, state) in sorted(centres.items())]
    log = "\n".join(_line(event, with_centre=True) for event in events) or "(no events yet)"
    return Group(Columns(blocks, width=BLOCK_WIDTH), Panel(Text(log), title="routing log (all centres)"))


def _centre_block(name: str, status: dict[str, Any], state: str, centres: set[str]) -> Panel:
    """One centre: its state, its rates, its trunks and busiest lines by precedence."""
    rows = Table(box=None, pad_edge=False, expand=True, show_edge=False)
    rows.add_column("line")
    for column in ["F", "O", "P", "R", "fly", "now"]:
        rows.add_column(column, justify="right")
    raw = status.get("queues")
    queues = {k: v for k, v in (raw if isinstance(raw, dict) else {}).items() if isinstance(v, dict)}
    trunks = sorted(line for line in queues if line in centres)
    posts = sorted((line for line in queues if line not in centres), key=lambda p: (-_load(queues[p]), p))
    for line in trunks[:TRUNKS_SHOWN] + posts[:POSTS_SHOWN]:
        depths = queues[line]
        now = "DOWN" if depths.get("up") is False else depths.get("sending") or ""
        label = f"> {line}" if line in centres else line  # a trunk: to that centre
        cells = [label, *(depths.get(c, "") for c in _COLUMNS), depths.get("in_flight", 0), now]
        rows.add_row(*(Text(visible(str(cell))) for cell in cells))
    rest = _rest(status.get("other_lines"), len(posts) - POSTS_SHOWN)
    rates = status.get("rates_per_s")
    rates = rates if isinstance(rates, dict) else {}
    shown = [
        f"{k} {v:g}/s"
        for k, v in sorted(rates.items())
        if k in _RATES_SHOWN and isinstance(v, int | float) and v
    ]
    summary = "  ".join(shown) or "idle"
    # The title has room for the state's word only (live, STALE, OFFLINE); why, on the first line.
    title = f"{name}  {str(status.get('at', ''))[11:19]}  {state.split(' (', 1)[0]}"
    first = summary if state == "live" else state
    body = Group(Text(visible(first)), rows, *([Text(visible(rest))] if rest else []))
    return Panel(body, title=Text(visible(title)), title_align="left", width=BLOCK_WIDTH)


_RATES_SHOWN = frozenset({"routed", "delivered", "acknowledged"})


def _load(depths: dict[str, Any]) -> int:
    return sum(v for v in depths.values() if type(v) is int)


def _rest(other: object, unshown: int) -> str:
    """The lines not shown one by one: how many, how many down, what waits on them."""
    other = other if isinstance(other, dict) else {}
    lines = int(other.get("lines", 0) or 0) + max(0, unshown)
    if not lines:
        return ""
    waiting = other.get("waiting")
    total = sum(v for v in waiting.values() if type(v) is int) if isinstance(waiting, dict) else 0
    return f"+{lines} lines ({other.get('down', 0)} down), {total} waiting"


def _summed(rest: list[dict[str, Any]], other: dict[str, Any]) -> str:
    """The lines not listed, in one row: how many, how many down, waiting and in flight on them.

    ``rest``: those the screen has no room for; ``other``: those the router's status summed itself.
    """
    lines = len(rest) + int(other.get("lines", 0) or 0)
    if not lines:
        return ""
    down = sum(depths.get("up") is False for depths in rest) + int(other.get("down", 0) or 0)
    waiting_other = other.get("waiting")
    waiting = sum(_load(depths) - int(depths.get("in_flight", 0) or 0) for depths in rest) + (
        sum(v for v in waiting_other.values() if type(v) is int) if isinstance(waiting_other, dict) else 0
    )
    flying = sum(int(depths.get("in_flight", 0) or 0) for depths in rest) + int(
        other.get("in_flight", 0) or 0
    )
    return f"+{lines} more lines: {down} down, {waiting} waiting, {flying} in flight"


def _line(event: dict[str, Any], *, with_centre: bool = False) -> str:
    name = str(event.get("event", "?"))
    detail = " ".join(
        f"{key}={visible(str(event[key]))}"
        for key in (
            "precedence",
            "message_id",
            "post",
            "transmission",
            "trunks_out",
            "reason",
            "deliveries",
            "cause",
        )
        if key in event
    )
    where = f"{str(event.get(CENTRE, '-'))[:10]:<10} " if with_centre else ""
    return visible(f"{where}{name:<12} {detail}")
