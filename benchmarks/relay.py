"""The baseline of benchmarks/e2e.py: a bare relay on the same MQTT client, the fastest it can be.

    python benchmarks/relay.py mqtt://127.0.0.1:PORT FANOUT.json

It takes each cable off `cables/in/#` and republishes it, unchanged, on `cables/out/<RI>` for each
RI that FANOUT.json lists under the cable's topic level: the same copies the router would send, with
no parsing, no journal and no queues. It uses what makes the router's own MQTT fast (the adapter
`router.bus.mqtt`, on gmqtt: TCP_NODELAY, MQTT 3.1.1, messages taken in bursts, sends
pipelined), so that the ratio compares the router's work, not its client.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections import deque
from pathlib import Path

from router.bus.mqtt import BrokerAddress, MqttBus

IN_FLIGHT = 1024
"""Sends awaiting their PUBACK at once, as in the router."""


async def relay(url: str, fanout: dict[str, list[str]]) -> None:
    """Republish every cable to its posts' topics until killed."""
    async with MqttBus(BrokerAddress.parse(url), client_id="bare-relay", mqtt5=False) as bus:
        await bus.subscribe("cables/in/#", qos=1)
        print("listening", flush=True)  # the benchmark waits for this line
        unconfirmed: deque[asyncio.Future[None]] = deque()
        async for message in bus.messages():
            name = message.topic.rsplit("/", 1)[1]
            for ri in fanout.get(name, ()):
                unconfirmed.append(bus.send(f"cables/out/{ri}", message.payload, qos=1))
            while len(unconfirmed) > IN_FLIGHT:
                await unconfirmed.popleft()


if __name__ == "__main__":
    import uvloop  # as `router run` does

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(relay(sys.argv[1], json.loads(Path(sys.argv[2]).read_text(encoding="utf-8"))))
