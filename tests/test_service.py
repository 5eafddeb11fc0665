"""The routing service end to end on the in-memory bus, and once on a real Mosquitto."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING

import pytest
import structlog
import structlog.testing

from router.bus.memory import MemoryBroker, MemoryBus
from router.bus.mqtt import BrokerAddress, MqttBus
from router.bus.protocol import Bus, Message
from router.cable.models import Precedence
from router.cable.parser import MAX_CABLE_BYTES
from router.errors import BusError
from router.journal import queries
from router.journal.store import Journal
from router.journal.writes import Logged, Received, Routed, SentAtOnce
from router.network.clock import ManualClock, settle
from router.network.line import Consignment, LineRules
from router.routing.table import RoutingTable, parse_table
from router.switch.actions import Actions
from router.switch.core import UNKNOWN_LOGGED, Limits, Switch
from router.switch.service import Router
from tests import helpers
from tests.helpers import opened, receipt_for, receive

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from contextlib import AbstractAsyncContextManager
    from pathlib import Path

    from router.bus.broker import Mosquitto
    from router.journal.reads import Consigned

TABLE = """
[defaults]
window = 1
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
window = 10
"""


def cable(serial: int, precedence: str = "R", to: str = "RUEHC/SECSTATE WASHDC") -> bytes:
    return (
        f"VZCZCXYZ{serial:04d}\n{precedence}{precedence} RUEHWEB\nDE RUEHRO #{serial:04d} 0011200\n"
        f"ZNR UUUUU ZZH\n{precedence} 011200Z JAN 09\nFM AMEMBASSY ROME\nTO {to}\n\n"
        f"UNCLAS ROME {serial:06d}\n\nSUBJECT: CABLE {serial}\n"
    ).encode()


@pytest.fixture
def table() -> RoutingTable:
    """Two posts: the Department on a window of one, Paris on ten."""
    return parse_table(TABLE)


def running(
    bus: Bus, journal: Journal, table: RoutingTable, **options: object
) -> AbstractAsyncContextManager[Router]:
    """A router as the shared helper runs it: it resends soon after a restart, logs every copy."""
    return helpers.running(bus, journal, table, **({"resend_after": 0.05, "log_copies": True} | options))


async def events(log: Bus, name: str, count: int) -> list[dict[str, object]]:
    """Wait on `router/log` for ``count`` events called ``name``."""
    seen: list[dict[str, object]] = []
    async with asyncio.timeout(5):
        async for message in log.messages():
            event = json.loads(message.payload)
            if event["event"] == name:
                seen.append(event)
                if len(seen) == count:
                    break
    return seen


async def test_a_cable_goes_out_to_its_posts_and_their_acknowledgements_count(
    tmp_path: Path, table: RoutingTable
) -> None:
    """Intake, journal, route, deliver on cables/out/<RI>, acknowledge on cables/ack/<RI>."""
    broker = MemoryBroker()
    journal = Journal(tmp_path / "journal.sqlite")
    post, publisher, log = broker.connect(), broker.connect(), broker.connect()
    await post.subscribe("cables/out/#")
    await log.subscribe("router/log")
    async with running(broker.connect(), journal, table):
        await publisher.publish("cables/in/rome", cable(1, to="RUEHC/SECSTATE WASHDC\nINFO AMEMBASSY PARIS"))
        copies = {m.topic: m for m in await receive(post, 2)}
        assert set(copies) == {"cables/out/RUEHC", "cables/out/RUEHFR"}
        transmission, copy = opened(copies["cables/out/RUEHC"])
        assert (transmission, copy.message_id) == ("EHC0001", "RUEHRO-0001-0011200")
        assert copies["cables/out/RUEHC"].payload.startswith(b"VZCZCEHC0001\nRR RUEHC\nDE RUEHRO #0001")
        assert b"SUBJECT: CABLE 1" in copies["cables/out/RUEHC"].payload
        for topic, message in copies.items():
            await publisher.publish(topic.replace("/out/", "/ack/"), receipt_for(message))
        await events(log, "acknowledged", 2)
    assert journal.counts() == {"cables_routed": 1, "deliveries_acknowledged": 2, "intercepts": 0}


async def test_flash_overtakes_routine_waiting_for_a_slow_post(tmp_path: Path, table: RoutingTable) -> None:
    """With one copy in flight, a FLASH queued behind three ROUTINE cables goes next."""
    broker = MemoryBroker()
    journal = Journal(tmp_path / "journal.sqlite")
    post, publisher, log = broker.connect(), broker.connect(), broker.connect()
    await post.subscribe("cables/out/RUEHC")
    await log.subscribe("router/log")
    async with running(broker.connect(), journal, table):
        for serial in (1, 2, 3):
            await publisher.publish("cables/in/rome", cable(serial))
        (first,) = await receive(post, 1)
        await publisher.publish("cables/in/rome", cable(4, precedence="Z"))
        await events(log, "routed", 4)  # the FLASH is queued while the window is full
        order = [first]
        for _ in range(3):
            await publisher.publish("cables/ack/RUEHC", receipt_for(order[-1]))
            order.extend(await receive(post, 1))
    cables = [opened(message)[1] for message in order]
    assert [cable.precedence.value for cable in cables if cable.precedence] == [
        "ROUTINE",
        "FLASH",
        "ROUTINE",
        "ROUTINE",
    ]
    assert [cable.message_id[7:11] for cable in cables] == ["0001", "0004", "0002", "0003"]
    assert [opened(message)[0] for message in order] == ["EHC0001", "EHC0002", "EHC0003", "EHC0004"]


async def test_status_reports_queue_depths_per_post_and_precedence(
    tmp_path: Path, table: RoutingTable
) -> None:
    """The retained router/status shows what waits for a slow post, by precedence, and what is in flight."""
    broker = MemoryBroker()
    journal = Journal(tmp_path / "journal.sqlite")
    publisher, watcher = broker.connect(), broker.connect()
    async with running(broker.connect(), journal, table, status_every=0.02):
        for serial, precedence in ((1, "R"), (2, "R"), (3, "O")):
            await publisher.publish("cables/in/x", cable(serial, precedence=precedence))
        await watcher.subscribe("router/status")
        async with asyncio.timeout(5):
            async for message in watcher.messages():
                status = json.loads(message.payload)
                if status["totals"].get("routed") == 3 and status["queues"]:
                    break
    depths = status["queues"]["RUEHC"]
    assert depths.pop("in_flight") == 1
    assert depths.pop("up") is True
    assert depths.pop("sending") is None, "an unthrottled line is never caught mid-transmission"
    assert sum(depths.values()) == 2
    assert set(depths) <= {"ROUTINE", "IMMEDIATE"}
    assert status["totals"]["delivered"] == 1


async def test_unreadable_input_is_rejected_with_where_and_kept(tmp_path: Path, table: RoutingTable) -> None:
    """A broken cable goes to cables/rejected with line, column and journal id; its bytes stay."""
    broker = MemoryBroker()
    journal = Journal(tmp_path / "journal.sqlite")
    watcher, publisher = broker.connect(), broker.connect()
    await watcher.subscribe("cables/rejected")
    async with running(broker.connect(), journal, table):
        await publisher.publish("cables/in/x", b"VZCZCXYZ0001\nOO RUEHWEB\nDE RUEHKO #1571\n")
        (rejected,) = await receive(watcher, 1)
    record = json.loads(rejected.payload)
    assert (record["line"], record["column"], record["field"]) == (3, 1, "FL3")
    assert journal.raw(record["journal_id"]).startswith(b"VZCZCXYZ0001")
    assert journal.counts()["cables_rejected"] == 1


async def test_a_duplicate_is_recognised_and_not_delivered_twice(tmp_path: Path, table: RoutingTable) -> None:
    """The same message id twice: one copy out, the second cable journalled as a duplicate."""
    broker = MemoryBroker()
    journal = Journal(tmp_path / "journal.sqlite")
    post, publisher, log = broker.connect(), broker.connect(), broker.connect()
    await post.subscribe("cables/out/#")
    await log.subscribe("router/log")
    async with running(broker.connect(), journal, table):
        await publisher.publish("cables/in/x", cable(7, to="AMEMBASSY PARIS"))
        await publisher.publish("cables/in/x", cable(7, to="AMEMBASSY PARIS"))
        # One copy for Paris; Rome, whose FL3 it bears, is told by service message (§428a).
        got = {message.topic: message for message in await receive(post, 2)}
        (duplicate,) = await events(log, "duplicate", 1)
    assert duplicate["message_id"] == "RUEHRO-0007-0011200"
    assert journal.counts()["cables_duplicate"] == 1
    assert set(got) == {"cables/out/RUEHFR", "cables/out/RUEHRO"}
    notice = got["cables/out/RUEHRO"].payload
    assert b"\nUNCLAS SVC RUEHRO 0007 0011200 EXACT DUPLICATE RECEIVED AND FILED\n" in notice
    assert post.queue.empty(), "nothing more: the duplicate is not delivered twice"


async def test_a_cable_the_broker_sends_again_is_filed_and_its_station_not_told(
    tmp_path: Path, table: RoutingTable
) -> None:
    """MQTT's DUP: the router journalled it and went before the broker heard its PUBACK (killed, cut off).

    Filed as any duplicate (§428a), one copy out; but Rome, whose FL3 it bears, did nothing wrong:
    no service message, a `redelivered` entry instead. Sent again with other bytes, it is Rome's.
    """
    broker = MemoryBroker()
    journal = Journal(tmp_path / "journal.sqlite")
    post, publisher, log = broker.connect(), broker.connect(), broker.connect()
    await post.subscribe("cables/out/#")
    await log.subscribe("router/log")
    first = cable(7, to="AMEMBASSY PARIS")
    async with running(broker.connect(), journal, table):
        await publisher.publish("cables/in/x", first)
        await broker.deliver(Message("cables/in/x", first, qos=1, redelivered=True))
        (redelivered,) = await events(log, "redelivered", 1)
        (copy,) = await receive(post, 1)
        await broker.deliver(Message("cables/in/x", first + b"\n", qos=1, redelivered=True))
        (notice,) = await receive(post, 1)
    assert redelivered["message_id"] == "RUEHRO-0007-0011200"
    assert copy.topic == "cables/out/RUEHFR"
    assert journal.counts()["cables_duplicate"] == 2
    assert notice.topic == "cables/out/RUEHRO"
    assert b"EXACT DUPLICATE RECEIVED AND FILED" in notice.payload
    assert post.queue.empty()


async def test_unacknowledged_deliveries_go_out_again_after_a_restart(
    tmp_path: Path, table: RoutingTable
) -> None:
    """The queues are rebuilt from the journal: what a post did not acknowledge is sent again."""
    broker = MemoryBroker()
    path = tmp_path / "journal.sqlite"
    post, publisher = broker.connect(), broker.connect()
    await post.subscribe("cables/out/RUEHFR")
    async with running(broker.connect(), Journal(path), table):
        await publisher.publish("cables/in/x", cable(9, to="AMEMBASSY PARIS"))
        (before,) = await receive(post, 1)
    async with running(broker.connect(), Journal(path), table):
        (after,) = await receive(post, 1)
    assert opened(after)[1].message_id == opened(before)[1].message_id
    assert (opened(before)[0], opened(after)[0]) == ("HFR0001", "HFR0002"), "the channel's serials go on"


async def test_a_copy_acknowledged_across_a_restart_is_not_sent_again(
    tmp_path: Path, table: RoutingTable
) -> None:
    """An acknowledgement that arrives within the grace after a restart spares the post a second copy."""
    broker = MemoryBroker()
    path = tmp_path / "journal.sqlite"
    post, publisher, log = broker.connect(), broker.connect(), broker.connect()
    await post.subscribe("cables/out/RUEHFR")
    await log.subscribe("router/log")
    async with running(broker.connect(), Journal(path), table):
        await publisher.publish("cables/in/x", cable(10, to="AMEMBASSY PARIS"))
        (copy,) = await receive(post, 1)
    async with running(broker.connect(), Journal(path), table, resend_after=0.5):
        await publisher.publish("cables/ack/RUEHFR", receipt_for(copy))
        (resending,) = await events(log, "resending", 1)
    assert resending["deliveries"] == 0
    assert resending["acknowledged_meanwhile"] == 1
    assert post.queue.empty()


async def test_the_service_works_the_same_on_a_real_mosquitto(
    tmp_path: Path, table: RoutingTable, mosquitto: Mosquitto
) -> None:
    """On Mosquitto, with manual acknowledgement of intake: the cable arrives at its post."""
    address = BrokerAddress.parse(mosquitto.url)
    async with (
        MqttBus(address, client_id="router-e2e", manual_ack=True) as bus,
        MqttBus(address, client_id="post-e2e") as post,
        MqttBus(address, client_id="pub-e2e") as publisher,
    ):
        await post.subscribe("cables/out/RUEHFR")
        async with running(bus, Journal(tmp_path / "journal.sqlite"), table):
            await publisher.publish("cables/in/e2e", cable(11, to="AMEMBASSY PARIS"))
            (copy,) = await receive(post, 1)
    assert opened(copy)[1].message_id == "RUEHRO-0011-0011200"


async def test_a_cable_journalled_but_not_routed_is_taken_up_after_a_restart(
    tmp_path: Path, table: RoutingTable
) -> None:
    """A router stopped between the journal and routing finishes the cable on its next start."""
    path = tmp_path / "journal.sqlite"
    Journal(path).receive("cables/in/x", cable(12, to="AMEMBASSY PARIS"))  # as if killed right after
    broker = MemoryBroker()
    post = broker.connect()
    await post.subscribe("cables/out/RUEHFR")
    async with running(broker.connect(), Journal(path), table):
        (copy,) = await receive(post, 1)
    assert opened(copy)[1].message_id == "RUEHRO-0012-0011200"
    assert Journal(path).counts()["cables_routed"] == 1


class _NothingJournalled:
    """The journal as an empty switch's core reads it: nothing routed, nothing queued."""

    def cable(self, cable_id: int) -> tuple[bytes, str | None]:
        raise AssertionError(cable_id)

    def identification(self, cable_id: int) -> tuple[bytes, str] | None:
        raise AssertionError(cable_id)

    def kept_properties(self, cable_id: int) -> bytes:
        raise AssertionError(cable_id)

    def is_duplicate(self, message_id: str) -> int | None:  # noqa: ARG002 (nothing routed)
        return None

    def transmission(self, post: str, channel: str, serial: int) -> tuple[int, str] | None:
        raise AssertionError((post, channel, serial))

    def is_open(self, delivery_id: int) -> bool:
        raise AssertionError(delivery_id)

    def consignment(self, delivery_id: int) -> Consigned:
        raise AssertionError(delivery_id)

    def copy_of(self, message_id: str, post: str) -> int | None:
        raise AssertionError((message_id, post))

    def waiting(self, post: str, besides: set[int], limit: int) -> list[tuple[Consigned, float]]:
        raise AssertionError((post, besides, limit))

    def received_before(self, topic: str, raw: bytes) -> int | None:
        raise AssertionError((topic, raw))

    def given_up(self, delivery_id: int) -> bool:
        raise AssertionError(delivery_id)


