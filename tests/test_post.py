"""`router post` on a real Mosquitto: a persistent session that holds copies, and reconnection."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import pytest

from router.bus import topics
from router.bus.broker import Mosquitto, free_port, mosquitto_binary
from router.bus.memory import MemoryBroker
from router.bus.mqtt import BrokerAddress, MqttBus, reconnecting
from router.cable.models import Precedence
from router.cli.render import reading_line
from router.errors import BusError
from router.journal.store import Journal
from router.network.channel import single_call
from router.routing.table import parse_table
from router.sim.post import PostStation, Reading, post_connection, serve_post
from tests import helpers
from tests.conftest import ROOT

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

CABLE = (ROOT / "samples" / "routine-unclassified.txt").read_bytes()


async def test_copies_sent_while_a_post_is_away_wait_for_it(mosquitto: Mosquitto) -> None:
    """A post connected once, then away while copies go out, receives them all when it is back."""
    address = BrokerAddress.parse(mosquitto.url)
    ri = "RUEHAW"
    async with post_connection(address, ri, session_expiry=600) as bus:
        await bus.subscribe(topics.copies(ri), qos=1)  # as `serve_post` does, then away
    async with MqttBus(address, client_id="test-switch") as switch:
        for serial in (1, 2):
            await switch.publish(topics.copies(ri), single_call(CABLE, f"HAW{serial:04d}", ri, "RR"))
    readings: asyncio.Queue[Reading] = asyncio.Queue()
    async with post_connection(address, ri, session_expiry=600) as bus:
        task = asyncio.create_task(serve_post(bus, PostStation(ri), readings.put_nowait))
        async with asyncio.timeout(10):
            got = [await readings.get(), await readings.get()]
        task.cancel()
        await asyncio.wait({task})
    assert [reading.transmission_id for reading in got] == ["HAW0001", "HAW0002"]


def test_router_post_says_when_the_broker_goes_and_connects_again(tmp_path: Path) -> None:
    """Broker stopped: `router post` says so on stderr and keeps trying; restarted: it listens again."""
    if mosquitto_binary() is None:
        pytest.skip("mosquitto is not installed")
    port = free_port()
    broker = Mosquitto(tmp_path / "broker", port=port)
    broker.start()
    post = subprocess.Popen(  # noqa: S603 (our own command)
        [sys.executable, "-m", "router", "post", "RUEHC", "--broker", broker.url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "ROUTER_RECONNECT_MAX": "0.5"},
    )
    assert post.stdout is not None
    assert post.stderr is not None
    try:
        assert post.stdout.readline() == "post RUEHC listening on cables/out/RUEHC\n"
        broker.stop()
        lost = post.stderr.readline()
        assert lost.startswith("post RUEHC: lost the broker at")
        assert "connecting again in 0.5 s (Ctrl-C to stop)" in lost
        broker = Mosquitto(tmp_path / "broker", port=port)
        broker.start()
        assert post.stdout.readline() == "post RUEHC listening on cables/out/RUEHC\n"
        post.send_signal(signal.SIGINT)
        assert post.wait(timeout=10) == 130  # Ctrl-C: interrupted, as a shell reports it
    finally:
        if post.poll() is None:
            post.kill()
            post.wait()
        post.stdout.close()
        post.stderr.close()
        broker.stop()


async def test_reconnecting_doubles_its_wait_to_the_cap_and_says_each_time() -> None:
    """Each failed connection is reported with the wait before the next, doubling up to the cap."""
    attempts = 0

    @asynccontextmanager
    async def connect() -> AsyncIterator[str]:
        nonlocal attempts
        attempts += 1
        if attempts <= 4:  # four failures, then the broker is back
            raise BusError(f"cannot connect ({attempts})")
        yield "bus"

    lost: list[tuple[str, float]] = []
    worked: list[str] = []

    async def work(bus: str) -> None:
        worked.append(bus)

    await reconnecting(
        connect,
        work,
        reconnect_max=0.004,
        first_retry=0.001,
        on_connected=lambda: worked.append("connected"),
        on_lost=lambda reason, delay: lost.append((reason, delay)),
    )
    assert lost == [
        ("cannot connect (1)", 0.001),
        ("cannot connect (2)", 0.002),
        ("cannot connect (3)", 0.004),
        ("cannot connect (4)", 0.004),
    ]
    assert worked == ["connected", "bus"]


COPY = (
    b"VZCZCHFR0001\nRR RUEHFR\nDE RUEHRO #0001 0011200\nZNR UUUUU ZZH\nR 011200Z JAN 09\n"
    b"FM AMEMBASSY ROME\nTO AMEMBASSY PARIS\n\nUNCLAS ROME 000001\n\nSUBJECT: CABLE 1\n"
)


async def test_a_copy_is_shown_before_its_receipt_so_a_lost_connection_cannot_hide_it() -> None:
    """The broker lost as the receipt goes: the message was shown already, and its redelivery is filed."""
    broker = MemoryBroker()
    sender, post = broker.connect(), broker.connect()
    station = PostStation("RUEHFR")
    shown: list[str] = []

    class LosesTheBroker:
        """The post's connection, gone as it publishes its first receipt."""

        def __getattr__(self, name: str) -> object:
            return getattr(post, name)

        async def publish(self, topic: str, *_: object, **__: object) -> None:
            raise BusError(f"lost the broker before the PUBACK of {topic}")

    def show(reading: Reading) -> None:
        if reading.cable is not None:
            shown.append(reading.cable.message_id)

    serving = asyncio.create_task(serve_post(LosesTheBroker(), station, show))  # type: ignore[arg-type]
    await asyncio.sleep(0)  # let it subscribe
    await sender.publish("cables/out/RUEHFR", COPY)
    with pytest.raises(BusError):
        await asyncio.wait_for(serving, 5)
    assert shown == ["RUEHRO-0001-0011200"]
    again = station.read(COPY)
    assert again.duplicate


