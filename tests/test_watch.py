"""The watch screen shows queue depths by precedence and the latest routing-log events."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from rich.console import Console

from router.bus import topics
from router.bus.memory import MemoryBroker
from router.readout.watch import (
    CENTRE,
    MAX_MESSAGE_BYTES,
    RETAINED,
    Screen,
    follow,
    render,
    render_network,
    router_state,
)


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
    retained = {"at": "1", RETAINED: True}  # kept by the broker from before: it says nothing of now
    assert got == [(None, retained), ({"event": "routed"}, retained), (None, {"at": "2"})]


async def test_unreadable_log_messages_are_shown_as_such() -> None:
    """A log message not JSON, not an object, or too large becomes an `unreadable` event saying why."""
    broker = MemoryBroker()
    watcher, other = broker.connect(), broker.connect()
    updates: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
    await other.publish(topics.STATUS, b'{"at": "1"}', retain=True)
    following = asyncio.create_task(follow(watcher, lambda event, _status: updates.put_nowait(event)))
    async with asyncio.timeout(5):
        assert await updates.get() is None  # the retained status: the watcher has subscribed
        for payload in (
            b"\x1b[2J not json",
            b"[1, 2]",
            b'{"event": "x", "pad": "' + b"a" * MAX_MESSAGE_BYTES + b'"}',
        ):
            await other.publish(topics.LOG, payload)
        got = [await updates.get() for _ in range(3)]
    following.cancel()
    await asyncio.wait({following})
    assert [event["event"] if event else None for event in got] == ["unreadable"] * 3
    reasons = [str(event["reason"]) if event else "" for event in got]
    assert reasons[0].startswith("not JSON on router/log")
    assert reasons[1] == "not a JSON object on router/log: list"
    assert reasons[2].startswith("oversized message on router/log")
    console = Console(record=True, width=200)
    console.print(render(None, deque(event for event in got if event)))
    text = console.export_text()
    assert "\x1b" not in text
    assert "'\\x1b[2J not json'" in text  # the excerpt as a Python literal


def test_escapes_and_markup_in_events_are_shown_as_text() -> None:
    """An event's fields reach the screen as text: escapes made visible, rich markup not obeyed."""
    events = deque([{"event": "rejected", "reason": "[bold red]boom[/] \x1b[31m"}])
    console = Console(record=True, width=120)
    console.print(render(None, events))
    assert "[bold red]boom[/] ^[[31m" in console.export_text()


def test_the_router_is_shown_live_stale_or_offline() -> None:
    """A fresh status is live, a silent or retained one stale, and the Last Will's offline status offline."""
    status = {"at": "2026-11-27T10:00:00+00:00"}
    assert router_state(None, None, 3.0) == "no status yet"
    assert router_state(status, 1.0, 3.0) == "live"
    assert router_state(status, 4.0, 3.0) == "STALE (no status for 4 s)"
    assert router_state(status | {RETAINED: True}, None, 3.0) == "STALE (a status from before; none since)"
    offline = {"state": "offline", "reason": "connection lost"}
    assert router_state(offline, 0.0, 3.0) == "OFFLINE (connection lost)"
    console = Console(record=True, width=120)
    console.print(render(offline, deque(), state=router_state(offline, 0.0, 3.0)))
    assert "OFFLINE (connection lost)" in console.export_text()


async def test_watching_one_centre_shows_its_status_and_its_own_log_entries() -> None:
    """`router watch --centre NAME`: the centres share router/log; each has its router/status/NAME."""
    broker = MemoryBroker()
    watcher, centres = broker.connect(), broker.connect()
    updates: asyncio.Queue[tuple[dict[str, Any] | None, dict[str, Any] | None]] = asyncio.Queue()
    following = asyncio.create_task(
        follow(watcher, lambda event, status: updates.put_nowait((event, status)), "DETRICK")
    )
    await asyncio.sleep(0.05)  # subscribed
    await centres.publish(topics.status("PIRMASENS"), b'{"at": "P"}')
    await centres.publish(topics.LOG, b'{"event": "routed", "centre": "PIRMASENS"}')
    await centres.publish(topics.status("DETRICK"), b'{"at": "D"}')
    await centres.publish(topics.LOG, b'{"event": "routed", "centre": "DETRICK"}')
    async with asyncio.timeout(5):
        got = [await updates.get(), await updates.get()]
    await asyncio.sleep(0.05)
    following.cancel()
    await asyncio.wait({following})
    assert got == [(None, {"at": "D"}), ({"event": "routed", "centre": "DETRICK"}, {"at": "D"})]
    assert updates.empty(), "nothing of the other centre"


