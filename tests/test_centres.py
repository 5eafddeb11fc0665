"""Switching centres of a network on the in-memory bus: originating, relaying on FL2, trunks, pre-emption."""

from __future__ import annotations

import json
import sqlite3
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING

from typer.testing import CliRunner

from router.bus import topics
from router.bus.memory import MemoryBroker, MemoryBus
from router.cable.models import Precedence
from router.cli import app
from router.journal.database import SCHEMA
from router.journal.store import Journal
from router.network.channel import (
    CANCEL,
    ZFR,
    ZID,
    message_part,
    read_copy,
    read_signal,
    service_message,
    zfx,
)
from router.network.clock import ManualClock, settle
from router.network.trunk import RoutingLine, read_transmission, write_transmission
from router.routing.network_description import DEFAULT_NETWORK, load_network
from router.routing.table import parse_table
from router.switch.centre import Place, message_id_of
from router.switch.trunks import designator
from tests import helpers

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from router.bus.protocol import Message
    from router.routing.network import Network
    from router.routing.table import RoutingTable
    from router.switch.service import Router

TABLE_TOML = """
[defaults]
window = 10
baud = 0

[[posts]]
ri = "RUFGBON"
names = ["AMEMBASSY BONN"]

[[posts]]
ri = "RUEKJCS"
names = ["SECDEF WASHINGTON DC"]

[[posts]]
ri = "RUCBAAA"
names = ["COMMANDER NORTHCOM"]

[[posts]]
ri = "RUWDQAA"
names = ["COMTHIRDFLT"]

[[posts]]
ri = "RHWSAAA"
names = ["USSTRATCOM OFFUTT AFB NE"]

[[posts]]
ri = "QUAAXXX"
names = ["THEATRE STATION"]
"""
TABLE = parse_table(TABLE_TOML)
"""Posts behind three centres of the committed network: PIRMASENS (RUF), DETRICK (RUE, RUC), TINKER
(RUW, RHW); and one no centre serves (Q). Lines unthrottled: only the trunks' speeds matter here."""

ORIGIN, MIDDLE, FAR = "PIRMASENS", "DETRICK", "TINKER"
"""A copy for TINKER leaves PIRMASENS by DETRICK (the doctrine's primary): three centres, two hops."""
POSTS = {"RUFGBON": ORIGIN, "RUEKJCS": MIDDLE, "RUCBAAA": MIDDLE, "RUWDQAA": FAR, "RHWSAAA": FAR}


def network(tmp_path: Path, *, slow_trunk: int = 0) -> Network:
    """The committed network with every trunk unthrottled, PIRMASENS-DETRICK at ``slow_trunk`` baud."""
    text = DEFAULT_NETWORK.read_text(encoding="utf-8")
    for baud in ("4800", "2400"):
        text = text.replace(f"baud = {baud}", "baud = 0")
    pair = 'between = ["DETRICK", "PIRMASENS"]\nbaud = 0'
    text = text.replace(pair, pair.replace("baud = 0", f"baud = {slow_trunk}"))
    path = tmp_path / "network.toml"
    path.write_text(text, encoding="utf-8")
    return load_network(path)


def cable(
    serial: int, precedence: str = "R", info: str = "", to: str = "RUEKJCS/SECDEF WASHINGTON DC"
) -> bytes:
    """A cable filed at PIRMASENS: to DETRICK's RUEKJCS, for information to posts behind three centres."""
    info = (
        info
        or "RUWDQAA/COMTHIRDFLT\nRHWSAAA/USSTRATCOM OFFUTT AFB NE\n"
        "RUCBAAA/COMMANDER NORTHCOM\nRUFGBON/AMEMBASSY BONN"
    )
    return (
        f"VZCZCXYZ{serial:04d}\n{precedence}{precedence} RUEHWEB\nDE RUFGNAA #{serial:04d} 0011200\n"
        f"ZNR UUUUU\n{precedence} 011200Z JAN 09\nFM AMCONSUL FRANKFURT\nTO {to}\nINFO {info}\nBT\n"
        f"UNCLAS FRANKFURT {serial:06d}\n\nSUBJECT: CABLE {serial} THROUGH THE NETWORK\n"
        + "TEXT. " * 40
        + "\nBT\n"
    ).encode()


@asynccontextmanager
async def centres(
    broker: MemoryBroker, names: tuple[str, ...], net: Network, clock: ManualClock, tmp_path: Path
) -> AsyncIterator[dict[str, Router]]:
    """A router per centre on ``broker``, each with its own journal, all on one network clock."""
    async with AsyncExitStack() as stack:
        routers = {}
        for name in names:
            journal = Journal(tmp_path / f"router-{name}.sqlite", clock=clock.now)
            stack.callback(journal.close)
            routers[name] = await stack.enter_async_context(
                helpers.running(broker.connect(), journal, TABLE, clock=clock, centre=Place(name, net))
            )
        yield routers


async def watching(broker: MemoryBroker, *filters: str) -> MemoryBus:
    """A bus on ``broker`` that hears ``filters``, subscribed before anything is published."""
    bus = broker.connect()
    for topic_filter in filters:
        await bus.subscribe(topic_filter)
    return bus


