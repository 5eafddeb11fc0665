"""`router run --centre` as its users run it: three centre processes on a real Mosquitto, a cable through."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import AsyncExitStack, ExitStack, closing, contextmanager, suppress
from typing import TYPE_CHECKING

import pytest

from router.bus import topics
from router.bus.broker import Mosquitto, mosquitto_binary
from router.bus.mqtt import BrokerAddress, MqttBus
from router.bus.security import PUBLISHER, ROUTER, Keyring, Users, centre_user, post_user
from router.cable.models import Precedence
from router.cable.parser import parse_cable
from router.network.channel import message_part, read_copy
from router.network.trunk import RoutingLine, read_transmission, write_transmission
from tests.helpers import opened, receipt_for
from tests.test_centres import FAR, MIDDLE, ORIGIN, POSTS, TABLE_TOML, after_fl1, cable, network

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from router.bus.protocol import Message

CENTRE_RUN = [sys.executable, "-m", "router", "run", "--time-scale", "100"]
"""A hundred times the host's pace: a trunk transmission takes tens of milliseconds, and a test's few
seconds are minutes of network time, not days (a day's end renumbers every channel, §413a)."""
QUIET = {
    # A host second is days of network time: no silent line is checked (ZID, §412b), no copy
    # waits long enough for its receipt to be resent (the test's posts do not receipt).
    "ROUTER_CHANNEL_CHECK_AFTER": "1e15",
    "ROUTER_RECEIPT_TIMEOUT": "1e15",
    "ROUTER_ACK_TIMEOUT": "1e15",
}


@contextmanager
def centre_process(  # noqa: PLR0913 (the centre, where, and how it logs in)
    broker: Mosquitto,
    name: str,
    routing: Path,
    cwd: Path,
    *,
    login: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """`python -m router run --centre NAME` in ``cwd`` (its default journal there); waits until it listens.

    On ``broker`` as its owner, unless ``login`` says otherwise (``--broker URL --username ...``);
    ``env``: variables besides (``ROUTER_CREDENTIALS``: where it finds its password).
    """
    process = subprocess.Popen(  # noqa: S603
        [*CENTRE_RUN, "--centre", name, "--routing", str(routing), *(login or ("--broker", broker.url))],
        stderr=subprocess.PIPE,
        cwd=cwd,
        env={**os.environ, **QUIET, **(env or {})},
    )
    assert process.stderr is not None
    for line in process.stderr:  # the routing log, one JSON object a line
        if json.loads(line).get("event") == "listening":
            break
    else:
        raise AssertionError(f"centre {name} exited before it connected")
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stderr.close()


async def through_the_network(broker: Mosquitto, raw: bytes, expected: int) -> list[Message]:
    """File ``raw`` at PIRMASENS as the owner: the ``expected`` trunk and post messages, and any 1 s after."""
    got: list[Message] = []
    async with MqttBus(BrokerAddress.parse(broker.url), client_id="test-centres-watch") as bus:
        await bus.subscribe("trunks/+/from/+")
        await bus.subscribe("cables/out/#")
        await bus.publish(topics.centre_intake(ORIGIN, "test"), raw)
        messages = bus.messages()
        async with asyncio.timeout(20):
            while len(got) < expected:
                got.append(await anext(messages))
        # Nothing more: no second copy, no second transmission (a second long enough for either).
        try:
            async with asyncio.timeout(1):
                got.append(await anext(messages))
        except TimeoutError:
            pass
    return got


def test_three_centre_processes_relay_a_cable_each_post_getting_it_once(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """PIRMASENS, DETRICK, TINKER on Mosquitto: FL2 segregated per hop (§303a), one copy a post, exit 0."""
    routing = tmp_path / "routing.toml"
    routing.write_text(TABLE_TOML, encoding="utf-8")
    raw = cable(21)
    with ExitStack() as stack:
        processes = [
            stack.enter_context(centre_process(mosquitto, name, routing, tmp_path))
            for name in (FAR, MIDDLE, ORIGIN)
        ]
        seen = asyncio.run(through_the_network(mosquitto, raw, 2 + len(POSTS)))
        for process in processes:
            process.send_signal(signal.SIGTERM)
        assert [process.wait(timeout=10) for process in processes] == [0, 0, 0]
    hops = {m.topic: read_transmission(m.payload) for m in seen if m.topic.startswith("trunks/")}
    assert sorted(hops) == sorted([topics.trunk(MIDDLE, ORIGIN), topics.trunk(FAR, MIDDLE)])
    assert hops[topics.trunk(MIDDLE, ORIGIN)].line.ris == ("RUEKJCS", "RUCBAAA", "RUWDQAA", "RHWSAAA")
    assert hops[topics.trunk(FAR, MIDDLE)].line.ris == ("RUWDQAA", "RHWSAAA")
    assert {hop.message for hop in hops.values()} == {message_part(raw)}
    copies = [m for m in seen if m.topic.startswith("cables/out/")]
    assert sorted(m.topic.rsplit("/", 1)[-1] for m in copies) == sorted(POSTS)  # each once
    assert {after_fl1(m.payload).split(b"\n", 1)[1] for m in copies} == {message_part(raw)}
    # Each centre kept its own journal, by its name; the originating one, the RIs of its trunk copy.
    with sqlite3.connect(tmp_path / f"router-{ORIGIN}.sqlite") as journal:
        rows = journal.execute("SELECT post, ris FROM deliveries ORDER BY id").fetchall()
    assert rows == [(MIDDLE, "RUEKJCS RUCBAAA RUWDQAA RHWSAAA"), ("RUFGBON", None)]


async def copies_of_each(
    broker: Mosquitto, cables: int, *, middle: Callable[[int], None]
) -> dict[str, list[bytes]]:
    """File ``cables`` cables at PIRMASENS, calling ``middle(n)`` after each; each post's copies, receipted.

    The watcher is every post at once, as the owner: it receipts each copy on cables/ack/<RI>, as
    `router post` does, and returns what each post got once every post has every message.
    """
    got: dict[str, list[Message]] = {post: [] for post in POSTS}
    wanted = {f"RUFGNAA-{30 + n:04d}-0011200" for n in range(cables)}
    async with MqttBus(BrokerAddress.parse(broker.url), client_id="test-centres-posts") as bus:
        await bus.subscribe("cables/out/#")
        for n in range(cables):
            await bus.publish(topics.centre_intake(ORIGIN, f"c{n}"), cable(30 + n))
            middle(n)
        messages = bus.messages()
        async with asyncio.timeout(60):
            while any({opened(copy)[1].message_id for copy in copies} != wanted for copies in got.values()):
                message = await anext(messages)
                got[message.topic.rsplit("/", 1)[-1]].append(message)
                await bus.publish(topics.receipts(message.topic.rsplit("/", 1)[-1]), receipt_for(message))
    return {post: [message.payload for message in copies] for post, copies in got.items()}


def test_a_centre_sigkilled_mid_stream_and_restarted_loses_nothing(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """DETRICK killed mid-stream: its traffic waits at the broker, every post gets every cable, once shown."""
    routing = tmp_path / "routing.toml"
    routing.write_text(TABLE_TOML, encoding="utf-8")
    with ExitStack() as stack:
        for name in (FAR, ORIGIN):
            stack.enter_context(centre_process(mosquitto, name, routing, tmp_path))
        middle = stack.enter_context(centre_process(mosquitto, MIDDLE, routing, tmp_path))

        def kill_and_restart(n: int) -> None:
            if n == 2:  # three cables filed: DETRICK dies, whatever it was doing
                middle.kill()
                middle.wait()
            if n == 6:  # four more wait for it at the broker (its session is persistent)
                stack.enter_context(centre_process(mosquitto, MIDDLE, routing, tmp_path))

        got = asyncio.run(copies_of_each(mosquitto, 10, middle=kill_and_restart))
    for post, copies in got.items():
        shown = [opened_copy for payload in copies if not (opened_copy := read_copy(payload)).suspect]
        ids = [parse_cable(copy.cable).message_id for copy in shown]
        assert sorted(ids) == sorted(set(ids)), post  # a copy again is piloted ZFD (§427), never bare
        assert len(set(ids)) == 10, post
    with sqlite3.connect(tmp_path / f"router-{MIDDLE}.sqlite") as journal:
        events = dict(journal.execute("SELECT event, count(*) FROM events GROUP BY event").fetchall())
    assert events["listening"] == 2  # killed once, started again
    assert "duplicate-filed" not in events  # every receipt found its own copy


def test_a_centre_logged_in_as_the_router_may_use_its_trunks_under_the_acl(tmp_path: Path) -> None:
    """Under the roles' ACL a centre logged in as `router` takes a trunk transmission, receipts, copies it."""
    if mosquitto_binary() is None:
        pytest.skip("mosquitto is not installed (.ci/run installs the Debian package)")
    routing = tmp_path / "routing.toml"
    routing.write_text(TABLE_TOML, encoding="utf-8")
    keyring = Keyring(tmp_path / "keys")
    with Mosquitto(tmp_path / "broker", users=keyring.users(["RUFGBON"])) as broker:
        url = f"mqtt://127.0.0.1:{broker.port}"
        login = ("--broker", url, "--username", ROUTER, "--password-file", str(keyring.path(ROUTER)))
        with centre_process(broker, ORIGIN, routing, tmp_path, login=login):
            copy, receipt = asyncio.run(relayed_to_bonn(broker))
    assert read_copy(copy).called == ("RUFGBON",)
    assert receipt == b"R O DPI0001"


async def relayed_to_bonn(broker: Mosquitto) -> tuple[bytes, bytes]:
    """DETRICK's transmission for RUFGBON, sent as the router user; Bonn's copy (as its post), the receipt."""
    transmission = write_transmission(
        "DPI0001", RoutingLine(Precedence.IMMEDIATE, ("RUFGBON",)), message_part(cable(40, "O"))
    )
    async with (
        MqttBus(broker.address(ROUTER), client_id="test-detrick") as detrick,
        MqttBus(broker.address(post_user("RUFGBON")), client_id="test-bonn") as bonn,
    ):
        await detrick.subscribe(topics.trunk_receipts(MIDDLE, ORIGIN))
        await bonn.subscribe(topics.copies("RUFGBON"))
        await detrick.publish(topics.trunk(ORIGIN, MIDDLE), transmission)
        async with asyncio.timeout(10):
            copy = await anext(bonn.messages())
            receipt = await anext(detrick.messages())
    return copy.payload, receipt.payload


def test_three_centres_each_logged_in_as_its_own_user_relay_a_cable(tmp_path: Path) -> None:
    """Under the generated ACL, each centre as centre-NAME (its password found in the credentials folder).

    Filed by the publisher at PIRMASENS: each post, logged in as itself, gets its copy once and
    receipts it; every copy of every centre, on a trunk or to a post, ends receipted.
    """
    if mosquitto_binary() is None:
        pytest.skip("mosquitto is not installed (.ci/run installs the Debian package)")
    routing = tmp_path / "routing.toml"
    routing.write_text(TABLE_TOML, encoding="utf-8")
    keyring = Keyring(tmp_path / "keys")
    everyone = keyring.users([*POSTS, "QUAAXXX"])
    # No `router` user on this broker: a centre that logged in as anything but itself is refused.
    users = Users(
        {user: password for user, password in everyone.passwords.items() if user != ROUTER},
        {user: grants for user, grants in everyone.grants.items() if user != ROUTER},
    )
    with Mosquitto(tmp_path / "broker", users=users) as broker:
        login = ("--broker", f"mqtt://127.0.0.1:{broker.port}")  # no user: the centre's own
        env = {"ROUTER_CREDENTIALS": str(keyring.folder)}
        with ExitStack() as stack:
            for name in (FAR, MIDDLE, ORIGIN):
                stack.enter_context(centre_process(broker, name, routing, tmp_path, login=login, env=env))
            copies = asyncio.run(each_post_s_copies(broker, cable(71)))
            states = receipted_within(
                10, [tmp_path / f"router-{name}.sqlite" for name in (ORIGIN, MIDDLE, FAR)]
            )
    assert centre_user(MIDDLE) in users.passwords
    assert states == {"acknowledged": 2 + len(POSTS)}  # two trunk copies, a copy a post
    assert {post: len(payloads) for post, payloads in copies.items()} == dict.fromkeys(POSTS, 1)
    assert {read_copy(payloads[0]).called for payloads in copies.values()} == {(post,) for post in POSTS}


async def each_post_s_copies(broker: Mosquitto, raw: bytes) -> dict[str, list[bytes]]:
    """File ``raw`` at PIRMASENS as the publisher; what each post (as itself) gets, and any 1 s after."""
    async with AsyncExitStack() as stack:
        buses = {
            post: await stack.enter_async_context(MqttBus(broker.address(post_user(post)))) for post in POSTS
        }
        for post, bus in buses.items():
            await bus.subscribe(topics.copies(post))
        publisher = await stack.enter_async_context(MqttBus(broker.address(PUBLISHER)))
        await publisher.publish(topics.centre_intake(ORIGIN, "filed"), raw)
        got: dict[str, list[bytes]] = {}
        for post, bus in buses.items():
            messages = bus.messages()
            async with asyncio.timeout(20):
                copy = await anext(messages)
            got[post] = [copy.payload]
            await bus.publish(topics.receipts(post), receipt_for(copy))  # as `router post` does
            with suppress(TimeoutError):
                async with asyncio.timeout(0.2):
                    got[post].append((await anext(messages)).payload)
    return got


def receipted_within(seconds: float, journals: list[Path]) -> dict[str, int]:
    """The deliveries of ``journals`` by state, once none is left unreceipted or ``seconds`` have gone."""
    deadline = time.monotonic() + seconds
    while True:
        states: dict[str, int] = {}
        for path in journals:
            with closing(sqlite3.connect(path)) as journal:
                for state, count in journal.execute("SELECT state, count(*) FROM deliveries GROUP BY state"):
                    states[state] = states.get(state, 0) + count
        if set(states) == {"acknowledged"} or time.monotonic() > deadline:
            return states
        time.sleep(0.1)  # other processes' journals: read until they say so


async def on_the_trunk_while_a_flash_comes(broker: Mosquitto, trunk: str) -> list[Message]:
    """File a ROUTINE, then a FLASH while it is on PIRMASENS's slow trunk: what the trunk carries."""
    only_detrick = "RUCBAAA/COMMANDER NORTHCOM"
    got: list[Message] = []
    async with MqttBus(BrokerAddress.parse(broker.url), client_id="test-trunk-bust") as bus:
        await bus.subscribe(trunk)
        # About 2,700 characters: 270 network seconds on the 75-baud trunk, 2.7 s here (at 100x).
        routine = cable(61, info=only_detrick).replace(b"TEXT. ", b"TEXT. " * 10)
        await bus.publish(topics.centre_intake(ORIGIN, "routine"), routine)
        await asyncio.sleep(0.5)  # taken, journalled and on the trunk by now, and far from its end
        await bus.publish(topics.centre_intake(ORIGIN, "flash"), cable(62, "Z", info=only_detrick))
        messages = bus.messages()
        async with asyncio.timeout(20):
            while len(got) < 3:  # the cancellation, the FLASH, the ROUTINE again
                got.append(await anext(messages))
    return got


def test_a_flash_busts_a_routine_on_a_trunk_between_centre_processes(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """On Mosquitto, PIRMASENS's 75-baud trunk to DETRICK: the FLASH cancels the ROUTINE on it (§151c).

    The cancellation accounts for the ROUTINE's number (§424); the FLASH goes first, the ROUTINE after.
    """
    routing = tmp_path / "routing.toml"
    routing.write_text(TABLE_TOML, encoding="utf-8")
    network(tmp_path, slow_trunk=75)  # tmp_path/network.toml
    trunk = topics.trunk(MIDDLE, ORIGIN)
    slow = {"ROUTER_NETWORK": str(tmp_path / "network.toml")}
    with ExitStack() as stack:
        for name in (MIDDLE, ORIGIN):
            stack.enter_context(centre_process(mosquitto, name, routing, tmp_path, env=slow))
        cancelled, *sent = asyncio.run(on_the_trunk_while_a_flash_comes(mosquitto, trunk))
    assert cancelled.payload.split(b"\n")[:2] == [b"VZCZCPDE0001", b"E E E E E E E E AR"]
    assert [
        (t.transmission_id, t.line.precedence) for t in map(read_transmission, (m.payload for m in sent))
    ] == [
        ("PDE0002", Precedence.FLASH),
        ("PDE0003", Precedence.ROUTINE),
    ]
