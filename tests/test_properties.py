"""MQTT 5 properties of a cable kept on its copies (user properties, message expiry) with a content type.

The block is read as MQTT 5 §3.3.2.3 writes it; then end to end on a real Mosquitto: a publisher and
a post speaking MQTT 5, the router speaking it too (`mqtt_version = "5"`), and speaking 3.1.1.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from typing import TYPE_CHECKING

import pytest

from router.bus.mqtt import BrokerAddress, MqttBus
from router.bus.properties import (
    copy_properties,
    kept_on_copies,
    message_expiry,
    read_properties,
    user_property,
    variable_byte_integer,
)
from tests.test_run import CABLE, ROUTER_RUN

if TYPE_CHECKING:
    from pathlib import Path

    from router.bus.broker import Mosquitto
    from router.bus.protocol import Message

RESPONSE_TOPIC = b"\x08" + len(b"replies/here").to_bytes(2, "big") + b"replies/here"
CORRELATION = b"\x09\x00\x03abc"


def test_user_properties_and_expiry_are_kept_the_hop_s_own_are_not() -> None:
    block = RESPONSE_TOPIC + user_property("exercise", "WINTEX 89") + CORRELATION + message_expiry(3600)
    kept = kept_on_copies(block)
    assert kept == user_property("exercise", "WINTEX 89") + message_expiry(3600)
    assert read_properties(copy_properties(kept)) == {
        "content_type": "text/plain",
        "user": [("exercise", "WINTEX 89")],
        "expiry": 3600,
    }


@pytest.mark.parametrize(
    "block",
    [
        user_property("a", "b")[:-1],  # a value running past the end
        b"\x26\x00\x02\xff\xfe\x00\x00",  # a name that is not UTF-8
        b"\x7f\x00",  # an identifier no PUBLISH carries
    ],
)
def test_a_malformed_block_keeps_what_came_before_it(block: bytes) -> None:
    assert kept_on_copies(message_expiry(60) + block) == message_expiry(60)


def test_variable_byte_integers_as_mqtt_writes_them() -> None:
    """MQTT 5 §1.5.5's examples."""
    assert [variable_byte_integer(n) for n in (0, 127, 128, 16_383, 16_384)] == [
        b"\x00", b"\x7f", b"\x80\x01", b"\xff\x7f", b"\x80\x80\x01",
    ]  # fmt: skip


async def copy_for(broker: Mosquitto, post: str, properties: bytes) -> Message:
    """Publish the seed cable with ``properties`` (MQTT 5) and return ``post``'s copy of it (MQTT 5)."""
    address = BrokerAddress.parse(broker.url)
    async with (
        MqttBus(address, client_id=f"test-v5-post-{post}", mqtt5=True) as subscriber,
        MqttBus(address, client_id="test-v5-publisher", mqtt5=True) as publisher,
    ):
        await subscriber.subscribe(f"cables/out/{post}")
        await publisher.publish("cables/in/v5", CABLE, properties=properties)
        async with asyncio.timeout(10):
            return await anext(aiter(subscriber.messages()))


def router(broker: Mosquitto, journal: Path, mqtt_version: str) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(  # noqa: S603
        [*ROUTER_RUN, "--broker", broker.url, "--journal", str(journal), "--time-scale", "1000000"],
        stderr=subprocess.PIPE,
        env={**os.environ, "ROUTER_CLIENT_ID": f"router-v{mqtt_version}", "ROUTER_MQTT_VERSION": mqtt_version,
             "ROUTER_CHANNEL_CHECK_AFTER": "1e15", "ROUTER_RECEIPT_TIMEOUT": "1e15"},
    )  # fmt: skip
    assert process.stderr is not None
    for line in process.stderr:
        if json.loads(line).get("event") == "listening":
            return process
    raise AssertionError("the router exited before it listened")


@pytest.mark.parametrize(("mqtt_version", "post"), [("5", "RUEHGA"), ("3.1.1", "RUEHHA")])
def test_copies_carry_the_cable_s_properties_when_the_router_speaks_mqtt5(
    mosquitto: Mosquitto, tmp_path: Path, mqtt_version: str, post: str
) -> None:
    """Over MQTT 5 end to end a copy keeps its cable's user properties and expiry, and says it is text.

    With the router on MQTT 3.1.1 there are no properties to keep or give.
    """
    process = router(mosquitto, tmp_path / "journal.sqlite", mqtt_version)
    try:
        sent = user_property("exercise", "WINTEX 89") + message_expiry(3600) + RESPONSE_TOPIC
        copy = asyncio.run(copy_for(mosquitto, post, sent))
    finally:
        process.terminate()
        process.wait(timeout=10)
        assert process.stderr is not None
        process.stderr.close()
    assert copy.payload.startswith(b"VZCZC")
    found = read_properties(copy.properties)
    if mqtt_version == "5":
        assert found["content_type"] == "text/plain"
        assert found["user"] == [("exercise", "WINTEX 89")]
        assert 3590 <= int(str(found["expiry"])) <= 3600  # the broker counts down the time it held it
        assert RESPONSE_TOPIC not in copy.properties
    else:
        assert found == {"user": []}


def test_a_cable_read_back_from_the_journal_gives_its_copies_their_properties(tmp_path: Path) -> None:
    """After a restart a waiting copy's cable comes from the journal: its kept properties with it."""
    from router.journal.store import Journal  # noqa: PLC0415
    from router.journal.writes import PropertiesKept, Received  # noqa: PLC0415
    from router.switch.cables import COPY_PROPERTIES, RecentCables  # noqa: PLC0415

    kept = user_property("exercise", "WINTEX 89")
    journal = Journal(tmp_path / "journal.sqlite")
    try:
        with journal.transaction():
            journal.apply(
                [
                    Received(1, "cables/in/a", CABLE),
                    PropertiesKept(1, kept),
                    Received(2, "cables/in/b", CABLE),
                ]
            )
        cables = RecentCables(journal)
        cables.get(1)
        cables.get(2)
        assert cables.properties(1) == copy_properties(kept)
        assert cables.properties(2) == COPY_PROPERTIES
    finally:
        journal.close()