def after_fl1(payload: bytes) -> bytes:
    """A transmission without its FL1: what no two channels number alike."""
    return payload.split(b"\n", 1)[1]


async def single_switch_copies(raw: bytes, table: RoutingTable, tmp_path: Path) -> dict[str, bytes]:
    """What the single switch (no network) sends each post for ``raw``."""
    broker = MemoryBroker()
    watch = await watching(broker, "cables/out/#")
    journal = Journal(tmp_path / "single.sqlite", clock=ManualClock().now)
    try:
        async with helpers.running(broker.connect(), journal, table, clock=ManualClock()):
            await broker.connect().publish(topics.intake("c1"), raw)
            copies = await helpers.receive(watch, len(POSTS))
    finally:
        journal.close()
    return {message.topic.rsplit("/", 1)[-1]: message.payload for message in copies}


def by_topic(messages: list[Message]) -> dict[str, list[bytes]]:
    found: dict[str, list[bytes]] = {}
    for message in messages:
        found.setdefault(message.topic, []).append(message.payload)
    return found


async def test_a_cable_leaves_its_centre_once_per_path_and_reaches_each_post_once(tmp_path: Path) -> None:
    """Filed at PIRMASENS for posts of three centres: one transmission a trunk, one copy a post (§303a)."""
    broker, clock, net = MemoryBroker(), ManualClock(), network(tmp_path)
    watch = await watching(broker, "trunks/+/from/+", "cables/out/#", topics.INTERCEPTED)
    raw = cable(
        1,
        info="RUWDQAA/COMTHIRDFLT\nRHWSAAA/USSTRATCOM OFFUTT AFB NE\nRUCBAAA/COMMANDER NORTHCOM\n"
        "RUFGBON/AMEMBASSY BONN\nQUAAXXX/THEATRE STATION",
    )
    async with centres(broker, (ORIGIN, MIDDLE, FAR), net, clock, tmp_path):
        await broker.connect().publish(topics.centre_intake(ORIGIN, "c1"), raw)
        # Two trunk transmissions, five post copies, one intercept: then nothing more.
        seen = by_topic(await helpers.receive(watch, 8))
        await settle(200)
        assert watch.queue.empty()
    first, second = topics.trunk(MIDDLE, ORIGIN), topics.trunk(FAR, MIDDLE)
    assert len(seen.pop(first)) == 1
    assert len(seen.pop(second)) == 1
    (intercept,) = (json.loads(payload) for payload in seen.pop(topics.INTERCEPTED))
    assert (intercept["addressee"], intercept["reason"]) == ("QUAAXXX", "unserved")  # no centre serves Q
    assert sorted(topic.rsplit("/", 1)[-1] for topic in seen) == sorted(POSTS)
    assert all(len(payloads) == 1 for payloads in seen.values())


async def test_each_centre_names_itself_in_the_routing_log_they_share(tmp_path: Path) -> None:
    """The centres publish on one `router/log`: each entry says which centre's it is."""
    broker, clock, net = MemoryBroker(), ManualClock(), network(tmp_path)
    log = await watching(broker, topics.LOG)
    async with centres(broker, (ORIGIN, MIDDLE, FAR), net, clock, tmp_path):
        await broker.connect().publish(topics.centre_intake(ORIGIN, "c1"), cable(1))
        await settle(200)
    entries = [json.loads(message.payload) for message in await helpers.receive(log, log.queue.qsize())]
    routed = {entry["centre"] for entry in entries if entry["event"] == "routed"}
    assert routed >= {ORIGIN, MIDDLE, FAR}, "the cable is routed at each centre on its way"
    assert all(entry.get("centre") in {ORIGIN, MIDDLE, FAR} for entry in entries)


async def test_router_trace_follows_a_cable_through_every_centre_s_journal(tmp_path: Path) -> None:
    """`router trace ID --journal A --journal B ...`: each centre's arrival and copies, hop by hop."""
    broker, clock, net = MemoryBroker(), ManualClock(), network(tmp_path)
    watch = await watching(broker, "cables/out/#")
    async with centres(broker, (ORIGIN, MIDDLE, FAR), net, clock, tmp_path):
        await broker.connect().publish(topics.centre_intake(ORIGIN, "c1"), cable(1))
        await helpers.receive(watch, len(POSTS))
        await settle(200)
    journals = [str(tmp_path / f"router-{name}.sqlite") for name in (FAR, ORIGIN, MIDDLE)]
    result = CliRunner().invoke(
        app, ["trace", "RUFGNAA-0001-0011200", *(f"--journal={path}" for path in journals)]
    )
    assert result.exit_code == 0, result.output
    hops = [line for line in result.output.splitlines() if line.startswith("at router-")]
    assert hops == [f"at router-{name}.sqlite:" for name in (ORIGIN, MIDDLE, FAR)], "in the order reached"
    at_origin = result.output.split(f"at router-{MIDDLE}.sqlite:")[0]
    assert f"  {MIDDLE}" in at_origin, "the origin's copy went on its trunk to the next centre"
    assert "RUFGBON" in at_origin, "and to its own post"


