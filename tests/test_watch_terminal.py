"""`router watch` in a real terminal: tmux at 160 by 50, its screen captured as a user would see it.

The router's status names 60 busy lines and 300 more summed; the screen must keep the routing log
in sight, list the busiest lines first, sum the rest in one row, and say its clock is the network's.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import pytest

from router.bus.broker import Mosquitto, mosquitto_binary
from router.bus.mqtt import BrokerAddress, MqttBus

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

WIDTH, HEIGHT = 160, 50
AT = "2026-12-04T10:15:00+00:00"


def status() -> dict[str, object]:
    """60 lines with work (RUEHA00 the busiest, down), 300 others summed by the router itself."""
    queues = {
        f"RUEH{'AL'[n % 2]}{n:02d}": {
            "ROUTINE": 100 - n,
            "in_flight": 1,
            "up": n != 0,
            "sending": f"HAA{n:04d}",
        }
        for n in range(60)
    }
    other = {"lines": 300, "down": 2, "in_flight": 7, "waiting": {"ROUTINE": 40}}
    return {"at": AT, "queues": queues, "other_lines": other, "rates_per_s": {"routed": 3.0}}


async def publish(broker: Mosquitto, messages: list[tuple[str, bytes, bool]]) -> None:
    async with MqttBus(BrokerAddress.parse(broker.url), client_id="test-watch-terminal") as bus:
        for topic, payload, retain in messages:
            await bus.publish(topic, payload, qos=1, retain=retain)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    """A Mosquitto of the test's own: the session's keeps other tests' retained statuses (centres')."""
    if mosquitto_binary() is None:
        pytest.skip("mosquitto is not installed (.ci/run installs the Debian package)")
    with Mosquitto(tmp_path / "broker") as private:
        yield private


@pytest.fixture
def tmux() -> Iterator[str]:
    """A tmux server of the test's own (its socket name), killed afterwards."""
    if shutil.which("tmux") is None:
        if os.environ.get("CI", "").strip().lower() not in {"", "0", "false", "no"}:
            pytest.fail("tmux is not installed: CI must run the terminal test")
        pytest.skip("tmux is not installed (Debian package tmux)")
    socket = f"router-test-{os.getpid()}"
    yield socket
    subprocess.run(["tmux", "-L", socket, "kill-server"], check=False, capture_output=True)  # noqa: S603, S607


def watched(tmux: str, broker: Mosquitto, *flags: str) -> list[str]:
    """`router watch` in a 160x50 tmux window; its screen once the log's last event is on it."""
    command = " ".join([sys.executable, "-m", "router", "watch", "--broker", broker.url, *flags])
    subprocess.run(  # noqa: S603
        ["tmux", "-L", tmux, "new-session", "-d", "-x", str(WIDTH), "-y", str(HEIGHT), command],  # noqa: S607
        check=True,
        env={**os.environ, "TERM": "xterm-256color"},
    )
    time.sleep(2)  # connected and subscribed: the log is not retained
    events = [
        (
            "router/log",
            json.dumps({"event": "routed", "message_id": f"RUEHC-{n:04d}-0011200"}).encode(),
            False,
        )
        for n in range(20)
    ]
    asyncio.run(publish(broker, [("router/status", json.dumps(status()).encode(), True), *events]))
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        screen = subprocess.run(  # noqa: S603
            ["tmux", "-L", tmux, "capture-pane", "-p", "-t", "0"],  # noqa: S607
            check=True, capture_output=True, text=True,
        ).stdout.splitlines()  # fmt: skip
        if any("RUEHC-0019-0011200" in line for line in screen):
            return screen
        time.sleep(0.25)
    raise AssertionError("\n".join(screen))


def test_the_screen_fits_the_terminal_busiest_lines_first_the_log_in_sight(
    tmux: str, broker: Mosquitto
) -> None:
    screen = watched(tmux, broker)
    text = "\n".join(screen)
    assert len(screen) <= HEIGHT
    assert max(len(line) for line in screen) <= WIDTH
    assert f"network time {AT}" in text
    assert "routing log" in text
    rows = [
        line
        for line in screen
        if line.startswith(("│ RUEH", "┃ RUEH")) or line.lstrip("│ ").startswith("RUEH")
    ]
    listed = [
        line.split()[1] for line in rows if len(line.split()) > 1 and line.split()[1].startswith("RUEH")
    ]
    assert listed[0] == "RUEHA00"  # the busiest first
    assert "DOWN" in rows[0]
    assert 10 <= len(listed) < 60  # as many as fit beside the log, not all 60
    summed = [line for line in screen if "more lines:" in line]
    assert len(summed) == 1
    more = 60 - len(listed) + 300
    assert f"+{more} more lines:" in summed[0]


def test_the_screen_shows_only_the_lines_asked_for(tmux: str, broker: Mosquitto) -> None:
    screen = watched(tmux, broker, "--post", "ruehl")
    listed = {word for line in screen for word in line.split() if word.startswith("RUEH") and len(word) == 7}
    assert listed
    assert all(ri.startswith("RUEHL") for ri in listed)
    assert "showing: RUEHL lines" in "\n".join(screen)
