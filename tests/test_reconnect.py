"""When the broker goes away, the router logs it, reconnects with backoff, and carries on."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import pytest
import structlog

from router.bus import mqtt
from router.bus.broker import Mosquitto, free_port, mosquitto_binary
from router.bus.mqtt import BrokerAddress, MqttBus, reconnecting
from router.errors import BusError
from router.network.channel import read_copy
from router.settings import Settings
from router.switch.serve import serve
from tests.helpers import opened

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

CABLE = (
    "VZCZCXYZ{n:04d}\nRR RUEHWEB\nDE RUEHRO #{n:04d} 0011200\nZNR UUUUU ZZH\nR 011200Z JAN 09\n"
    "FM AMEMBASSY ROME\nTO AMEMBASSY PARIS\n\nUNCLAS ROME {n:06d}\n"
)


async def router_listening(address: BrokerAddress) -> None:
    """Wait for the router's retained status: it subscribes before it first publishes one."""
    async with MqttBus(address, client_id="status-reader") as reader:
        await reader.subscribe("router/status")
        async with asyncio.timeout(15):
            await anext(aiter(reader.messages()))


async def one_copy(address: BrokerAddress, n: int) -> str:
    """Publish cable ``n`` and return the message id of the copy Paris receives."""
    async with MqttBus(address, client_id=f"paris-{n}") as post:
        await post.subscribe("cables/out/RUEHFR")
        await post.publish("cables/in/x", CABLE.format(n=n).encode())
        async with asyncio.timeout(15):
            async for message in post.messages():
                # A transmission cut when the broker went comes first as its ZFR (§424d): not a copy.
                if read_copy(message.payload).service is None:
                    return opened(message)[1].message_id
    raise AssertionError("no copy")


async def test_the_router_survives_a_broker_restart(tmp_path: Path) -> None:
    """Broker stopped and started again on its port: the router reconnects and routes the next cable."""
    if mosquitto_binary() is None:
        pytest.skip("mosquitto is not installed")
    port = free_port()
    stop = asyncio.Event()
    # A broker that keeps its sessions on disk, as a deployed one does (docker/mosquitto.conf):
    # what is published while the router reconnects waits in the router's session.
    broker = Mosquitto(tmp_path / "broker", port=port, persistence=True)
    broker.start()
    address = broker.address()
    # At this scale a host second is days of network time: no line is checked for silence (§412b)
    # meanwhile, so that what reaches Paris is the cables' copies, not a ZID.
    settings = Settings(
        broker=broker.url,
        journal=tmp_path / "journal.sqlite",
        reconnect_max=0.5,
        time_scale=1_000_000,
        channel_check_after=1e15,
    )
    with structlog.testing.capture_logs() as logs:
        service = asyncio.create_task(serve(settings, stop))
        try:
            await router_listening(address)
            first = await one_copy(address, 1)
            broker.stop()
            broker = Mosquitto(tmp_path / "broker", port=port, persistence=True)
            broker.start()
            second = await one_copy(address, 2)
        finally:
            stop.set()
            await asyncio.wait_for(service, 15)
            broker.stop()
    assert (first, second) == ("RUEHRO-0001-0011200", "RUEHRO-0002-0011200")
    events = [entry["event"] for entry in logs]
    assert "broker-lost" in events
    assert events.count("connected") >= 2


async def test_a_connection_lost_at_once_backs_off_and_one_that_held_waits_little(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Connected and lost at once, every time (a subscription refused at each start): the waits double.

    Not the first wait again after each such connection: that was a loop twice a second for as long
    as the broker refused (NATS, a JetStream consumer it would not make). One that held a while
    (`STEADY_AFTER`) lost the broker, which may be back soon: the first wait again.
    """
    monkeypatch.setattr(mqtt, "STEADY_AFTER", 0.2)
    attempts = 0
    waits: list[float] = []

    @asynccontextmanager
    async def connect() -> AsyncIterator[object]:
        yield object()

    async def work(_: object) -> None:
        nonlocal attempts
        attempts += 1
        if attempts == 7:
            return
        if attempts == 5:
            await asyncio.sleep(0.25)  # held, then lost
        raise BusError("the broker refused the subscription to cables/ack/RHEGGTN: Unspecified error")

    await reconnecting(
        connect,
        work,
        reconnect_max=0.04,
        first_retry=0.01,
        on_connected=lambda: None,
        on_lost=lambda _, wait: waits.append(wait),
    )
    assert waits == [0.01, 0.02, 0.04, 0.04, 0.01, 0.02]