async def test_fl2_at_each_hop_holds_only_that_paths_ris_and_fl3_never_changes(tmp_path: Path) -> None:
    """Each trunk copy's FL2 holds its path's RIs (§303a(3)-(4)); FL3 on is the originator's (§116)."""
    broker, clock, net = MemoryBroker(), ManualClock(), network(tmp_path)
    watch = await watching(broker, "trunks/+/from/+")
    raw = cable(2)
    async with centres(broker, (ORIGIN, MIDDLE, FAR), net, clock, tmp_path):
        await broker.connect().publish(topics.centre_intake(ORIGIN, "c2"), raw)
        hops = {
            message.topic: read_transmission(message.payload) for message in await helpers.receive(watch, 2)
        }
    out, on = hops[topics.trunk(MIDDLE, ORIGIN)], hops[topics.trunk(FAR, MIDDLE)]
    assert out.line.ris == ("RUEKJCS", "RUCBAAA", "RUWDQAA", "RHWSAAA")  # DETRICK's, then TINKER's (§204b)
    assert on.line.ris == ("RUWDQAA", "RHWSAAA")
    assert (
        (out.channel, on.channel) == (designator(ORIGIN, MIDDLE), designator(MIDDLE, FAR)) == ("PDE", "DTI")
    )
    assert out.line.precedence is on.line.precedence is Precedence.ROUTINE
    assert out.message == on.message == message_part(raw)
    assert message_id_of(on.message, 1 << 20) == "RUFGNAA-0002-0011200"


async def test_each_posts_copy_is_the_single_switchs_byte_for_byte_after_fl1(tmp_path: Path) -> None:
    """Every post's copy, whichever centre sends it, is what the single switch sends it but for its FL1."""
    broker, clock, net = MemoryBroker(), ManualClock(), network(tmp_path)
    watch = await watching(broker, "cables/out/#")
    raw = cable(3, "O")
    async with centres(broker, (ORIGIN, MIDDLE, FAR), net, clock, tmp_path):
        await broker.connect().publish(topics.centre_intake(ORIGIN, "c3"), raw)
        copies = {m.topic.rsplit("/", 1)[-1]: m.payload for m in await helpers.receive(watch, len(POSTS))}
    single = await single_switch_copies(raw, TABLE, tmp_path)
    assert sorted(copies) == sorted(single) == sorted(POSTS)
    for post, payload in copies.items():
        assert after_fl1(payload) == after_fl1(single[post]), post
        assert read_copy(payload).called == (post,)


async def test_trunk_transmissions_are_receipted_and_a_repeat_is_filed_not_relayed(tmp_path: Path) -> None:
    """A centre receipts what it takes (§151b); the same message for the same RIs again is filed (§428a)."""
    broker, clock, net = MemoryBroker(), ManualClock(), network(tmp_path)
    watch = await watching(broker, "trunks/+/ack/+", "trunks/+/from/+", "cables/out/#")
    async with centres(broker, (ORIGIN, MIDDLE, FAR), net, clock, tmp_path) as routers:
        await broker.connect().publish(topics.centre_intake(ORIGIN, "c4"), cable(4))
        seen = by_topic(await helpers.receive(watch, 2 + 2 + len(POSTS)))
        assert seen[topics.trunk_receipts(ORIGIN, MIDDLE)] == [b"R R PDE0001"]
        assert seen[topics.trunk_receipts(MIDDLE, FAR)] == [b"R R DTI0001"]
        # The neighbour sends it again (say, it never heard the receipt): filed, receipted, not relayed.
        (again,) = seen[topics.trunk(MIDDLE, ORIGIN)]
        await broker.connect().publish(topics.trunk(MIDDLE, ORIGIN), again)
        (receipt,) = await helpers.receive(watch, 1, topic=topics.trunk_receipts(ORIGIN, MIDDLE))
        assert receipt.payload == b"R R PDE0001"
        await settle(200)
        assert routers[MIDDLE].counts["duplicate"] == 1
        assert routers[MIDDLE].lines[FAR].serial == 1  # nothing more to TINKER


async def test_dual_precedence_goes_as_one_transmission_per_precedence_each_relayed(tmp_path: Path) -> None:
    """An O R cable leaves as an OO and an RR transmission (§303b); the next centre routes both."""
    broker, clock, net = MemoryBroker(), ManualClock(), network(tmp_path)
    watch = await watching(broker, "trunks/+/from/+", "cables/out/#")
    raw = cable(5, "O").replace(b"\nO 011200Z", b"\nO R 011200Z")
    async with centres(broker, (ORIGIN, MIDDLE, FAR), net, clock, tmp_path) as routers:
        await broker.connect().publish(topics.centre_intake(ORIGIN, "c5"), raw)
        seen = by_topic(await helpers.receive(watch, 3 + len(POSTS)))  # OO and RR out, RR on
        assert routers[MIDDLE].counts["duplicate"] == 0
    lines = [read_transmission(payload).line for payload in seen.pop(topics.trunk(MIDDLE, ORIGIN))]
    assert [(line.precedence, line.ris) for line in lines] == [
        (Precedence.IMMEDIATE, ("RUEKJCS",)),
        (Precedence.ROUTINE, ("RUWDQAA", "RHWSAAA", "RUCBAAA")),  # the decision's order, grouped (§204b)
    ]
    assert [read_transmission(p).line.ris for p in seen.pop(topics.trunk(FAR, MIDDLE))] == [
        ("RUWDQAA", "RHWSAAA")
    ]
    prosigns = {topic.rsplit("/", 1)[-1]: payload.split(b"\n")[1] for topic, (payload,) in seen.items()}
    assert prosigns == {"RUEKJCS": b"OO RUEKJCS"} | {
        post: b"RR " + post.encode() for post in POSTS if post != "RUEKJCS"
    }


