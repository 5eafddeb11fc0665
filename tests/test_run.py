"""`router run` as its users run it: a process on a real Mosquitto, stopped by signals, killed mid-cable."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import zlib
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from router.bus.mqtt import BrokerAddress, MqttBus
from tests.helpers import opened

if TYPE_CHECKING:
    from collections.abc import Iterator

    from router.bus.broker import Mosquitto

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
CABLE = (SAMPLES / "routine-unclassified.txt").read_bytes()  # to RUEHC and others
ROUTER_RUN = [sys.executable, "-m", "router", "run"]


@contextmanager
def router_process(broker: Mosquitto, journal: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`python -m router run` on ``broker``; waits until it listens; killed if left running."""
    process = subprocess.Popen(  # noqa: S603
        # The committed table's lines run at 75 baud: at this time scale a copy takes microseconds.
        [*ROUTER_RUN, "--broker", broker.url, "--journal", str(journal), "--time-scale", "1000000"],
        stderr=subprocess.PIPE,
        # A host second is days of network time: no line is checked for silence (ZID, §412b)
        # meanwhile, so that a post's first message is a cable's copy.
        # A session of its own per journal (a restart on the same journal resumes it): the broker is
        # the session's, and another test's router session would hold cables published since.
        env={
            **os.environ,
            "ROUTER_CLIENT_ID": f"router-{zlib.crc32(str(journal).encode()):08x}",
            "ROUTER_CHANNEL_CHECK_AFTER": "1e15",
        },
    )
    assert process.stderr is not None
    for line in process.stderr:  # the routing log, one JSON object a line
        if json.loads(line).get("event") == "listening":
            break
    else:
        raise AssertionError("router exited before it connected")
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stderr.close()


async def first_copy(broker: Mosquitto, post: str, *, publish: bytes | None = None) -> str:
    """Connect as ``post`` (publishing ``publish`` to the intake first), return its first message id.

    The post's session is persistent: copies sent while it was away wait for it at the broker.
    """
    address = BrokerAddress.parse(broker.url)
    async with MqttBus(address, client_id=f"test-post-{post}", persistent=True) as bus:
        await bus.subscribe(f"cables/out/{post}")
        if publish is not None:
            await bus.publish("cables/in/test", publish)
        async with asyncio.timeout(10):
            async for message in bus.messages():
                return opened(message)[1].message_id
    raise AssertionError("no copy")


def test_router_run_delivers_and_exits_zero_on_sigterm(mosquitto: Mosquitto, tmp_path: Path) -> None:
    """A cable reaches its post; SIGTERM stops the router with status 0, its retained status saying so."""
    with router_process(mosquitto, tmp_path / "journal.sqlite") as router:
        message_id = asyncio.run(first_copy(mosquitto, "RUEHC", publish=CABLE))
        assert message_id == "RUEHOT-0311-0421200"
        router.send_signal(signal.SIGTERM)
        assert router.wait(timeout=10) == 0
    status = asyncio.run(offline_status(mosquitto))
    assert status["reason"] == "stopped"
    assert "at" in status