def _centre_status(at: str, queues: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {"at": at, "queues": queues, "rates_per_s": {"routed": 2.0, "delivered": 0}, **more}


def test_every_centre_is_shown_in_a_block_of_its_own_with_the_shared_log() -> None:
    """`router watch` of a network: each centre's trunks and busiest lines, its state, the log with centres.

    Five centres with many lines each fit 160 by 50: a block shows the trunks, the three busiest
    posts, and the rest summed in one row.
    """
    posts = {
        f"RUEH{chr(65 + n)}": {"ROUTINE": n, "in_flight": 1, "up": True, "sending": None} for n in range(8)
    }
    beltsville = _centre_status(
        "2026-12-04T10:00:05+00:00",
        {
            "DETRICK": {"FLASH": 1, "IMMEDIATE": 2, "in_flight": 0, "up": False, "sending": None},
            "TINKER": {"IMMEDIATE": 1, "in_flight": 1, "up": True, "sending": "BTI0007"},
            **posts,
        },
        other_lines={"lines": 4, "down": 1, "in_flight": 0, "waiting": {"ROUTINE": 9}},
    )
    centres = {
        "BELTSVILLE": (beltsville, "live"),
        "DETRICK": (_centre_status("2026-12-04T10:00:04+00:00", {}), "STALE (no status for 5 s)"),
        "TINKER": ({"state": "offline", "reason": "stopped"}, "OFFLINE (stopped)"),
        "WAHIAWA": (_centre_status("2026-12-04T10:00:05+00:00", {}), "live"),
        "PIRMASENS": (_centre_status("2026-12-04T10:00:05+00:00", {}), "live"),
    }
    events: deque[dict[str, Any]] = deque(
        [
            {
                "event": "trunk-alternate",
                "centre": "BELTSVILLE",
                "precedence": "FLASH",
                "trunks_out": ["DETRICK"],
            },
            {"event": "routed", "centre": "TINKER", "message_id": "RUEHC-0469-3382202"},
        ]
    )
    console = Console(record=True, width=160, height=50)
    console.print(render_network(centres, events))
    text = console.export_text()
    assert len(text.splitlines()) <= 50
    for name, state in [("BELTSVILLE", "live"), ("DETRICK", "STALE"), ("TINKER", "OFFLINE")]:
        assert any(name in line and state in line for line in text.splitlines()), name
    assert "OFFLINE (stopped)" in text
    trunk = next(line for line in text.splitlines() if "> DETRICK" in line)
    assert trunk.split("│")[1].split() == [
        ">",
        "DETRICK",
        "1",
        "2",
        "0",
        "DOWN",
    ]  # FLASH, IMMEDIATE, in flight
    assert "> TINKER" in text
    blocks = text[: text.index("routing log")]
    assert {ri for ri in posts if ri in blocks} == {"RUEHF", "RUEHG", "RUEHH"}  # the busiest; the rest summed
    assert "+9 lines (1 down), 9 waiting" in text  # five not shown here and four in other_lines
    log = text[text.index("routing log") :]
    assert "BELTSVILLE trunk-alternate precedence=FLASH trunks_out=['DETRICK']" in log
    assert "TINKER     routed       message_id=RUEHC-0469-3382202" in log


async def test_follow_without_a_centre_hears_every_centre_s_status_marked_with_its_name() -> None:
    """`follow` (no --centre) takes router/status/NAME too, the centre named by the topic, not the payload."""
    broker = MemoryBroker()
    watcher, centres = broker.connect(), broker.connect()
    updates: asyncio.Queue[tuple[dict[str, Any] | None, dict[str, Any] | None]] = asyncio.Queue()
    await centres.publish(topics.status("DETRICK"), b'{"at": "D", "centre": "FORGED"}', retain=True)
    following = asyncio.create_task(
        follow(watcher, lambda event, status: updates.put_nowait((event, status)))
    )
    async with asyncio.timeout(5):
        got = [await updates.get()]  # the retained status: subscribed
        await centres.publish(topics.status("TINKER"), b'{"at": "T"}')
        await centres.publish(topics.LOG, b'{"event": "routed", "centre": "TINKER"}')
        got += [await updates.get(), await updates.get()]
    following.cancel()
    await asyncio.wait({following})
    detrick = {"at": "D", CENTRE: "DETRICK", RETAINED: True}
    tinker = {"at": "T", CENTRE: "TINKER"}
    assert got == [(None, detrick), (None, tinker), ({"event": "routed", "centre": "TINKER"}, tinker)]
    screen = Screen(deque(), 1.5)
    for event, status in got:
        screen.update(event, status)
    console = Console(record=True, width=160)
    console.print(screen.renderable())
    text = console.export_text()
    assert "DETRICK" in text
    assert "STALE (a status from before; none since)" in text
    assert "TINKER" in text
    assert "live" in text