async def test_a_flash_busts_a_routine_on_a_slow_trunk(tmp_path: Path) -> None:
    """A FLASH busts the ROUTINE on a 75-baud trunk; cancelled, that goes again after (§151c, §424)."""
    broker, clock, net = MemoryBroker(), ManualClock(), network(tmp_path, slow_trunk=75)
    trunk = topics.trunk(MIDDLE, ORIGIN)
    watch = await watching(broker, trunk, "cables/out/RUEKJCS")
    only_detrick = "RUCBAAA/COMMANDER NORTHCOM"
    async with centres(broker, (ORIGIN, MIDDLE), net, clock, tmp_path):
        publisher = broker.connect()
        await publisher.publish(topics.centre_intake(ORIGIN, "routine"), cable(6, info=only_detrick))
        await clock.advance(5)  # the ROUTINE is on the trunk: about 100 s of it at 75 baud
        await publisher.publish(topics.centre_intake(ORIGIN, "flash"), cable(7, "Z", info=only_detrick))
        (cancelled,) = await helpers.receive(watch, 1)
        await clock.advance(600)
        rest = await helpers.receive(watch, 4)  # FLASH and ROUTINE, on the trunk and at the post
    assert (cancelled.topic, cancelled.payload.split(b"\n")[:2]) == (trunk, [b"VZCZCPDE0001", CANCEL])
    on_trunk = [read_transmission(m.payload) for m in rest if m.topic == trunk]
    assert [(t.transmission_id, t.line.precedence) for t in on_trunk] == [
        ("PDE0002", Precedence.FLASH),
        ("PDE0003", Precedence.ROUTINE),
    ]
    at_post = [read_copy(m.payload) for m in rest if m.topic != trunk]
    assert [copy.bell for copy in at_post] == [True, False]  # the FLASH reached RUEKJCS first


def test_an_older_journal_gains_the_routing_line_columns_once(tmp_path: Path) -> None:
    """A journal made before centres gets cables.ris, deliveries.ris and the new unique index, once."""
    path = tmp_path / "old.sqlite"
    old = SCHEMA.replace(",\n    ris TEXT", "").replace("(message_id, coalesce(ris, ''))", "(message_id)")
    assert "ris" not in old
    with sqlite3.connect(path) as db:
        db.executescript(old)
    Journal(path).close()
    Journal(path).close()  # again: nothing left to change
    with sqlite3.connect(path) as db:
        tables = ("cables", "deliveries")
        columns = {
            table: [row[1] for row in db.execute(f"PRAGMA table_info({table})")][-1] for table in tables
        }
        (index,) = db.execute("SELECT sql FROM sqlite_master WHERE name = 'cables_routed_message'").fetchone()
        db.execute(
            "INSERT INTO cables (received_at, topic, raw, message_id, status, ris)"
            " VALUES (0, 't', x'', 'M', 'routed', 'RUEHC'), (0, 't', x'', 'M', 'routed', 'RUEHFR')"
        )
    assert columns == {"cables": "ris", "deliveries": "ris"}
    assert "coalesce(ris, '')" in index


async def test_a_restarted_centre_cancels_the_cut_number_and_sends_the_trunk_copy_from_its_journal(
    tmp_path: Path,
) -> None:
    """Stopped mid-transmission, a centre cancels the cut number (§424d), then resends from its journal."""
    broker, clock, net = MemoryBroker(), ManualClock(), network(tmp_path, slow_trunk=75)
    trunk = topics.trunk(MIDDLE, ORIGIN)
    watch = await watching(broker, trunk)
    raw = cable(9, info="RUCBAAA/COMMANDER NORTHCOM")
    async with centres(broker, (ORIGIN,), net, clock, tmp_path):
        await broker.connect().publish(topics.centre_intake(ORIGIN, "c9"), raw)
        await clock.advance(5)  # on the trunk, far from through at 75 baud
    assert watch.queue.empty()
    async with centres(broker, (ORIGIN,), net, clock, tmp_path):  # a new core: nothing in its memory
        await clock.advance(600)
        cancelled, again = await helpers.receive(watch, 2)
    assert cancelled.payload.startswith(b"VZCZCPDE0002\n")
    assert b"UNCLAS SVC ZFR PDE0001" in cancelled.payload
    transmission = read_transmission(again.payload)
    assert (transmission.transmission_id, transmission.line.ris) == ("PDE0003", ("RUEKJCS", "RUCBAAA"))
    assert transmission.message == message_part(raw)