def test_the_core_decides_what_to_write_and_send_without_doing_it(table: RoutingTable) -> None:
    """A cable handled by the core alone: its journal rows and copies come back as values, in order."""
    actions = Actions(log_copies=False, publish_log=False)
    switch = Switch(
        table,
        _NothingJournalled(),
        actions,
        rules=LineRules(),
        max_bytes=MAX_CABLE_BYTES,
        ack_timeout=300.0,
        serials={"RUEHC": 41},
        last_ids=(7, 20),
    )
    raw = cable(1, to="RUEHC/SECSTATE WASHDC\nINFO AMEMBASSY PARIS")
    switch.handle("cables/in/rome", raw, now=5.0)
    switch.tick(now=5.0)
    received, routed, logged, *sent = actions.writes
    assert received == Received(8, "cables/in/rome", raw)
    assert isinstance(routed, Routed)
    assert (routed.cable_id, routed.first_delivery, len(routed.deliveries)) == (8, 21, 2)
    assert isinstance(logged, Logged)
    assert logged.event == "routed"
    rows = [row for row in sent if isinstance(row, SentAtOnce)]
    assert len(rows) == len(sent), "no copy's own log entry: copies are only counted"
    # the lines with work run in no set order: each post's copy, under its own line's next serial
    assert sorted((row.delivery_id, row.post, row.serial) for row in rows) == [
        (21, "RUEHC", 42),
        (22, "RUEHFR", 1),
    ]
    assert sorted((topic, payload[:12]) for topic, payload, *_ in actions.sends) == [
        ("cables/out/RUEHC", b"VZCZCEHC0042"),
        ("cables/out/RUEHFR", b"VZCZCHFR0001"),
    ]
    assert actions.counts["delivered"] == 2


