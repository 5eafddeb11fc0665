"""The brokers the project starts and ships: their port, their life, what they keep and what they refuse."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from router.bus.broker import Mosquitto, free_port, message_size_limit, mosquitto_binary
from router.bus.mqtt import BrokerAddress, MqttBus
from router.cable.parser import MAX_CABLE_BYTES
from router.errors import BrokerError, BusError
from router.settings import Settings
from router.switch.serve import broker_for
from tests.conftest import ROOT
from tests.helpers import receive

DOCKER_CONFIG = ROOT / "docker" / "mosquitto.conf"


@pytest.fixture(autouse=True)
def _need_mosquitto() -> None:
    if mosquitto_binary() is None:
        pytest.skip("mosquitto is not installed (.ci/run installs the Debian package)")


def test_a_taken_port_is_refused_naming_it(tmp_path: Path) -> None:
    """Something already listens on the port: the private broker does not start, and says which port."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        with pytest.raises(BrokerError, match=f"^port {port} is taken by another process"):
            Mosquitto(tmp_path, port=port).start()


def test_router_run_refuses_a_taken_embedded_port_in_one_line(tmp_path: Path) -> None:
    """`router run` with its embedded port taken exits with one line naming the port, not on that broker."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        done = subprocess.run(  # noqa: S603 (our own command)
            [sys.executable, "-m", "router", "run", "--journal", str(tmp_path / "journal.sqlite")],
            capture_output=True,
            text=True,
            env=_without_broker({"ROUTER_EMBEDDED_PORT": str(port)}),
            timeout=60,
            check=False,
        )
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1].startswith(f"router: port {port} is taken by another process")


def test_the_private_broker_dies_with_a_killed_router(tmp_path: Path) -> None:
    """SIGKILL of `router run`: its private Mosquitto does not outlive it."""
    router = subprocess.Popen(  # noqa: S603 (our own command)
        [*_ROUTER_RUN, "--journal", str(tmp_path / "journal.sqlite"), "--time-scale", "1000000"],
        stderr=subprocess.PIPE,
        env=_without_broker({"ROUTER_EMBEDDED_PORT": str(free_port())}),
    )
    assert router.stderr is not None
    broker_pid = None
    try:
        for line in router.stderr:
            event = json.loads(line)
            if event.get("event") == "broker-started":
                broker_pid = int(event["pid"])
            if event.get("event") == "listening":
                break
        assert broker_pid is not None
        assert _alive(broker_pid)
        router.kill()
        router.wait()
        deadline = time.monotonic() + 10
        while _alive(broker_pid) and time.monotonic() < deadline:
            time.sleep(0.05)  # a process we do not control: polling is all there is
        assert not _alive(broker_pid)
    finally:
        if router.poll() is None:
            router.kill()
            router.wait()
        router.stderr.close()


async def test_what_the_broker_acknowledged_survives_its_sigkill(tmp_path: Path) -> None:
    """Saving after every change: a cable acknowledged for an absent session outlives a SIGKILL."""
    port = free_port()
    broker = Mosquitto(tmp_path, port=port, persistence=True, autosave=(True, 1))
    broker.start()
    address = broker.address()
    try:
        async with MqttBus(address, client_id="test-durable-router", persistent=True) as router:
            await router.subscribe("cables/in/#")
        async with MqttBus(address, client_id="test-durable-publisher") as publisher:
            await publisher.publish("cables/in/one", b"THE CABLE")
            # Acknowledged in a later pass of the broker's loop: the cable's snapshot is taken by then.
            await publisher.publish("cables/in/two", b"A LATER ONE")
        assert broker.pid is not None
        os.kill(broker.pid, signal.SIGKILL)
        broker.stop()
        broker = Mosquitto(tmp_path, port=port, persistence=True, autosave=(True, 1))
        broker.start()
        async with MqttBus(address, client_id="test-durable-router", persistent=True) as router:
            (message,) = await receive(router, 1)
    finally:
        broker.stop()
    assert (message.topic, message.payload) == ("cables/in/one", b"THE CABLE")


async def test_a_message_over_the_routers_limit_is_refused_by_the_broker(tmp_path: Path) -> None:
    """The broker passes on a message at its limit, and refuses one byte more: its publisher is told."""
    with Mosquitto(tmp_path, max_cable_bytes=1000) as broker:
        limit = message_size_limit(1000)
        address = BrokerAddress.parse(broker.url)
        async with MqttBus(address, client_id="test-limit-reader") as reader:
            await reader.subscribe("cables/in/#")
            async with MqttBus(address, client_id="test-limit-publisher") as publisher:
                # Mosquitto 2.0 drops it and disconnects an MQTT 5 publisher without a PUBACK.
                with pytest.raises(BusError, match=r"refused the message on cables/in/big|before its PUBACK"):
                    await publisher.publish("cables/in/big", b"x" * (limit + 1))
            async with MqttBus(address, client_id="test-limit-publisher") as publisher:
                await publisher.publish("cables/in/fits", b"x" * limit)
            (message,) = await receive(reader, 1)
    assert message.topic == "cables/in/fits"


async def test_the_private_broker_keeps_its_state_beside_the_journal_with_the_routers_limit(
    tmp_path: Path,
) -> None:
    """`router run`'s broker persists into <journal>.broker/ and refuses what the router would reject."""
    settings = Settings(journal=tmp_path / "j.sqlite", embedded_port=free_port(), max_cable_bytes=1000)
    async with broker_for(settings) as (address, mqtt5):
        assert mqtt5
        assert address.port == settings.embedded_port
    config = (tmp_path / "j.sqlite.broker" / "mosquitto.conf").read_text().splitlines()
    assert "persistence true" in config
    assert f"persistence_location {tmp_path / 'j.sqlite.broker'}/" in config
    assert f"message_size_limit {message_size_limit(1000)}" in config
    assert (tmp_path / "j.sqlite.broker" / "mosquitto.db").exists()  # saved at its stop


def test_the_shipped_config_persists_each_change_and_limits_message_size() -> None:
    """docker/mosquitto.conf: persistence, a snapshot after every change, the router's message size limit."""
    settings = dict(
        line.split(None, 1)
        for line in DOCKER_CONFIG.read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert settings["persistence"] == "true"
    assert settings["autosave_on_changes"] == "true"
    assert settings["autosave_interval"] == "100"
    assert settings["message_size_limit"] == str(message_size_limit(MAX_CABLE_BYTES))
    assert settings["max_queued_messages"] == "0"


_ROUTER_RUN = [sys.executable, "-m", "router", "run"]


def _without_broker(extra: dict[str, str]) -> dict[str, str]:
    """The environment for `router run` on its private broker: no ROUTER_BROKER, and ``extra``."""
    return {name: value for name, value in os.environ.items() if name != "ROUTER_BROKER"} | extra


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, dead but not yet reaped by its new parent, does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in {"Z", "X"}
