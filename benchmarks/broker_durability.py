"""What a SIGKILL of Mosquitto loses of what it acknowledged, and what each autosave setting costs.

    python benchmarks/broker_durability.py [--cables N]

For each autosave setting: a private Mosquitto with persistence (`router.bus.broker.Mosquitto`), the
router's persistent session subscribed to `cables/in/#` and then away (as when the router is
down), N sample cables published at QoS 1 (pipelined, 256 awaiting their PUBACK), the broker killed
with SIGKILL the moment the last PUBACK is in, started again on its database, and the router's
session read back: how many of the acknowledged cables survived, and the publish rate. Then the
same publishing with the router's session connected and taking every cable (the broker's queue
stays short): the publish rate when the router keeps up.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import tempfile
import time
from collections import deque
from pathlib import Path

from router.bus.broker import Mosquitto, free_port
from router.bus.mqtt import BrokerAddress, MqttBus

CABLE = (Path(__file__).resolve().parent.parent / "samples" / "routine-unclassified.txt").read_bytes()
SETTINGS = {
    "Mosquitto's default: a save every 1800 s": (False, 1800),
    "a save every second": (False, 1),
    "the shipped configs: a save after 100 changes": (True, 100),
    "a save after every change": (True, 1),
}
IN_FLIGHT = 256
IDLE = 3.0
"""Seconds without a message after which the restarted broker has given the session all it kept."""


async def publish(address: BrokerAddress, cables: int) -> tuple[int, float]:
    """Publish ``cables`` sample cables at QoS 1, pipelined: how many were acknowledged, and how fast."""
    acknowledged = 0
    started = time.perf_counter()
    async with MqttBus(address, client_id="publisher") as publisher:
        waiting: deque[asyncio.Future[None]] = deque()
        for n in range(cables):
            waiting.append(publisher.send(f"cables/in/c{n}", CABLE, qos=1))
            while len(waiting) >= IN_FLIGHT:
                await waiting.popleft()
                acknowledged += 1
        while waiting:
            await waiting.popleft()
            acknowledged += 1
        return acknowledged, cables / (time.perf_counter() - started)


async def with_router_connected(cables: int, autosave: tuple[bool, int], directory: Path) -> float:
    """Cables a second published while the router's session takes them."""
    with Mosquitto(directory, persistence=True, autosave=autosave) as broker:
        address = BrokerAddress.parse(broker.url)
        async with MqttBus(address, client_id="router", persistent=True) as router:
            await router.subscribe("cables/in/#")
            taken = asyncio.Event()

            async def take() -> None:
                count = 0
                async for _ in router.messages():
                    count += 1
                    if count == cables:
                        taken.set()

            reader = asyncio.create_task(take())
            started = time.perf_counter()
            await publish(address, cables)
            await asyncio.wait_for(taken.wait(), 120)
            elapsed = time.perf_counter() - started
            reader.cancel()
            await asyncio.wait({reader})
    return cables / elapsed


async def run(cables: int, autosave: tuple[bool, int], directory: Path) -> tuple[int, int, float]:
    """Acknowledged, survived, cables a second."""
    port = free_port()
    broker = Mosquitto(directory, port=port, persistence=True, autosave=autosave)
    broker.start()
    address = broker.address()  # its owner: the same password after the restart, kept in `directory`
    try:
        async with MqttBus(address, client_id="router", persistent=True) as router:
            await router.subscribe("cables/in/#")
        acknowledged, rate = await publish(address, cables)
        assert broker.pid is not None
        os.kill(broker.pid, signal.SIGKILL)
        broker.stop()
        broker = Mosquitto(directory, port=port, persistence=True, autosave=autosave)
        broker.start()
        survived = 0
        async with MqttBus(address, client_id="router", persistent=True) as router:
            messages = aiter(router.messages())
            while True:
                try:
                    await asyncio.wait_for(anext(messages), IDLE)
                except TimeoutError:
                    break
                survived += 1
    finally:
        broker.stop()
    return acknowledged, survived, rate


def main() -> int:
    """Each setting in turn; one line each."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cables", type=int, default=2000)
    options = parser.parse_args()
    print(f"{options.cables} cables of {len(CABLE)} bytes, Mosquitto killed after the last PUBACK")
    for name, autosave in SETTINGS.items():
        with tempfile.TemporaryDirectory(prefix="broker-durability-") as directory:
            acknowledged, survived, rate = asyncio.run(run(options.cables, autosave, Path(directory)))
        with tempfile.TemporaryDirectory(prefix="broker-durability-") as directory:
            connected = asyncio.run(with_router_connected(options.cables, autosave, Path(directory)))
        print(
            f"  {name}: router away: {acknowledged} acknowledged, {survived} survived the kill, "
            f"{rate:,.0f} cables/s; router connected: {connected:,.0f} cables/s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