async def test_a_restart_with_unreceipted_copies_is_one_session_that_resends_them_once(
    tmp_path: Path, table: RoutingTable
) -> None:
    """After a restart the resend is done once and the router keeps running: one session for 30 s."""
    broker = MemoryBroker()
    path = tmp_path / "journal.sqlite"
    clock = ManualClock()
    post, publisher, log = broker.connect(), broker.connect(), broker.connect()
    await post.subscribe("cables/out/RUEHFR")
    async with running(broker.connect(), Journal(path, clock=clock.now), table, clock=clock):
        await publisher.publish("cables/in/x", cable(13, to="AMEMBASSY PARIS"))
        (first,) = await receive(post, 1)
    await log.subscribe("router/log")
    journal = Journal(path, clock=clock.now)
    router = Router(broker.connect(), journal, table, clock=clock, resend_after=0.01)
    stop = asyncio.Event()
    session = asyncio.create_task(router.run(stop))
    await events(log, "resending", 1)
    (again,) = await receive(post, 1)
    await clock.advance(30)
    assert not session.done(), "the resend's end did not end the run"
    stop.set()
    await asyncio.wait_for(session, 5)
    with queries.read_only(journal.path) as db:
        (listening,) = db.execute("SELECT count(*) FROM events WHERE event = 'listening'").fetchone()
    assert listening == 2, "one session before the restart, one after"
    assert opened(again)[1].message_id == opened(first)[1].message_id
    assert post.queue.empty(), "the copy went again once"