async def test_a_trunk_down_past_divert_after_sends_flash_by_the_doctrines_alternate(tmp_path: Path) -> None:
    """PIRMASENS-DETRICK down 5 minutes: a FLASH goes by BELTSVILLE (§307), a ROUTINE waits for the trunk."""
    broker, clock, net = MemoryBroker(), ManualClock(), network(tmp_path)
    watch = await watching(broker, "trunks/+/from/+", "cables/out/RUEKJCS")
    direct, around = topics.trunk(MIDDLE, ORIGIN), topics.trunk("BELTSVILLE", ORIGIN)
    to_detrick = "RUCBAAA/COMMANDER NORTHCOM"
    async with centres(broker, (ORIGIN, MIDDLE, "BELTSVILLE"), net, clock, tmp_path) as routers:
        operator = broker.connect()
        await operator.publish(topics.trunk_control(ORIGIN, MIDDLE), b"down")
        await settle(200)  # down now, not once the clock has moved
        await clock.advance(301)  # past divert_after (300 s): an extended outage
        await operator.publish(topics.centre_intake(ORIGIN, "routine"), cable(10, info=to_detrick))
        await operator.publish(topics.centre_intake(ORIGIN, "flash"), cable(11, "Z", info=to_detrick))
        flash = by_topic(await helpers.receive(watch, 3))  # out by BELTSVILLE, on to DETRICK, RUEKJCS's copy
        assert routers[ORIGIN].lines[MIDDLE].depths() == {"ROUTINE": 1, "in_flight": 0}
        await operator.publish(topics.trunk_control(ORIGIN, MIDDLE), b"up")
        routine = by_topic(await helpers.receive(watch, 2))  # the ROUTINE, direct, and its copy
    assert [read_transmission(p).line for p in flash[around]] == [
        RoutingLine(Precedence.FLASH, ("RUEKJCS", "RUCBAAA"))
    ]
    assert [read_transmission(p).line.ris for p in flash[topics.trunk(MIDDLE, "BELTSVILLE")]] == [
        ("RUEKJCS", "RUCBAAA")
    ]
    assert [read_copy(p).bell for p in flash["cables/out/RUEKJCS"]] == [True]
    assert [read_transmission(p).line.precedence for p in routine[direct]] == [Precedence.ROUTINE]
    assert [read_copy(p).bell for p in routine["cables/out/RUEKJCS"]] == [False]


async def test_a_garbled_routing_line_is_rejected_not_guessed_at_nor_receipted(tmp_path: Path) -> None:
    """A trunk transmission whose FL2 is not RIs goes to cables/rejected with its line and field (§402c)."""
    broker, clock, net = MemoryBroker(), ManualClock(), network(tmp_path)
    watch = await watching(broker, topics.REJECTED, "trunks/+/ack/+", "cables/out/#")
    garbled = b"VZCZCPDE0001\nRR RUEKJCS 12345\n" + message_part(cable(12))
    async with centres(broker, (MIDDLE,), net, clock, tmp_path) as routers:
        await broker.connect().publish(topics.trunk(MIDDLE, ORIGIN), garbled)
        (rejected,) = await helpers.receive(watch, 1)
        await settle(200)
        assert watch.queue.empty()  # no receipt, no copy
        assert routers[MIDDLE].counts["received"] == 1
    detail = json.loads(rejected.payload)
    assert (rejected.topic, detail["line"], detail["field"]) == (topics.REJECTED, 2, "FL2")


async def test_urgent_copies_waiting_when_the_outage_becomes_extended_go_round_then(tmp_path: Path) -> None:
    """Waiting on a dead trunk when it has been down `divert_after`: FLASH and IMMEDIATE go round (§307).

    They go by the doctrine's alternate at that moment, without a pilot (§308c(1)), their FL2 and
    FL3 as they were; the journal moves each delivery to its new trunk; the ROUTINE waits.
    """
    broker, clock, net = MemoryBroker(), ManualClock(), network(tmp_path)
    watch = await watching(broker, "trunks/+/from/+", "cables/out/RUEKJCS")
    log = await watching(broker, topics.LOG)
    around = topics.trunk("BELTSVILLE", ORIGIN)
    to_detrick = "RUCBAAA/COMMANDER NORTHCOM"
    async with centres(broker, (ORIGIN, MIDDLE, "BELTSVILLE"), net, clock, tmp_path) as routers:
        operator = broker.connect()
        await operator.publish(topics.trunk_control(ORIGIN, MIDDLE), b"down")
        await settle(200)
        await clock.advance(10)  # down, not yet for long: all three wait on the trunk
        for serial, precedence in ((13, "R"), (14, "Z"), (15, "O")):
            raw = cable(serial, precedence, info=to_detrick)
            await operator.publish(topics.centre_intake(ORIGIN, f"c{serial}"), raw)
        await settle(200)
        waiting = {"ROUTINE": 1, "FLASH": 1, "IMMEDIATE": 1, "in_flight": 0}
        assert routers[ORIGIN].lines[MIDDLE].depths() == waiting
        assert watch.queue.empty()
        await clock.advance(291)  # 301 s down: past divert_after, with nothing new filed
        seen = by_topic(await helpers.receive(watch, 6))  # two round, two on to DETRICK, two at the post
        assert routers[ORIGIN].lines[MIDDLE].depths() == {"ROUTINE": 1, "in_flight": 0}
        await settle(200)
        assert watch.queue.empty()
    assert len(seen["cables/out/RUEKJCS"]) == len(seen[topics.trunk(MIDDLE, "BELTSVILLE")]) == 2
    around_copies = seen[around]
    lines = [read_transmission(payload) for payload in around_copies]
    assert [(t.line, t.pilot) for t in lines] == [
        (RoutingLine(Precedence.FLASH, ("RUEKJCS", "RUCBAAA")), None),  # FLASH first (§308d)
        (RoutingLine(Precedence.IMMEDIATE, ("RUEKJCS", "RUCBAAA")), None),
    ]
    assert [t.message for t in lines] == [
        message_part(cable(14, "Z", to_detrick)),
        message_part(cable(15, "O", to_detrick)),
    ]
    logged = [json.loads(m.payload) for m in await helpers.receive(log, log.queue.qsize())]
    went = [e for e in logged if e["event"] == "trunk-alternate" and "delivery" in e]
    assert [(e["precedence"], e["trunks_out"], e["via"]) for e in went] == [
        ("FLASH", [MIDDLE], ["BELTSVILLE"]),
        ("IMMEDIATE", [MIDDLE], ["BELTSVILLE"]),
    ]
    with sqlite3.connect(tmp_path / f"router-{ORIGIN}.sqlite") as db:
        rows = db.execute("SELECT precedence, post, ris FROM deliveries ORDER BY id").fetchall()
    assert rows == [
        ("ROUTINE", MIDDLE, "RUEKJCS RUCBAAA"),
        ("FLASH", "BELTSVILLE", "RUEKJCS RUCBAAA"),
        ("IMMEDIATE", "BELTSVILLE", "RUEKJCS RUCBAAA"),
    ]


