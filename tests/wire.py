"""A small network for the wire procedures' tests: Paris (alternate Rome), Rome and London, unthrottled.

The router on the in-memory bus and a hand-driven clock, with a view of each post's channel.
"""

from __future__ import annotations

import json
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from router.bus.memory import MemoryBroker, MemoryBus
from router.journal import queries
from router.journal.store import Journal
from router.network.channel import read_copy
from router.network.clock import ManualClock, settle
from router.routing.table import parse_table
from router.switch.core import Limits
from tests.helpers import running

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from router.bus.protocol import Message

TABLE = """
[defaults]
baud = 0
window = 10

[[posts]]
ri = "RUEHFR"
names = ["AMEMBASSY PARIS"]
alternate = "RUEHRO"

[[posts]]
ri = "RUEHRO"
names = ["AMEMBASSY ROME"]

[[posts]]
ri = "RUEHLO"
names = ["AMEMBASSY LONDON"]
"""
START = 1_000_000_000.0
DIVERT_AFTER = 300.0


def cable(serial: int, precedence: str, to: str = "AMEMBASSY PARIS") -> bytes:
    """A cable from the Department to ``to`` at ``precedence`` (its FL5 letter)."""
    return (
        f"VZCZCXYZ{serial:04d}\n{precedence}{precedence} RUEHWEB\nDE RUEHC #{serial:04d} 0011200\n"
        f"ZNR UUUUU ZZH\n{precedence} 011200Z JAN 09\nFM SECSTATE WASHDC\nTO {to}\n\n"
        f"UNCLAS STATE {serial:06d}\n\nSUBJECT: CABLE {serial}\n"
    ).encode()


class Network:
    """The router and a view of Paris's, Rome's and London's channels."""

    def __init__(self, broker: MemoryBroker, clock: ManualClock, journal: Journal) -> None:
        self.clock, self.journal = clock, journal
        self.publisher = broker.connect()
        self.channels = {ri: broker.connect() for ri in ("RUEHFR", "RUEHRO", "RUEHLO")}

    async def send(self, topic: str, payload: bytes) -> None:
        """Publish, and let the router take it."""
        await self.publisher.publish(topic, payload)
        await settle()

    def received(self, ri: str) -> list[Message]:
        """What the post's channel carried since the last look."""
        bus: MemoryBus = self.channels[ri]
        got = []
        while not bus.queue.empty():
            got.append(bus.queue.get_nowait())
        return got

    def events(self, name: str) -> list[dict[str, object]]:
        """The routing log's entries called ``name``, from the journal."""
        with queries.read_only(self.journal.path) as db:
            rows = db.execute("SELECT fields FROM events WHERE event = ? ORDER BY id", (name,)).fetchall()
        return [json.loads(fields) for (fields,) in rows]


@asynccontextmanager
async def network(tmp_path: Path, *, table: str = TABLE, **limits: float) -> AsyncIterator[Network]:
    """The router on ``table``, its lines going round after `DIVERT_AFTER`, and the posts' channels."""
    broker = MemoryBroker()
    clock = ManualClock(START)
    journal = Journal(tmp_path / "journal.sqlite", clock=clock.now)
    chosen = Limits(divert_after=limits.pop("divert_after", DIVERT_AFTER), **limits)  # type: ignore[arg-type]
    async with running(broker.connect(), journal, parse_table(table), clock=clock, limits=chosen):
        net = Network(broker, clock, journal)
        for ri, bus in net.channels.items():
            await bus.subscribe(f"cables/out/{ri}")
        yield net


def called(message: Message) -> tuple[str, str, tuple[str, ...]]:
    """A copy's transmission id, its FL2 prosign and the RIs its FL2 calls."""
    copy = read_copy(message.payload)
    prosign = message.payload.split(b"\n")[1].lstrip(b"\a").split()[0].decode()
    return copy.transmission_id, prosign, copy.called