async def test_a_cable_published_on_cables_in_itself_is_journalled_and_routed(
    tmp_path: Path, table: RoutingTable
) -> None:
    """``cables/in`` itself (no level below), which ``cables/in/#`` matches too, is an intake topic."""
    broker = MemoryBroker()
    journal = Journal(tmp_path / "journal.sqlite")
    post, publisher = broker.connect(), broker.connect()
    await post.subscribe("cables/out/RUEHFR")
    async with running(broker.connect(), journal, table):
        await publisher.publish("cables/in", cable(14, to="AMEMBASSY PARIS"))
        (copy,) = await receive(post, 1)
    assert opened(copy)[1].message_id == "RUEHRO-0014-0011200"
    assert journal.counts()["cables_routed"] == 1


def test_a_message_on_a_topic_the_switch_cannot_place_is_logged(table: RoutingTable) -> None:
    """A message the switch cannot place is not dropped in silence: it is an entry of the routing log."""
    actions = Actions(log_copies=False, publish_log=False)
    switch = Switch(
        table,
        _NothingJournalled(),
        actions,
        rules=LineRules(),
        max_bytes=MAX_CABLE_BYTES,
        ack_timeout=300.0,
        serials={},
        last_ids=(0, 0),
    )
    switch.handle("cables/ack/RUEHFR/extra", b"R Z HFR0001", now=5.0)
    switch.handle("somewhere/else", b"?", now=5.0)
    assert [write.event for write in actions.writes if isinstance(write, Logged)] == [
        "unplaced-message",
        "unplaced-message",
    ]