async def test_a_copy_gone_round_is_neither_lost_nor_sent_twice_by_a_restart(tmp_path: Path) -> None:
    """The move is journalled: restarted, the centre sends the copy by the alternate only, as a suspect."""
    broker, clock, net = MemoryBroker(), ManualClock(), network(tmp_path)
    watch = await watching(broker, "trunks/+/from/+")
    around = topics.trunk("BELTSVILLE", ORIGIN)
    async with centres(broker, (ORIGIN,), net, clock, tmp_path):
        operator = broker.connect()
        await operator.publish(topics.trunk_control(ORIGIN, MIDDLE), b"down")
        await settle(200)
        await operator.publish(
            topics.centre_intake(ORIGIN, "flash"), cable(16, "Z", info="RUCBAAA/COMMANDER NORTHCOM")
        )
        await clock.advance(301)
        (first,) = await helpers.receive(watch, 1)
    async with centres(broker, (ORIGIN,), net, clock, tmp_path):  # no receipt came: it goes again
        await clock.advance(30)
        (again,) = await helpers.receive(watch, 1)
        await broker.connect().publish(topics.trunk_control(ORIGIN, MIDDLE), b"up")  # a new core: up anyway
        await clock.advance(30)
        await settle(200)
        assert watch.queue.empty(), "nothing by the direct trunk: the copy is BELTSVILLE's now"
    assert first.topic == again.topic == around
    assert read_transmission(first.payload).pilot is None
    assert read_transmission(again.payload).pilot is not None  # ZFD: it may have got there (§427)
    assert read_transmission(again.payload).line == read_transmission(first.payload).line


def from_pirmasens(serial: int, cable_serial: int) -> bytes:
    """PIRMASENS's transmission to DETRICK under ``PDE<serial>``: a ROUTINE for RUEKJCS."""
    line = RoutingLine(Precedence.ROUTINE, ("RUEKJCS",))
    return write_transmission(f"PDE{serial:04d}", line, message_part(cable(cable_serial)))


async def test_a_centre_reports_a_gap_in_a_trunks_numbers_and_answers_its_channel_check(
    tmp_path: Path,
) -> None:
    """DETRICK, receiving PDE0001 then PDE0003, asks for PDE0002 by ZFX (§433); a ZID gets ZIC (§412c).

    A ZFR from the sender closes the number it cancels (§424d): not reported again.
    """
    broker, clock, net = MemoryBroker(), ManualClock(), network(tmp_path)
    services = topics.trunk_service(ORIGIN, MIDDLE)
    watch = await watching(broker, services)
    trunk = topics.trunk(MIDDLE, ORIGIN)
    async with centres(broker, (MIDDLE,), net, clock, tmp_path) as routers:
        pirmasens = broker.connect()
        await pirmasens.publish(trunk, from_pirmasens(1, 51))
        await pirmasens.publish(trunk, from_pirmasens(3, 53))
        (gap,) = await helpers.receive(watch, 1)
        # PDE0004 was cut by an outage: PDE0005 cancels it (§424d), PDE0006 comes; 0004 is not open.
        await pirmasens.publish(trunk, service_message("PDE0005", MIDDLE, f"{ZFR} PDE0004", clock.now()))
        await pirmasens.publish(trunk, from_pirmasens(6, 56))
        check = service_message("PDE0007", MIDDLE, f"{ZID} PDE0006", clock.now(), prosign="PP")
        await pirmasens.publish(trunk, check)
        (answer,) = await helpers.receive(watch, 1)
        await settle(200)
        assert watch.queue.empty()
        assert routers[MIDDLE].counts["trunk-gap"] == 1
    assert (gap.topic, read_signal(gap.payload, "ZFX")) == (services, ["PDE0002"])
    assert read_signal(answer.payload, "ZIC") == ["PDE0006"]