def test_router_run_stopped_by_ctrl_c_stops_cleanly_with_status_130(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """SIGINT: the same clean stop as SIGTERM, but the status says interrupted, as a shell reports it."""
    with router_process(mosquitto, tmp_path / "journal.sqlite") as router:
        router.send_signal(signal.SIGINT)
        assert router.wait(timeout=10) == 130
    assert asyncio.run(offline_status(mosquitto))["reason"] == "stopped"


def test_a_killed_router_leaves_an_offline_status(mosquitto: Mosquitto, tmp_path: Path) -> None:
    """SIGKILL: the broker publishes the router's Last Will, a retained `router/status` saying offline."""
    with router_process(mosquitto, tmp_path / "journal.sqlite") as router:
        router.kill()
        router.wait()
        status = asyncio.run(offline_status(mosquitto))
    assert status == {
        "state": "offline",
        "reason": "the router's connection ended without a goodbye (Last Will)",
    }


async def offline_status(broker: Mosquitto) -> dict[str, object]:
    """The first `router/status` saying offline, the retained one included (fails after 10 s)."""
    async with MqttBus(BrokerAddress.parse(broker.url), client_id="test-status-reader") as bus:
        await bus.subscribe("router/status")
        async with asyncio.timeout(10):
            async for message in bus.messages():
                status: dict[str, object] = json.loads(message.payload)
                if status.get("state") == "offline":
                    return status
    raise AssertionError("no status")


def test_a_cable_taken_but_not_journalled_is_delivered_again_after_sigkill(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """Killed between receipt and journal commit, the router gets the cable again from the broker."""
    journal = tmp_path / "journal.sqlite"
    with router_process(mosquitto, journal) as router:
        # Hold the journal's write lock: the router takes the cable but cannot commit it.
        lock = sqlite3.connect(journal, isolation_level=None)
        lock.execute("BEGIN EXCLUSIVE")
        asyncio.run(publish_only(mosquitto, CABLE))
        try:
            router.wait(timeout=1)  # the router is blocked on the lock: it does not exit
        except subprocess.TimeoutExpired:
            router.kill()  # SIGKILL, mid-cable
        router.wait()
        lock.execute("ROLLBACK")
        lock.close()
    assert sqlite3.connect(journal).execute("SELECT count(*) FROM cables").fetchone() == (0,)
    asyncio.run(subscribe_only(mosquitto, "RUEHC"))  # the post's session holds what comes while away
    with router_process(mosquitto, journal):
        message_id = asyncio.run(first_copy(mosquitto, "RUEHC"))
    assert message_id == "RUEHOT-0311-0421200"
    assert sqlite3.connect(journal).execute("SELECT count(*) FROM cables").fetchone() == (1,)


async def subscribe_only(broker: Mosquitto, post: str) -> None:
    """Open ``post``'s persistent session with its subscription, and leave."""
    async with MqttBus(
        BrokerAddress.parse(broker.url), client_id=f"test-post-{post}", persistent=True
    ) as bus:
        await bus.subscribe(f"cables/out/{post}")


async def publish_only(broker: Mosquitto, cable: bytes) -> None:
    """Publish one cable to the intake at QoS 1."""
    async with MqttBus(BrokerAddress.parse(broker.url), client_id="test-publisher") as bus:
        await bus.publish("cables/in/test", cable)


def test_router_run_keeps_the_network_time_of_a_clock_origin(mosquitto: Mosquitto, tmp_path: Path) -> None:
    """--clock-origin: network time is the origin plus the host's time since, scaled, whenever it starts.

    The centres of one network are started with the same (`router demo --network` does): one time.
    """
    origin = time.time() - 60
    began = time.time()
    process = subprocess.Popen(  # noqa: S603
        [
            *ROUTER_RUN,
            "--broker",
            mosquitto.url,
            "--journal",
            str(tmp_path / "journal.sqlite"),
            "--time-scale",
            "100",
            "--clock-origin",
            repr(origin),
        ],
        stderr=subprocess.PIPE,
        env={**os.environ, "ROUTER_CLIENT_ID": "router-clock-origin"},
    )
    assert process.stderr is not None
    try:
        for line in process.stderr:
            entry = json.loads(line)
            if entry.get("event") == "router-started":
                break
        said = time.time()
        network_time = datetime.fromisoformat(entry["network_time"]).timestamp()
        # 60 host seconds since the origin are 6,000 network seconds: some 100 minutes ahead.
        assert origin + (began - origin) * 100 - 1 <= network_time <= origin + (said - origin) * 100 + 1
    finally:
        process.kill()
        process.wait()
        process.stderr.close()


def test_plain_router_run_says_its_line_speeds_and_time_scale_and_delivers_in_seconds(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """No --time-scale: a network minute a second, said at the start with the lines' speeds.

    The committed table's lines run at 75 baud (ten characters a network second): at real time the
    FLASH sample would reach RUEHFL after a minute and a half; at the default it comes in seconds.
    """
    process = subprocess.Popen(  # noqa: S603
        [*ROUTER_RUN, "--broker", mosquitto.url, "--journal", str(tmp_path / "journal.sqlite")],
        stderr=subprocess.PIPE,
        env={**os.environ, "ROUTER_CLIENT_ID": "router-plain"},
    )
    assert process.stderr is not None
    try:
        entries = []
        for line in process.stderr:
            entries.append(json.loads(line))
            if entries[-1].get("event") == "listening":
                break
        (started,) = [entry for entry in entries if entry.get("event") == "router-started"]
        assert started["time_scale"] == 60.0
        assert started["line_speeds"] == {"75 baud": started["posts"]}
        assert started["slowest_line_characters_per_host_second"] == 600.0  # 75 baud / 7.5 units x 60
        flash = (SAMPLES / "flash-collective.txt").read_bytes()
        # RUEHFL: a post of the sample no other test receipts as (a post's session outlives a test).
        assert asyncio.run(first_copy(mosquitto, "RUEHFL", publish=flash)) == "RUEHRO-0877/01-3130915"
    finally:
        process.kill()
        process.wait()
        process.stderr.close()