async def test_a_retained_cable_is_journalled_once_and_cleared_at_the_broker(
    tmp_path: Path, table: RoutingTable
) -> None:
    """A cable published retained is taken once: found journalled on the next start, then cleared."""
    broker = MemoryBroker()
    path = tmp_path / "journal.sqlite"
    post, publisher = broker.connect(), broker.connect()
    await post.subscribe("cables/out/RUEHFR")
    async with running(broker.connect(), Journal(path), table):
        await publisher.publish("cables/in/kept", cable(15, to="AMEMBASSY PARIS"), retain=True)
        (copy,) = await receive(post, 1)
        await publisher.publish("cables/ack/RUEHFR", receipt_for(copy))
    assert "cables/in/kept" in broker.retained
    for _ in range(2):
        log = broker.connect()
        await log.subscribe("router/log")
        async with running(broker.connect(), Journal(path), table):
            await events(log, "listening", 1)
            await settle()
    assert "cables/in/kept" not in broker.retained
    with queries.read_only(path) as db:
        (journalled,) = db.execute("SELECT count(*) FROM cables").fetchone()
        again = db.execute("SELECT count(*) FROM events WHERE event = 'retained-again'").fetchone()[0]
    assert (journalled, again) == (1, 1)
    assert post.queue.empty()