DUAL_TABLE = """
[defaults]
window = 4
baud = 0

[[relays]]
prefix = "RUEH"
name = "STATE RELAY"

[[posts]]
ri = "RUEHC"
names = ["SECSTATE WASHDC"]

[[posts]]
ri = "RUEHFR"
names = ["AMEMBASSY PARIS"]
"""


@pytest.mark.parametrize(
    "header",
    [
        "VZCZCXYZ0001\nOO RUEHWEB\nDE RUEHRO #0001 0011200\nZNR UUUUU ZZH\nO R 011200Z JAN 09\n",
        "O R 011200Z JAN 09\n",  # ACP 126: the copy's FL2 is the switch's alone
    ],
)
async def test_an_info_copy_is_receipted_and_shown_at_its_own_precedence(header: str, tmp_path: Path) -> None:
    """§152b-d: the info copy of an O R cable goes as RR; the post receipts it R R and shows it ROUTINE."""
    broker = MemoryBroker()
    publisher, listener = broker.connect(), broker.connect()
    await listener.subscribe("cables/out/#")
    text = f"{header}FM AMEMBASSY ROME\nTO AMEMBASSY PARIS\nINFO SECSTATE WASHDC\n\nUNCLAS ROME 000001\n"
    async with helpers.running(broker.connect(), Journal(tmp_path / "j.sqlite"), parse_table(DUAL_TABLE)):
        await publisher.publish("cables/in/rome", text.encode())
        copies = {m.topic: m.payload for m in await helpers.receive(listener, 2)}
    department = PostStation("RUEHC").read(copies["cables/out/RUEHC"])
    paris = PostStation("RUEHFR").read(copies["cables/out/RUEHFR"])
    assert b"\nRR RUEHC\n" in copies["cables/out/RUEHC"]  # what the switch sent the info addressee
    assert (department.receipt, department.precedence) == (b"R R EHC0001", Precedence.ROUTINE)
    assert (paris.receipt, paris.precedence) == (b"R O HFR0001", Precedence.IMMEDIATE)
    assert reading_line(department).startswith("ROUTINE   EHC0001")
    assert reading_line(paris).startswith("IMMEDIATE HFR0001")


def test_the_copy_precedence_is_read_from_the_routing_line_that_calls_this_post() -> None:
    """FL2 naming this post gives the precedence, the bell signal before a FLASH's prosign allowed (§151b)."""
    station = PostStation("RUEHFR")
    assert station.copy_precedence(b"VZCZCHFR0001\nPP RUEHFR\nDE RUEHRO") is Precedence.PRIORITY
    assert station.copy_precedence(b"VZCZCHFR0001\n\x07\x07\x07\x07\x07ZZ RUEHFR\nDE X") is Precedence.FLASH
    assert station.copy_precedence(b"VZCZCHFR0001\nPP RUEHFRA\nDE RUEHRO") is None  # another post's line