async def test_a_centre_answers_a_neighbours_gap_report_from_its_journal(tmp_path: Path) -> None:
    """PIRMASENS, told by ZFX that DETRICK never had PDE0001, sends it again under a new number (§433)."""
    broker, clock, net = MemoryBroker(), ManualClock(), network(tmp_path)
    watch = await watching(broker, topics.trunk(MIDDLE, ORIGIN))
    to_detrick = "RUCBAAA/COMMANDER NORTHCOM"
    async with centres(broker, (ORIGIN,), net, clock, tmp_path) as routers:
        filer = broker.connect()
        await filer.publish(topics.centre_intake(ORIGIN, "a"), cable(61, info=to_detrick))
        await filer.publish(topics.centre_intake(ORIGIN, "b"), cable(62, info=to_detrick))
        first, _ = await helpers.receive(watch, 2)
        await filer.publish(topics.trunk_service(ORIGIN, MIDDLE), zfx(MIDDLE, ["PDE0001"]))
        (again,) = await helpers.receive(watch, 1)
        assert routers[ORIGIN].counts["gap"] == 1
    sent, resent = read_transmission(first.payload), read_transmission(again.payload)
    assert (sent.transmission_id, resent.transmission_id) == ("PDE0001", "PDE0003")
    assert (resent.line, resent.message) == (sent.line, sent.message)
    assert resent.pilot is None  # DETRICK never had it: not a suspected duplicate (§427)


async def test_an_idle_trunk_is_checked_and_both_ends_agree(tmp_path: Path) -> None:
    """30 minutes silent, PIRMASENS sends DETRICK ZID PDE0001 (§412b); DETRICK's ZIC agrees (§412c-d)."""
    broker, clock, net = MemoryBroker(), ManualClock(), network(tmp_path)
    log = await watching(broker, topics.LOG)
    async with centres(broker, (ORIGIN, MIDDLE), net, clock, tmp_path):
        await broker.connect().publish(topics.centre_intake(ORIGIN, "c"), cable(63, info="RUCBAAA/X"))
        await settle(200)
        await clock.advance(1801)
        await settle(200)
        await clock.advance(1)
        await settle(200)
    entries = [json.loads(m.payload) for m in await helpers.receive(log, log.queue.qsize())]
    checks = [e for e in entries if e["event"] == "channel-check" and e["post"] == MIDDLE]
    assert [(e["centre"], e["sent"], e["received"], e["agreed"]) for e in checks] == [
        (ORIGIN, "PDE0001", "PDE0001", True)
    ]
    answered = [e for e in entries if e["event"] == "trunk-channel-check"]
    assert [(e["centre"], e["received"]) for e in answered if e["centre"] == ORIGIN] == [(ORIGIN, "PDE0001")]


async def test_a_suspected_duplicate_goes_on_as_one_from_every_centre_after(tmp_path: Path) -> None:
    """Received with ZFD and not had before: its trunk and post copies all carry the pilot (§427c(2))."""
    broker, clock, net = MemoryBroker(), ManualClock(), network(tmp_path)
    watch = await watching(broker, "trunks/+/from/+", "cables/out/#")
    line = RoutingLine(Precedence.ROUTINE, ("RUEKJCS", "RUWDQAA"))
    piloted = write_transmission("PDE0001", line, message_part(cable(81)), pilot="RUFGNAA")
    plain = write_transmission("PDE0002", line, message_part(cable(82)))
    async with centres(broker, (MIDDLE, FAR), net, clock, tmp_path):
        pirmasens = broker.connect()
        await pirmasens.publish(topics.trunk(MIDDLE, ORIGIN), piloted)
        await pirmasens.publish(topics.trunk(MIDDLE, ORIGIN), plain)
        seen = by_topic(await helpers.receive(watch, 2 + 2 + 2 + 2))  # two in, two on, four copies
    onward = [read_transmission(payload) for payload in seen[topics.trunk(FAR, MIDDLE)]]
    assert [(t.line.ris, t.pilot) for t in onward] == [(("RUWDQAA",), "RUFGNAA"), (("RUWDQAA",), None)]
    for post in ("RUEKJCS", "RUWDQAA"):  # DETRICK's post, and TINKER's after the second hop
        assert [read_copy(payload).suspect for payload in seen[topics.copies(post)]] == [True, False], post