async def test_a_cable_retained_while_the_router_was_away_is_taken_then_cleared(
    tmp_path: Path, table: RoutingTable
) -> None:
    """Retained intake found at the start is journalled and routed, and the broker keeps it no longer."""
    broker = MemoryBroker()
    path = tmp_path / "journal.sqlite"
    post, publisher = broker.connect(), broker.connect()
    await post.subscribe("cables/out/RUEHFR")
    await publisher.publish("cables/in/early", cable(16, to="AMEMBASSY PARIS"), retain=True)
    async with running(broker.connect(), Journal(path), table):
        (copy,) = await receive(post, 1)
        await settle()
    assert opened(copy)[1].message_id == "RUEHRO-0016-0011200"
    assert "cables/in/early" not in broker.retained
    assert Journal(path).counts()["cables_routed"] == 1


def core(table: RoutingTable, **limits: int) -> tuple[Switch, Actions]:
    """A switch's core on an empty journal, and what it decides."""
    actions = Actions(log_copies=False, publish_log=False)
    switch = Switch(
        table,
        _NothingJournalled(),
        actions,
        rules=LineRules(),
        max_bytes=MAX_CABLE_BYTES,
        ack_timeout=300.0,
        serials={},
        last_ids=(0, 0),
        limits=Limits(**limits),
    )
    return switch, actions


def test_control_topics_for_unknown_stations_make_no_state_and_are_logged_once(table: RoutingTable) -> None:
    """Made-up RIs on every per-post topic: no line, no journal row but one log entry per RI, bounded."""
    switch, actions = core(table)
    for number in range(3000):
        ri = f"QXZ{number:04d}"
        for topic in ("router/line/", "cables/ack/", "cables/svc/", "router/retransmit/"):
            switch.handle(topic + ri, b"down", now=1.0)
    switch.handle("router/line/RUEHZZ", b"down", now=1.0)  # behind the RUEH relay, but no line yet
    assert switch.by_post == {}
    logged = [write for write in actions.writes if isinstance(write, Logged)]
    assert [entry.event for entry in logged].count("unknown-station") == UNKNOWN_LOGGED
    assert [entry.event for entry in logged].count("unknown-stations-not-logged") == 1
    assert len(logged) == UNKNOWN_LOGGED + 1
    assert actions.counts["unknown-station"] == 4 * 3000 + 1


def test_router_status_lists_the_busiest_lines_and_sums_the_others(table: RoutingTable) -> None:
    """However many lines have traffic, the status lists `status_lines` of them; the rest are counted."""
    switch, _ = core(table, status_lines=2)
    for number, waiting in enumerate([1, 5, 3, 2]):
        line = switch.lines.line(f"RUEHA{chr(65 + number)}")
        line.up = False
        for delivery in range(waiting):
            line.put(Consignment(100 * number + delivery, 1, Precedence.ROUTINE), 100, now=1.0)
    status = switch.status_queues()
    assert isinstance(status["queues"], dict)
    assert sorted(status["queues"]) == ["RUEHAB", "RUEHAC"]
    assert status["other_lines"] == {"lines": 2, "down": 2, "in_flight": 0, "waiting": {"ROUTINE": 3}}


class _LostBus(MemoryBus):
    """A bus whose connection is lost once the router reads from it."""

    async def messages(self) -> AsyncIterator[Message]:
        raise BusError("connection lost")
        yield  # pragma: no cover (an async generator that fails at once)


async def test_a_task_that_fails_ends_the_run_and_is_logged_with_its_reason(
    tmp_path: Path, table: RoutingTable
) -> None:
    """The reader failing ends `run()` with its error, and the log names the task and the reason."""
    broker = MemoryBroker()
    bus = _LostBus(broker, asyncio.Queue(10))
    router = Router(bus, Journal(tmp_path / "journal.sqlite"), table)
    with structlog.testing.capture_logs() as logs, pytest.raises(BusError, match="connection lost"):
        await asyncio.wait_for(router.run(asyncio.Event()), 5)
    (failed,) = [entry for entry in logs if entry["event"] == "task-failed"]
    assert (failed["task"], failed["reason"]) == ("read", "BusError: connection lost")
