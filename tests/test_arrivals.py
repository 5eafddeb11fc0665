"""Big cables are read off the switch's loop: the traffic behind them goes on, nothing is acked early."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import TYPE_CHECKING

import pytest

from router.bus.memory import MemoryBroker, MemoryBus
from router.bus.protocol import Message
from router.cable.parser import parse_cable
from router.journal.store import Journal
from router.network import channel
from router.routing.table import DEFAULT_TABLE, RoutingTable, load_table, parse_table
from router.switch import arrivals
from router.switch.actions import Actions
from router.switch.arrivals import BIG_CABLE, Arrivals
from router.switch.cables import RecentCables
from router.switch.intake import INTERCEPTS_TOLD
from tests.helpers import receive, running
from tests.hostile_cables import HEAD, TEXT, nowhere, to_and_xmt

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.timeout(60)

FLASH = (
    b"VZCZCXYZ0002\nZZ RUEHWEB\nDE RUEHRO #0002 0011200\nZNR UUUUU ZZH\nZ 011200Z JAN 09\n"
    b"FM AMEMBASSY ROME\nTO AMEMBASSY PARIS\n\nUNCLAS ROME 000002\n\nSUBJECT: A FLASH\n"
)
"""A FLASH from Rome to Paris (ACP 127 §151: handled ahead of all other traffic)."""


class AckingBus(MemoryBus):
    """A bus on the in-memory broker that notes what it acknowledges, and when."""

    def __init__(self, broker: MemoryBroker) -> None:
        plain = broker.connect()
        super().__init__(broker, plain.queue)
        broker.clients[broker.clients.index(plain)] = self
        self.acked: list[bytes] = []

    async def ack(self, message: Message) -> None:
        """Noted, in the order asked."""
        self.acked.append(message.payload)


def unthrottled() -> RoutingTable:
    """The committed table on unthrottled lines with a wide window: only the switch's own time counts."""
    text = DEFAULT_TABLE.read_text(encoding="utf-8")
    fast = text.replace("baud = 75\nwindow = 4", "baud = 0\nwindow = 10000", 1)
    assert fast != text
    return parse_table(fast)


def big_cable() -> bytes:
    """A megabyte of addressee lines to Paris and to stations no table knows: long to read and decide."""
    return to_and_xmt(2_500, width=180).replace("TO RUEHZL/", "TO AMEMBASSY PARIS\nTO RUEHZL/", 1).encode()


async def test_a_flash_right_behind_a_big_cable_goes_first_and_acks_stay_in_order(tmp_path: Path) -> None:
    """The FLASH's copy is out while the big cable is still being read; the broker hears of both in order.

    MQTT 3.1.1 §4.6: PUBACKs in the order of the PUBLISHes. The FLASH was journalled first, but its
    acknowledgement waits for the big cable's commit.
    """
    broker = MemoryBroker()
    bus = AckingBus(broker)
    post, publisher = broker.connect(), broker.connect()
    await post.subscribe("cables/out/RUEHFR")
    big = big_cable()
    assert len(big) > 15 * BIG_CABLE
    journal = Journal(tmp_path / "journal.sqlite")
    async with running(bus, journal, unthrottled(), publish_log=False):
        await publisher.publish("cables/in/hostile", big)
        await publisher.publish("cables/in/flash", FLASH)
        first, second = await receive(post, 2, within=30)
        assert b"SUBJECT: A FLASH" in first.payload
        assert b"A HOSTILE CABLE" in second.payload
        assert bus.acked == [big, FLASH]
    # Journalled in the order the switch took them: the FLASH first.
    assert journal.raw(1) == FLASH
    assert journal.raw(2) == big


async def test_the_switch_interval_is_given_back_when_reading_ends(tmp_path: Path) -> None:
    """While a big cable is read the loop's thread gets the interpreter back sooner; then as it was."""
    before = sys.getswitchinterval()
    broker = MemoryBroker()
    post, publisher = broker.connect(), broker.connect()
    await post.subscribe("cables/out/RUEHFR")
    journal = Journal(tmp_path / "journal.sqlite")
    async with running(broker.connect(), journal, unthrottled(), publish_log=False):
        await publisher.publish("cables/in/hostile", big_cable())
        await receive(post, 1, within=30)
        assert sys.getswitchinterval() == before
    assert sys.getswitchinterval() == before