MESH = (
    """
[[centres]]
name = "ALPHA"
title = "ALPHA"
serves = ["RUF"]

[[centres]]
name = "BRAVO"
title = "BRAVO"
serves = ["RUE"]

[[centres]]
name = "CHARLIE"
title = "CHARLIE"
serves = ["RUC"]

[[centres]]
name = "DELTA"
title = "DELTA"
serves = ["RUW"]
"""
    + "".join(
        f'\n[[trunks]]\nbetween = ["{a}", "{b}"]\nbaud = 0\n'
        for a, b in (
            ("ALPHA", "BRAVO"),
            ("ALPHA", "CHARLIE"),
            ("ALPHA", "DELTA"),
            ("BRAVO", "CHARLIE"),
            ("BRAVO", "DELTA"),
            ("CHARLIE", "DELTA"),
        )
    )
    + "".join(
        f'\n[[doctrine]]\ncentre = "{centre}"\nprefixes = ["{prefix}"]\n'
        f'primary = "{primary}"\nalternate = "{alternate}"\n'
        for centre, prefix, primary, alternate in (
            ("ALPHA", "RUE", "BRAVO", "CHARLIE"),
            ("ALPHA", "RUC", "CHARLIE", "BRAVO"),
            ("ALPHA", "RUW", "BRAVO", "DELTA"),  # by BRAVO with RUE, but another way round
            ("BRAVO", "RUF", "ALPHA", "CHARLIE"),
            ("BRAVO", "RUC", "CHARLIE", "ALPHA"),
            ("BRAVO", "RUW", "DELTA", "CHARLIE"),
            ("CHARLIE", "RUF", "ALPHA", "BRAVO"),
            ("CHARLIE", "RUE", "BRAVO", "ALPHA"),
            ("CHARLIE", "RUW", "DELTA", "BRAVO"),
            ("DELTA", "RUF", "ALPHA", "BRAVO"),
            ("DELTA", "RUE", "BRAVO", "CHARLIE"),
            ("DELTA", "RUC", "CHARLIE", "BRAVO"),
        )
    )
)
"""Four centres in a mesh whose ALPHA sends RUE and RUW by BRAVO, each with another alternate."""


async def test_a_waiting_copy_whose_ris_have_different_alternates_goes_as_one_copy_per_new_path(
    tmp_path: Path,
) -> None:
    """ALPHA's FLASH for RUEKJCS and RUWDQAA waits on the dead trunk to BRAVO: then two copies (§303a(4)).

    One by CHARLIE with RUEKJCS alone on FL2, one by DELTA with RUWDQAA alone, FL3 on as filed;
    the journal has the delivery moved to CHARLIE and a new one for DELTA.
    """
    (tmp_path / "mesh.toml").write_text(MESH, encoding="utf-8")
    broker, clock, net = MemoryBroker(), ManualClock(), load_network(tmp_path / "mesh.toml")
    watch = await watching(broker, "trunks/+/from/+")
    raw = cable(91, "Z", info="RUWDQAA/COMTHIRDFLT")
    async with centres(broker, ("ALPHA",), net, clock, tmp_path):
        operator = broker.connect()
        await operator.publish(topics.trunk_control("ALPHA", "BRAVO"), b"down")
        await settle(200)
        await operator.publish(topics.centre_intake("ALPHA", "flash"), raw)
        await settle(200)
        assert watch.queue.empty()
        await clock.advance(301)
        seen = {m.topic: read_transmission(m.payload) for m in await helpers.receive(watch, 2)}
    assert {topic: (t.line, t.pilot) for topic, t in seen.items()} == {
        topics.trunk("CHARLIE", "ALPHA"): (RoutingLine(Precedence.FLASH, ("RUEKJCS",)), None),
        topics.trunk("DELTA", "ALPHA"): (RoutingLine(Precedence.FLASH, ("RUWDQAA",)), None),
    }
    assert {t.message for t in seen.values()} == {message_part(raw)}
    with sqlite3.connect(tmp_path / "router-ALPHA.sqlite") as db:
        rows = db.execute("SELECT id, post, ris, state FROM deliveries ORDER BY id").fetchall()
    assert rows == [(1, "CHARLIE", "RUEKJCS", "delivered"), (2, "DELTA", "RUWDQAA", "delivered")]


async def test_a_waiting_flash_whose_alternate_is_out_too_waits_for_its_trunk(tmp_path: Path) -> None:
    """Both of PIRMASENS's trunks down past divert_after: no way round (§307 "if available"), it waits."""
    broker, clock, net = MemoryBroker(), ManualClock(), network(tmp_path)
    watch = await watching(broker, "trunks/+/from/+")
    async with centres(broker, (ORIGIN,), net, clock, tmp_path) as routers:
        operator = broker.connect()
        for neighbour in (MIDDLE, "BELTSVILLE"):
            await operator.publish(topics.trunk_control(ORIGIN, neighbour), b"down")
        await settle(200)
        await operator.publish(topics.centre_intake(ORIGIN, "f"), cable(92, "Z", info="RUCBAAA/X"))
        await clock.advance(301)
        await settle(200)
        assert routers[ORIGIN].lines[MIDDLE].depths() == {"FLASH": 1, "in_flight": 0}
        await operator.publish(topics.trunk_control(ORIGIN, MIDDLE), b"up")
        (sent,) = await helpers.receive(watch, 1)
    assert sent.topic == topics.trunk(MIDDLE, ORIGIN)
    assert read_transmission(sent.payload).line == RoutingLine(Precedence.FLASH, ("RUEKJCS", "RUCBAAA"))
