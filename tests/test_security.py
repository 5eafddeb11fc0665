"""Nobody reads or forges what is not theirs: each role on a real Mosquitto, asserted by what is delivered.

A message a user may not read is not refused at the subscription: Mosquitto grants it and delivers
nothing. So "nothing arrives" is asserted by ordering: after the forbidden message, a permitted one
is sent on the same connection, and it must be the first thing the reader gets.
"""

from __future__ import annotations

import asyncio
import base64
import stat
from typing import TYPE_CHECKING

import pytest

from router.bus import topics
from router.bus.address import BrokerAddress
from router.bus.broker import Mosquitto, mosquitto_binary
from router.bus.mqtt import MqttBus
from router.bus.security import (
    OBSERVER,
    OPERATOR,
    PUBLISHER,
    ROUTER,
    Keyring,
    centre_grants,
    centre_user,
    hashed,
    post_user,
)
from router.errors import BrokerRefusedError, BusError
from router.routing.network_description import load_network
from tests.helpers import receive

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

POSTS = ("RUEHC", "RUEHBJ")


@pytest.fixture(scope="module")
def roles(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    """A Mosquitto with the router's roles and two posts, RUEHC and RUEHBJ: no owner, no anonymous."""
    if mosquitto_binary() is None:
        pytest.skip("mosquitto is not installed (.ci/run installs the Debian package)")
    folder = tmp_path_factory.mktemp("roles")
    with Mosquitto(folder / "broker", users=Keyring(folder / "credentials").users(POSTS)) as broker:
        yield broker


async def nothing_but(reader: MqttBus, sender: MqttBus, topic: str) -> None:
    """The reader's next message is the sentinel ``sender`` now sends on ``topic``: nothing came before."""
    await sender.publish(topic, b"SENTINEL")
    (first,) = await receive(reader, 1)
    assert (first.topic, first.payload) == (topic, b"SENTINEL")


async def refused(address: BrokerAddress, topic: str, payload: bytes = b"FORGED") -> None:
    """A fresh client of ``address`` publishing on ``topic`` is refused (MQTT 5: PUBACK "Not authorized").

    Mosquitto 2.0 also drops the connection of a client that published where it may not: each
    attempt has its own.
    """
    async with MqttBus(address) as forger:
        with pytest.raises(BusError, match=f"refused the message on {topic} .*Not authorized"):
            await forger.publish(topic, payload)


async def test_an_anonymous_client_is_refused(roles: Mosquitto) -> None:
    """No user name, no connection: the refusal says so and is not retried."""
    with pytest.raises(BrokerRefusedError, match="refused an anonymous client"):
        async with MqttBus(BrokerAddress("127.0.0.1", roles.port)):
            pass


async def test_a_wrong_password_is_refused(roles: Mosquitto) -> None:
    """A known user with another password is refused, naming the user."""
    wrong = roles.address(PUBLISHER).logged_in(PUBLISHER, "not-the-password")
    with pytest.raises(BrokerRefusedError, match="refused user 'publisher': not authorized"):
        async with MqttBus(wrong):
            pass


async def test_a_post_cannot_read_another_posts_copies(roles: Mosquitto) -> None:
    """RUEHBJ subscribed to RUEHC's topic (and to every copy) gets nothing of RUEHC's; RUEHC gets it."""
    async with (
        MqttBus(roles.address(ROUTER)) as router,
        MqttBus(roles.address(post_user("RUEHC"))) as ruehc,
        MqttBus(roles.address(post_user("RUEHBJ"))) as ruehbj,
    ):
        await ruehc.subscribe(topics.copies("RUEHC"))
        await ruehbj.subscribe(topics.copies("RUEHC"))
        await ruehbj.subscribe("cables/out/#")
        await router.publish(topics.copies("RUEHC"), b"FOR THE DEPARTMENT ONLY")
        (copy,) = await receive(ruehc, 1)
        assert copy.payload == b"FOR THE DEPARTMENT ONLY"
        await nothing_but(ruehbj, router, topics.copies("RUEHBJ"))


async def test_a_post_cannot_write_another_posts_receipts_gap_reports_or_copies(roles: Mosquitto) -> None:
    """RUEHBJ's receipt, ZFX and copy on RUEHC's topics are refused; none reaches the router."""
    ruehbj = roles.address(post_user("RUEHBJ"))
    async with (
        MqttBus(roles.address(ROUTER)) as router,
        MqttBus(roles.address(post_user("RUEHC"))) as ruehc,
    ):
        await router.subscribe(topics.RECEIPTS)
        await router.subscribe(topics.SERVICE)
        await refused(ruehbj, topics.receipts("RUEHC"), b"R Z EHC0001")
        await refused(ruehbj, topics.service("RUEHC"), b"ZFX EHC0001")
        await refused(ruehbj, topics.copies("RUEHC"), b"A FORGED COPY")
        await ruehc.publish(topics.receipts("RUEHC"), b"R Z EHC0001")
        (first,) = await receive(router, 1)
        assert first.topic == topics.receipts("RUEHC")
        await nothing_but(router, ruehc, topics.service("RUEHC"))


@pytest.mark.parametrize("topic", ["cables/out/RUEHC", "router/status", "router/log", "router/line/RUEHC"])
async def test_the_publisher_writes_the_intake_only(roles: Mosquitto, topic: str) -> None:
    """The publisher may put cables on cables/in and nothing on cables/out/# or router/#."""
    reader_user = post_user("RUEHC") if topic.startswith("cables/out/") else OBSERVER
    async with (
        MqttBus(roles.address(PUBLISHER)) as publisher,
        MqttBus(roles.address(reader_user)) as reader,
        MqttBus(roles.address(ROUTER)) as router,
    ):
        await reader.subscribe("#")
        await refused(roles.address(PUBLISHER), topic)
        await publisher.publish(topics.intake("rome"), b"A CABLE")  # its own topic: allowed
        await nothing_but(reader, router, topics.copies("RUEHC") if reader_user != OBSERVER else topics.LOG)


async def test_the_observer_reads_the_log_and_status_and_writes_nothing(roles: Mosquitto) -> None:
    """The observer's publishes on the intake, a line and the status are refused; it reads the log."""
    async with (
        MqttBus(roles.address(OBSERVER)) as observer,
        MqttBus(roles.address(ROUTER)) as router,
    ):
        await router.subscribe(topics.INTAKE)
        await router.subscribe(topics.LINE_CONTROL)
        await observer.subscribe(topics.LOG)
        for topic in (topics.intake("forged"), topics.line_control("RUEHC"), topics.STATUS):
            await refused(roles.address(OBSERVER), topic)
        await router.publish(topics.LOG, b"{}")
        (entry,) = await receive(observer, 1)
        assert entry.topic == topics.LOG
        async with MqttBus(roles.address(PUBLISHER)) as publisher:
            await nothing_but(router, publisher, topics.intake("real"))


async def test_the_operator_takes_lines_down_but_sends_no_copies(roles: Mosquitto) -> None:
    """The operator writes line control and retransmit requests, not copies."""
    async with (
        MqttBus(roles.address(OPERATOR)) as operator,
        MqttBus(roles.address(ROUTER)) as router,
    ):
        await router.subscribe(topics.LINE_CONTROL)
        await operator.publish(topics.line_control("RUEHC"), b"down")
        (control,) = await receive(router, 1)
        assert control.payload == b"down"
        await refused(roles.address(OPERATOR), topics.copies("RUEHC"))


def test_the_keyring_is_owner_only_and_keeps_each_password(tmp_path: Path) -> None:
    """Folder 0700, files 0600; a second call keeps the passwords and adds one for a new post."""
    keyring = Keyring(tmp_path / "credentials")
    first = keyring.users(["RUEHC"]).passwords
    assert stat.S_IMODE(keyring.folder.stat().st_mode) == 0o700
    assert {stat.S_IMODE(path.stat().st_mode) for path in keyring.folder.iterdir()} == {0o600}
    keyring.path("router").chmod(0o644)
    second = keyring.users(["RUEHC", "RUEHFR"]).passwords
    assert stat.S_IMODE(keyring.path("router").stat().st_mode) == 0o600
    assert {user: second[user] for user in first} == first
    assert set(second) - set(first) == {"post-RUEHFR"}
    assert keyring.password("post-RUEHFR") == second["post-RUEHFR"]


def test_a_password_is_hashed_as_mosquitto_passwd_does() -> None:
    """The broker's hash is Mosquitto 2.0's $7$: PBKDF2-SHA512, 101 iterations, the salt in base64."""
    # Made by `mosquitto_passwd -b pw alice secret` (Mosquitto 2.0.11).
    made = (
        "$7$101$wR7DUmdiJ6JC3Chl$3f382uW4wuvtvCWbz1CSno4L41+NT5A5qkq4wYwCoj7I5Hrgo9QaFrgY6qt5G8vie"
        "OyL/C9M/xHH7xEzTPtUpw=="
    )
    assert hashed("secret", base64.b64decode("wR7DUmdiJ6JC3Chl")) == made


def test_the_acl_grants_a_post_its_own_topics_only(tmp_path: Path) -> None:
    """The ACL file: a user block per role, post and centre; a post's three topics are its own."""
    acl = Keyring(tmp_path).users(["RUEHC"]).acl_file()
    block = acl.split("user post-RUEHC\n", 1)[1].split("\n\n", 1)[0]
    assert block.splitlines() == [
        "topic read cables/out/RUEHC",
        "topic write cables/ack/RUEHC",
        "topic write cables/svc/RUEHC",
    ]
    assert "pattern" not in acl
    # router, publisher, observer, operator, the post, and the committed network's five centres
    assert acl.count("\nuser ") + acl.startswith("user ") == 10


async def test_a_forged_receipt_does_not_stop_a_flash_resend(roles: Mosquitto, tmp_path: Path) -> None:
    """Another post's receipt for RUEHC's FLASH is refused: the router sends the copy again."""
    from router.journal.store import Journal  # noqa: PLC0415
    from router.network.clock import ScaledClock  # noqa: PLC0415
    from router.routing.table import load_table  # noqa: PLC0415
    from tests.helpers import opened, running  # noqa: PLC0415

    clock = ScaledClock(1000.0)  # a FLASH waits 300 network seconds for its receipt: 0.3 s here
    flash = (
        b"VZCZCXYZ0001\nZZ RUEHWEB\nDE RUEHRO #0001 0011200\nZNR UUUUU ZZH\nZ 011200Z JAN 09\n"
        b"FM AMEMBASSY ROME\nTO RUEHC/SECSTATE WASHDC FLASH\n\nUNCLAS ROME 000001\n\nSUBJECT: FLASH\n"
    )
    async with (
        MqttBus(roles.address(ROUTER), client_id="test-forgery-router", manual_ack=True) as bus,
        running(bus, Journal(tmp_path / "journal.sqlite", clock=clock.now), load_table(), clock=clock),
        MqttBus(roles.address(post_user("RUEHC"))) as ruehc,
        MqttBus(roles.address(PUBLISHER)) as publisher,
    ):
        await ruehc.subscribe(topics.copies("RUEHC"))
        await publisher.publish(topics.intake("flash"), flash)
        (first,) = await receive(ruehc, 1)
        transmission, cable = opened(first)
        forged = f"R Z {transmission}".encode()
        for forger in (post_user("RUEHBJ"), PUBLISHER, OBSERVER):
            await refused(roles.address(forger), topics.receipts("RUEHC"), forged)
        (again,) = await receive(ruehc, 1, within=20)
    assert opened(again)[1].message_id == cable.message_id
    assert b"ZFD" in again.payload  # the resend says it may be a duplicate


async def test_the_amqtt_fallback_holds_clients_to_the_same_roles(tmp_path: Path) -> None:
    """Without Mosquitto: no anonymous login, and a post neither reads nor forges another post's traffic."""
    from router.bus.broker import free_port  # noqa: PLC0415
    from router.bus.fallback import amqtt_broker  # noqa: PLC0415

    keyring = Keyring(tmp_path)
    async with amqtt_broker(free_port(), keyring.users(POSTS)) as address:

        def login(user: str) -> BrokerAddress:
            return address.logged_in(user, keyring.password(user))

        with pytest.raises(BrokerRefusedError, match="anonymous"):
            async with MqttBus(address, mqtt5=False):
                pass
        with pytest.raises(BrokerRefusedError, match="refused user 'router'"):
            async with MqttBus(address.logged_in(ROUTER, "not-it"), mqtt5=False):
                pass
        async with (
            MqttBus(login(ROUTER), mqtt5=False) as router,
            MqttBus(login(post_user("RUEHBJ")), mqtt5=False) as ruehbj,
        ):
            await router.subscribe(topics.RECEIPTS)
            with pytest.raises(BusError, match="refused the subscription to cables/out/#"):
                await ruehbj.subscribe("cables/out/#")  # amqtt answers SUBACK 0x80
            await ruehbj.subscribe(topics.copies("RUEHBJ"))
            await router.publish(topics.copies("RUEHC"), b"FOR THE DEPARTMENT ONLY")
            await ruehbj.publish(topics.receipts("RUEHC"), b"R Z EHC0001")  # MQTT 3.1.1: dropped unsaid
            await nothing_but(ruehbj, router, topics.copies("RUEHBJ"))
            await nothing_but(router, ruehbj, topics.receipts("RUEHBJ"))


async def test_the_demo_runs_on_the_amqtt_fallback_each_client_as_its_role(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No Mosquitto: the demo's private amqtt wants its users too, and every post still gets its traffic."""
    from router.routing.table import load_table  # noqa: PLC0415
    from router.sim.demo import DemoOptions, run_demo  # noqa: PLC0415
    from router.sim.scenario import Fault, Scenario  # noqa: PLC0415

    monkeypatch.setattr("router.switch.serve.mosquitto_binary", lambda: None)
    scenario = Scenario(
        network="inline",
        duration=600,
        rate=2.0,
        seed=3,
        posts=("RUEHC", "RUEHFR"),
        faults=(Fault(at=60, line="RUEHFR", state="down"), Fault(at=120, line="RUEHFR", state="up")),
    )
    options = DemoOptions(
        journal=tmp_path / "journal.sqlite",
        out=tmp_path / "report",
        scenario=scenario,
        table=load_table(),
        time_scale=2000,
        drain=True,
    )
    result = await asyncio.wait_for(run_demo(options, asyncio.Event()), 60)
    credentials = options.journal.parent / "journal.sqlite.broker" / "credentials"
    assert (credentials / "post-RUEHC.password").exists()
    assert (credentials / "centre-DETRICK.password").exists()  # a centre may log in to it as well
    assert result.published == 20
    assert all(tally.shown for tally in result.tallies.values())


def test_each_role_may_read_what_its_command_subscribes_to() -> None:
    """The router reads every filter the switch subscribes to; the observer what `router watch` does."""
    from router.bus.security import ROLE_GRANTS  # noqa: PLC0415

    def reads(user: str) -> set[str]:
        return {topic for access, topic in ROLE_GRANTS[user] if access in {"read", "readwrite"}}

    assert set(topics.SUBSCRIBED) <= reads(ROUTER)
    assert reads(OBSERVER) == {topics.LOG, topics.STATUS, topics.CENTRE_STATUS}  # `watch --centre`
    assert {topic for _, topic in ROLE_GRANTS[PUBLISHER]} == {topics.INTAKE, topics.CENTRE_INTAKE}


def test_a_centre_user_may_read_what_its_centre_subscribes_to_and_write_its_neighbours_trunks_only() -> None:
    """centre-DETRICK: every topic it hears; of the trunks, those from it to its neighbours; its posts'."""
    network = load_network()
    grants = centre_grants("DETRICK", network, ["RUEKJCS", "RUEHC", "RUWDQAA"])

    def may(access: str, topic: str) -> bool:
        return any(a in {access, "readwrite"} and topics.topic_matches(f, topic) for a, f in grants)

    for topic_filter in topics.centre_subscriptions("DETRICK"):
        if not topic_filter.startswith(("cables/", "router/")):  # its posts' only: below
            assert any(f == topic_filter and a != "write" for a, f in grants), topic_filter
    narrower = topics.one_by_one(network.served("DETRICK", ["RUEKJCS", "RUEHC"]))
    for wide, filters in narrower.items():  # where a broker refuses the wide one: its own post's
        assert wide in topics.centre_subscriptions("DETRICK")
        assert len(filters) == 1
        assert any(f == filters[0] and a != "write" for a, f in grants), filters
    neighbours = network.neighbours("DETRICK")
    assert neighbours == ("BELTSVILLE", "PIRMASENS", "TINKER", "WAHIAWA")
    for centre in network.centres:
        mine = centre in neighbours
        assert may("write", topics.trunk(centre, "DETRICK")) is mine, centre
        assert may("write", topics.trunk_receipts(centre, "DETRICK")) is mine, centre
        assert may("write", topics.trunk_service(centre, "DETRICK")) is mine, centre
        assert may("read", topics.trunk(centre, "TINKER")) is (centre == "DETRICK")  # only what comes to it
        assert not may("write", topics.trunk("DETRICK", centre))  # what others send it: theirs
    # Its own post's topics, not the posts of BELTSVILLE (RUEHC) or TINKER (RUWDQAA).
    assert may("write", topics.copies("RUEKJCS"))
    assert may("read", topics.receipts("RUEKJCS"))
    assert may("read", topics.service("RUEKJCS"))
    for other in ("RUEHC", "RUWDQAA"):
        assert not may("write", topics.copies(other))
        assert not may("read", topics.receipts(other))
    assert may("write", topics.status("DETRICK"))
    assert not may("write", topics.status("TINKER"))
    assert not may("read", topics.centre_intake("TINKER", "c"))
    assert not may("read", topics.INTAKE)


async def test_a_centre_may_not_use_another_centres_trunks_posts_or_intake(roles: Mosquitto) -> None:
    """On Mosquitto with the generated ACL: centre-DETRICK forges nothing, reads no other centre's intake."""
    detrick = roles.address(centre_user("DETRICK"))
    for topic in (
        topics.trunk("TINKER", "BELTSVILLE"),  # BELTSVILLE's trunk to TINKER
        topics.trunk_receipts("BELTSVILLE", "TINKER"),  # TINKER's receipts to BELTSVILLE
        topics.trunk_service("BELTSVILLE", "PIRMASENS"),  # PIRMASENS's gap reports
        topics.copies("RUEHC"),  # a post of BELTSVILLE's
        topics.status("BELTSVILLE"),
        topics.centre_intake("BELTSVILLE", "forged"),
        topics.intake("forged"),
    ):
        await refused(detrick, topic)
    async with (
        MqttBus(detrick) as reader,
        MqttBus(roles.address(PUBLISHER)) as publisher,
        MqttBus(roles.address(centre_user("BELTSVILLE"))) as beltsville,
    ):
        await reader.subscribe("centres/#")
        await reader.subscribe("trunks/#")
        await publisher.publish(topics.centre_intake("BELTSVILLE", "c"), b"BELTSVILLE'S CABLE")
        await beltsville.publish(topics.trunk("TINKER", "BELTSVILLE"), b"FOR TINKER")
        await nothing_but(reader, publisher, topics.centre_intake("DETRICK", "c"))
        async with MqttBus(roles.address(OPERATOR)) as operator:  # trunks are the operator's to take down
            await operator.publish(topics.trunk_control("DETRICK", "TINKER"), b"down")
            (control,) = await receive(reader, 1)
            assert (control.topic, control.payload) == (topics.trunk_control("DETRICK", "TINKER"), b"down")
        await refused(roles.address(PUBLISHER), topics.trunk_control("DETRICK", "TINKER"))
        await beltsville.publish(topics.trunk("DETRICK", "BELTSVILLE"), b"FOR DETRICK")
        (mine,) = await receive(reader, 1)
        assert (mine.topic, mine.payload) == (topics.trunk("DETRICK", "BELTSVILLE"), b"FOR DETRICK")