async def test_at_most_a_few_big_cables_are_read_ahead_the_rest_in_their_burst() -> None:
    """A flood of big cables is bounded: past `PREPARING` read ahead, the others are read in line."""
    taken = Arrivals(load_table(), max_bytes=4 << 20, wake=asyncio.Event())
    big = big_cable()
    messages = [_message(f"cables/in/{i}", big) for i in range(arrivals.PREPARING + 2)]
    results = [taken.take(m) for m in messages]
    assert results[: arrivals.PREPARING] == [None] * arrivals.PREPARING
    assert results[arrivals.PREPARING :] == [(m, None) for m in messages[arrivals.PREPARING :]]
    # None of them is safe to acknowledge while the first are being read.
    assert taken.committed([(m, None) for m in messages[arrivals.PREPARING :]]) == []
    taken.close()


def _message(topic: str, payload: bytes) -> Message:
    return Message(topic, payload, qos=1)


async def test_only_intake_cables_are_read_ahead() -> None:
    """A big receipt or line command is no cable: handled in its burst, as always."""
    taken = Arrivals(load_table(), max_bytes=4 << 20, wake=asyncio.Event())
    payload = b"X" * BIG_CABLE
    for topic in ("cables/ack/RUEHFR", "router/line/RUEHFR", "cables/svc/RUEHFR"):
        message = _message(topic, payload)
        assert taken.take(message) == (message, None)
    small = _message("cables/in/x", b"X" * (BIG_CABLE - 1))
    assert taken.take(small) == (small, None)
    taken.close()


async def test_thousands_of_intercepts_are_told_as_128_and_a_count(tmp_path: Path) -> None:
    """The journal keeps each intercept; the bus is told of the first `INTERCEPTS_TOLD`, then a count."""
    broker = MemoryBroker()
    watcher, publisher = broker.connect(), broker.connect()
    await watcher.subscribe("cables/intercept")
    unknown = [nowhere(i) for i in range(INTERCEPTS_TOLD + 72)]
    cable = (HEAD + "".join(f"TO {name}\n" for name in unknown) + TEXT).encode()
    journal = Journal(tmp_path / "journal.sqlite")
    async with running(broker.connect(), journal, unthrottled(), publish_log=False):
        await publisher.publish("cables/in/many", cable)
        told = [json.loads(m.payload) for m in await receive(watcher, INTERCEPTS_TOLD + 1)]
    assert [t["addressee"] for t in told[:INTERCEPTS_TOLD]] == unknown[:INTERCEPTS_TOLD]
    assert told[-1] == {
        "message_id": told[0]["message_id"],
        "journal_id": 1,
        "more": 72,
        "reasons": {"unknown-addressee": 72},
    }
    assert journal.counts()["intercepts"] == len(unknown)


ACP126 = b"O 091500Z NOV 08\nFM AMEMBASSY ROME\nTO SECSTATE WASHDC\nBT\nC O N F I D E N T I A L ROME 000877\n"
"""An ACP 126 cable: no FL3, so the switch identifies it (§116), with FL4 from its banner (§124b)."""


class _NoIdentities:
    """A journal that has identified no cable yet."""

    def identification(self, cable_id: int) -> None:  # noqa: ARG002 (a protocol's method)
        return None


def test_a_cable_the_intake_has_read_is_not_read_again_to_identify_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The identification takes the classification the intake read: no second parse on the switch's loop."""
    cable = parse_cable(ACP126, text_fields=False)
    recent = RecentCables(_NoIdentities(), Actions(log_copies=False, publish_log=False))  # type: ignore[arg-type]
    recent.now = 1_000_000_000.0  # 2001-09-09 01:46:40Z: Julian day 252

    def unread(*_: object, **__: object) -> None:
        raise AssertionError("the cable was read again")

    monkeypatch.setattr(channel, "parse_cable", unread)
    part, message_id = recent.remember(7, ACP126, cable.message_id, cable)
    assert message_id == "RUEHWEB-0007-2520146"
    assert part.startswith(b"DE RUEHWEB #0007 2520146\nZNY CCCCC\n")
