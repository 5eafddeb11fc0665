"""The baseline of benchmarks/e2e.py: a bare aiomqtt relay, the fastest a Python relay on this client is.

    python benchmarks/relay.py mqtt://127.0.0.1:PORT FANOUT.json

It takes each cable off `cables/in/#` and republishes it, unchanged, on `cables/out/<RI>` for each
RI that FANOUT.json lists under the cable's topic level: the same copies the router would send, with
no parsing, no journal and no queues. Publishes are pipelined (not one PUBACK awaited at a time), as
the router's are, so the comparison is of the work, not of the waiting.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from urllib.parse import urlsplit

import aiomqtt

IN_FLIGHT = 256
"""Publishes awaiting their PUBACK at once."""


async def relay(url: str, fanout: dict[str, list[str]]) -> None:
    """Republish every cable to its posts' topics until killed."""
    address = urlsplit(url)
    host, port = address.hostname or "127.0.0.1", address.port or 1883
    async with aiomqtt.Client(host, port, identifier="bare-relay", max_inflight_messages=0) as client:
        await client.subscribe("cables/in/#", qos=1)
        print("listening", flush=True)
        slots = asyncio.Semaphore(IN_FLIGHT)
        pending: set[asyncio.Task[None]] = set()

        async def publish(topic: str, payload: bytes) -> None:
            try:
                await client.publish(topic, payload, qos=1)
            finally:
                slots.release()

        async for message in client.messages:
            name = str(message.topic).rsplit("/", 1)[1]
            payload = message.payload if isinstance(message.payload, bytes) else b""
            for ri in fanout.get(name, ()):
                await slots.acquire()
                task = asyncio.create_task(publish(f"cables/out/{ri}", payload))
                pending.add(task)
                task.add_done_callback(pending.discard)


if __name__ == "__main__":
    asyncio.run(relay(sys.argv[1], json.loads(Path(sys.argv[2]).read_text(encoding="utf-8"))))
