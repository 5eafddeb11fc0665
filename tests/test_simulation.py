"""The network simulated by the router, on the in-memory bus and a hand-driven clock.

Paris sits on a 75-baud line (10 characters a second): a test advances the clock and sees each
transmission end, a FLASH bust a ROUTINE, serials run on, gaps get repaired and outages hold traffic.
"""

from __future__ import annotations

import json
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import pytest

from router.bus.memory import MemoryBroker, MemoryBus
from router.cable.models import Precedence
from router.journal import queries
from router.journal.store import Journal
from router.network.channel import duplicate_notice, duplicate_report, read_copy, suspected_duplicate, zfx
from router.network.clock import ManualClock, settle
from router.routing.table import parse_table
from router.sim.post import PostStation
from router.switch.core import Limits
from tests.helpers import opened, receipt_for, running

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from router.bus.protocol import Message
    from router.switch.service import Router

TABLE = """
[defaults]
baud = 0
window = 10

[[posts]]
ri = "RUEHFR"
names = ["AMEMBASSY PARIS"]
baud = 75

[[posts]]
ri = "RUEHRO"
names = ["AMEMBASSY ROME"]
"""
START = 1_000_000_000.0


def cable(serial: int, precedence: str = "R", *, text: int = 0, niact: bool = False) -> bytes:
    """A cable from Rome to Paris; ``text`` characters of text make it longer on the line."""
    body = ("X" * 68 + "\n") * (text // 69)
    to = "AMEMBASSY PARIS NIACT IMMEDIATE" if niact else "AMEMBASSY PARIS"
    return (
        f"VZCZCXYZ{serial:04d}\n{precedence}{precedence} RUEHWEB\nDE RUEHRO #{serial:04d} 0011200\n"
        f"ZNR UUUUU ZZH\n{precedence} 011200Z JAN 09\nFM AMEMBASSY ROME\nTO {to}\n\n"
        f"UNCLAS ROME {serial:06d}\n\nSUBJECT: CABLE {serial}\n\n{body}"
    ).encode()


class Network:
    """The router, its clock and journal, a publisher and a view of Paris's channel."""

    def __init__(self, broker: MemoryBroker, clock: ManualClock, journal: Journal, router: Router) -> None:
        self.clock, self.journal, self.router = clock, journal, router
        self.publisher: MemoryBus = broker.connect()
        self.paris: MemoryBus = broker.connect()

    async def publish(self, *cables: bytes) -> None:
        """Put cables on the intake and let the router take them."""
        for raw in cables:
            await self.publisher.publish("cables/in/rome", raw)
        await settle()

    def received(self) -> list[Message]:
        """What Paris's channel carried since the last look."""
        return self.received_by(self.paris)

    @staticmethod
    def received_by(bus: MemoryBus) -> list[Message]:
        """What a connection's subscriptions carried since the last look."""
        got = []
        while not bus.queue.empty():
            got.append(bus.queue.get_nowait())
        return got

    def transmissions(self) -> list[tuple[int, str, str]]:
        """(serial, cause, outcome) of every transmission to Paris, in order."""
        with queries.read_only(self.journal.path) as db:
            rows = db.execute(
                "SELECT serial, cause, outcome FROM transmissions WHERE post = 'RUEHFR' ORDER BY id"
            ).fetchall()
        return [(int(serial), str(cause), str(outcome)) for serial, cause, outcome in rows]

    def events(self, name: str) -> list[dict[str, object]]:
        """The routing log's entries called ``name``, from the journal."""
        with queries.read_only(self.journal.path) as db:
            rows = db.execute("SELECT fields FROM events WHERE event = ? ORDER BY id", (name,)).fetchall()
        return [json.loads(fields) for (fields,) in rows]


@asynccontextmanager
async def network(tmp_path: Path, **options: object) -> AsyncIterator[Network]:
    """The one-post network (Paris on a 75-baud line), its journal in ``tmp_path``."""
    async with network_on(tmp_path / "journal.sqlite", **options) as net:
        yield net


@asynccontextmanager
async def network_on(location: Path | str, **options: object) -> AsyncIterator[Network]:
    """The same, its journal at ``location``: an SQLite file, or a PostgreSQL URL (`tests.postgres`)."""
    broker = MemoryBroker()
    clock = ManualClock(START)
    journal = Journal(location, clock=clock.now)
    table = parse_table(TABLE)
    async with running(broker.connect(), journal, table, clock=clock, log_copies=True, **options) as router:
        net = Network(broker, clock, journal, router)
        await net.paris.subscribe("cables/out/RUEHFR")
        yield net


def copies(messages: list[Message]) -> list[tuple[str, str]]:
    """(transmission id, what it is) of each payload: a message id, or 'cancelled'."""
    seen = []
    for message in messages:
        copy = read_copy(message.payload)
        seen.append((copy.transmission_id, "cancelled" if copy.cancelled else opened(message)[1].message_id))
    return seen


def ita2_characters(payload: bytes) -> int:
    """What an ITA2 line sends for a copy, counted by hand, one character at a time.

    Its characters, 2CR 1LF a line end (§138b), a FIGS or LTRS at each change of case (§137a),
    and each transmission's framing: five spaces after the TI (§138a), 2CR 8LF before NNNN and
    12 LTRS after it (§138d).
    """
    sent, case = 0, "letters"
    for character in payload.decode():
        if character == "\n":
            sent += 3
            continue
        sent += 1
        if character == " ":
            continue
        wanted = "figures" if character.isdigit() or character in "-?:().,'=/+" else "letters"
        sent += wanted != case
        case = wanted
    return sent + 5 + 7 + 12


async def test_a_copy_arrives_when_its_last_character_has_crossed_the_line(tmp_path: Path) -> None:
    """About 400 line characters at 75 baud, 7.5 units each (ITA2): the copy arrives after about 40 s.

    The time counts what the line sends, not the bytes on the bus: line ends, case shifts and the
    transmission's framing (§137a, §138).
    """
    async with network(tmp_path) as net:
        raw = cable(1, text=207)
        await net.publish(raw)
        await net.clock.advance(30)
        assert net.received() == []
        await net.clock.advance(20)
        (copy,) = net.received()
    characters = ita2_characters(copy.payload)
    assert characters > len(copy.payload) + 40, "line ends and shifts are sent too"
    (delivered,) = net.events("delivered")
    assert delivered["latency_s"] == pytest.approx(characters * 7.5 / 75, abs=0.01)


async def test_a_flash_busts_the_routine_in_progress_which_arrives_later_whole_with_a_new_serial(
    tmp_path: Path,
) -> None:
    """A 5-minute ROUTINE busted at 60 s by a FLASH: cancel 0001, FLASH 0002, ROUTINE 0003 whole."""
    async with network(tmp_path) as net:
        await net.publish(cable(1, "R", text=3000))
        await net.clock.advance(60)
        await net.publish(cable(2, "Z"))
        await net.clock.advance(40)
        received = net.received()
        first = copies(received)
        await net.publisher.publish("cables/ack/RUEHFR", receipt_for(received[1]))  # the FLASH is receipted
        await net.clock.advance(400)
        later = copies(net.received())
    assert first == [("HFR0001", "cancelled"), ("HFR0002", "RUEHRO-0002-0011200")]
    assert later == [("HFR0003", "RUEHRO-0001-0011200")]
    assert net.transmissions() == [
        (1, "first", "busted"),
        (2, "first", "delivered"),
        (3, "bust", "delivered"),
    ]
    (busted,) = net.events("busted")
    assert (busted["transmission"], busted["precedence"]) == ("HFR0001", "ROUTINE")


async def test_an_immediate_waits_for_a_nearly_finished_routine(tmp_path: Path) -> None:
    """A ROUTINE with seconds left is not busted by an IMMEDIATE that would take longer to send."""
    async with network(tmp_path) as net:
        await net.publish(cable(1, "R", text=1000))
        await net.clock.advance(125)  # about 10 s left of the ROUTINE
        await net.publish(cable(2, "O"))
        await net.clock.advance(100)
        seen = copies(net.received())
    assert seen == [("HFR0001", "RUEHRO-0001-0011200"), ("HFR0002", "RUEHRO-0002-0011200")]
    assert net.events("busted") == []


async def test_a_gap_reported_by_the_post_is_repaired_from_the_journal(tmp_path: Path) -> None:
    """Paris loses serial 0002: its ZFX brings the message again under 0004, and nothing is shown twice."""
    async with network(tmp_path) as net:
        station = PostStation("RUEHFR")
        await net.publish(cable(1), cable(2), cable(3))
        await net.clock.advance(200)
        first, _lost, third = net.received()
        shown = [station.read(first.payload), station.read(third.payload)]
        assert shown[1].report is not None
        await net.publisher.publish("cables/svc/RUEHFR", shown[1].report)
        await settle()
        await net.clock.advance(60)
        (repair,) = net.received()
        shown.append(station.read(repair.payload))
    assert [reading.cable.message_id for reading in shown if reading.cable] == [
        "RUEHRO-0001-0011200",
        "RUEHRO-0003-0011200",
        "RUEHRO-0002-0011200",
    ]
    assert shown[2].transmission_id == "HFR0004"
    assert net.transmissions()[-1] == (4, "zfx", "delivered")
    assert net.events("gap")[0]["serials"] == ["HFR0002"]


async def test_a_transmission_cut_by_an_outage_is_cancelled_by_zfr_as_the_line_returns(
    tmp_path: Path,
) -> None:
    """§424d: cut HFR0002 is cancelled by service message ZFR under HFR0003, at once, ahead of the copy.

    The post never sees a gap (no ZFX), the message goes whole under HFR0004, and the cancelled
    number never appears on the channel again (§424b), even when a post asks for it later.
    """
    async with network(tmp_path) as net:
        station = PostStation("RUEHFR")
        await net.publish(cable(1))
        await net.clock.advance(60)
        (first,) = net.received()
        station.read(first.payload)
        await net.publisher.publish("cables/ack/RUEHFR", receipt_for(first))
        await net.publish(cable(2, text=1000))
        await net.clock.advance(10)
        await net.publisher.publish("router/line/RUEHFR", b"down")
        await settle()
        await net.publisher.publish("router/line/RUEHFR", b"up")
        await settle()
        await net.clock.advance(200)
        zfr, again = net.received()
        readings = [station.read(zfr.payload), station.read(again.payload)]
        await net.publisher.publish("cables/svc/RUEHFR", zfx("RUEHFR", ["HFR0002"]))  # asked for all the same
        await settle()
        await net.clock.advance(1)
        (answer,) = net.received()
    # Filed at the line-up, 70 s after START (2001-09-09 01:46:40Z): Julian day 252, 0147.
    assert zfr.payload == (
        b"VZCZCHFR0003\nRR RUEHFR\nDE RUEHWEB 2520147\nZNR UUUUU\nBT\nUNCLAS SVC ZFR HFR0002\nBT\nNNNN\n"
    )
    assert [r.transmission_id for r in readings] == ["HFR0003", "HFR0004"]
    assert [r.report for r in readings] == [None, None], "no open number: HFR0002 is cancelled"
    assert readings[1].cable is not None
    assert readings[1].cable.message_id == "RUEHRO-0002-0011200"
    assert read_copy(answer.payload).transmission_id == "HFR0005"
    assert read_copy(answer.payload).cancels == [("HFR", 2)]
    sent = [read_copy(m.payload).transmission_id for m in (zfr, again, answer)]
    assert "HFR0002" not in sent
    assert net.transmissions() == [(1, "first", "delivered"), (2, "first", "cut"), (4, "outage", "delivered")]
    with queries.read_only(net.journal.path) as db:
        services = db.execute("SELECT serial, cause, text FROM services ORDER BY id").fetchall()
    assert services == [(3, "zfr", "ZFR HFR0002"), (5, "zfr", "ZFR HFR0002")]
    assert net.journal.last_serials() == {"RUEHFR": 5}, "a restart numbers on after the service message"


async def test_a_transmission_cut_by_a_stop_of_the_router_is_cancelled_by_zfr_at_the_restart(
    tmp_path: Path,
) -> None:
    """Stopped mid-transmission, the router cancels HFR0001 by ZFR at its restart, first (§424d)."""
    broker = MemoryBroker()
    clock = ManualClock(START)
    path = tmp_path / "journal.sqlite"
    table = parse_table(TABLE)
    publisher, paris = broker.connect(), broker.connect()
    await paris.subscribe("cables/out/RUEHFR")
    async with running(broker.connect(), Journal(path, clock=clock.now), table, clock=clock):
        await publisher.publish("cables/in/rome", cable(1, text=1000))
        await settle()
        await clock.advance(10)  # HFR0001 is on the line when the router stops
    async with running(broker.connect(), Journal(path, clock=clock.now), table, clock=clock):
        await settle()
        await clock.advance(300)
        station = PostStation("RUEHFR")
        readings = [station.read(paris.queue.get_nowait().payload) for _ in range(paris.queue.qsize())]
    assert [(r.transmission_id, r.service) for r in readings] == [
        ("HFR0002", "UNCLAS SVC ZFR HFR0001"),
        ("HFR0003", None),
    ]
    assert [r.report for r in readings] == [None, None], "HFR0001 cancelled, not open"
    assert readings[1].cable is not None
    assert readings[1].cable.message_id == "RUEHRO-0001-0011200"


async def test_an_outage_holds_traffic_and_releases_it_in_precedence_order(tmp_path: Path) -> None:
    """Down: nothing goes to Paris. Up: FLASH, IMMEDIATE, then the ROUTINE queued first."""
    async with network(tmp_path) as net:
        await net.publisher.publish("router/line/RUEHFR", b"down")
        await net.publish(cable(1, "R"), cable(2, "O"), cable(3, "Z"))
        await net.clock.advance(3600)
        assert net.received() == []
        assert net.router.depths()["RUEHFR"]["up"] is False
        await net.publisher.publish("router/line/RUEHFR", b"up")
        await settle()
        await net.clock.advance(300)
        seen = [message_id for _, message_id in copies(net.received())]
    assert seen == ["RUEHRO-0003-0011200", "RUEHRO-0002-0011200", "RUEHRO-0001-0011200"]
    assert [event["post"] for event in net.events("line-down")] == ["RUEHFR"]


async def test_an_unacknowledged_flash_goes_again_and_the_post_files_the_second_copy(tmp_path: Path) -> None:
    """No receipt within the timeout: the FLASH is sent again; the late receipts file a duplicate."""
    async with network(tmp_path, ack_timeout=120) as net:
        await net.publish(cable(1, "Z"))
        await net.clock.advance(60)
        (first,) = net.received()
        await net.clock.advance(121)
        await net.clock.advance(60)
        (second,) = net.received()
        for message in (first, second):
            await net.publisher.publish("cables/ack/RUEHFR", receipt_for(message))
        await settle()
    assert opened(second)[1].message_id == opened(first)[1].message_id
    assert [transmission[:2] for transmission in net.transmissions()] == [(1, "first"), (2, "ack-timeout")]
    assert [event["cause"] for event in net.events("retransmitted")] == ["ack-timeout"]
    assert len(net.events("acknowledged")) == 1
    assert len(net.events("duplicate-filed")) == 1


async def test_a_routine_copy_waits_longer_for_its_receipt_than_a_niact(tmp_path: Path) -> None:
    """FLASH, ECP and NIACT wait `ack_timeout` for a receipt, any other copy the longer `receipt_timeout`."""
    limits = Limits(receipt_timeout=1000, max_resends=10)
    async with network(tmp_path, ack_timeout=120, limits=limits) as net:
        await net.publish(cable(1, "R"), cable(2, "O", niact=True))
        await net.clock.advance(200)
        assert len(net.received()) == 3, "ROUTINE once, the NIACT IMMEDIATE twice"
        await net.clock.advance(120)
        assert len(net.received()) == 1, "and again at each timeout until it is receipted"
        await net.clock.advance(800)
        assert {read_copy(m.payload).suspect for m in net.received()} == {True}
    retransmitted = [event["delivery"] for event in net.events("retransmitted")]
    assert retransmitted.count(1) == 1, "the ROUTINE went again once its own timeout had passed"


async def test_a_backlog_held_in_the_journal_comes_out_in_precedence_order(tmp_path: Path) -> None:
    """Forty cables behind a down line held 4 at a time: released FLASH first, then by arrival."""
    async with network(tmp_path, ack_timeout=100_000, limits=Limits(receipt_timeout=100_000)) as net:
        await net.publisher.publish("router/line/RUEHFR", b"down")
        await net.publish(cable(1))
        paris = net.router.lines["RUEHFR"]
        paris.held, paris.window = 4, 100  # a small memory; a window no receipt is needed for
        precedences = ["R", "O", "P", "Z"] * 10
        await net.publish(*(cable(n, p) for n, p in enumerate(precedences, start=2)))
        assert len(paris.waiting) <= 4
        await net.publisher.publish("router/line/RUEHFR", b"up")
        await settle()
        for _ in range(20):
            await net.clock.advance(60)
        received = net.received()
        seen = [opened(message)[1] for message in received]
    assert len(seen) == 41
    order = [cable.precedence.value for cable in seen if cable.precedence]
    assert order == ["FLASH"] * 10 + ["IMMEDIATE"] * 10 + ["PRIORITY"] * 10 + ["ROUTINE"] * 11
    assert len(net.transmissions()) == 41, "each went once"
    routine = [
        int(cable.message_id[7:11])
        for cable in seen
        if cable.precedence and cable.precedence.value == "ROUTINE"
    ]
    assert routine == sorted(routine), "first come, first served within a precedence"


async def test_a_backlog_left_at_a_stop_goes_out_after_the_restart_best_first(tmp_path: Path) -> None:
    """Twelve cables behind a down line, the router stopped: the next one sends them, FLASH first."""
    broker = MemoryBroker()
    clock = ManualClock(START)
    path = tmp_path / "journal.sqlite"
    table = parse_table(TABLE)
    publisher, paris = broker.connect(), broker.connect()
    await paris.subscribe("cables/out/RUEHFR")
    async with running(broker.connect(), Journal(path, clock=clock.now), table, clock=clock):
        await publisher.publish("router/line/RUEHFR", b"down")
        for number, precedence in enumerate(["R", "P", "O", "Z"] * 3, start=1):
            await publisher.publish("cables/in/rome", cable(number, precedence))
        await settle()
    restarted = Journal(path, clock=clock.now)
    assert restarted.backlog() == {
        ("RUEHFR", precedence): 3
        for precedence in (Precedence.ROUTINE, Precedence.PRIORITY, Precedence.IMMEDIATE, Precedence.FLASH)
    }
    async with running(broker.connect(), restarted, table, clock=clock, ack_timeout=100_000):
        await settle()
        for _ in range(10):
            await clock.advance(60)
        copies = []
        while not paris.queue.empty():
            copies.append(opened(paris.queue.get_nowait())[1])
    # Paris's window is 10 copies unreceipted: the ten best go.
    assert [c.precedence.value for c in copies if c.precedence] == (
        ["FLASH"] * 3 + ["IMMEDIATE"] * 3 + ["PRIORITY"] * 3 + ["ROUTINE"]
    )
    assert [c.message_id[7:11] for c in copies][:3] == ["0004", "0008", "0012"]


async def test_a_post_gets_a_message_again_on_request_under_a_new_serial(tmp_path: Path) -> None:
    """Asked for RUEHRO-0001 again, the router sends it under HFR0002 (cause request); a wrong id, nothing.

    The retransmission answers a tracer: a duplicate with ZFG in FL5, which the post delivers though
    it holds the message (§438b): the person who asked for it sees it.
    """
    async with network(tmp_path) as net:
        station = PostStation("RUEHFR")
        await net.publish(cable(1))
        await net.clock.advance(60)
        received = net.received()
        first = copies(received)
        station.read(received[0].payload)
        await net.publisher.publish("router/retransmit/RUEHFR", b"RUEHRO-0001-0011200")
        await net.publisher.publish("router/retransmit/RUEHFR", b"RUEHRO-9999-0011200")
        await settle()
        await net.clock.advance(60)
        received = net.received()
        again = copies(received)
        shown = station.read(received[0].payload)
    assert first == [("HFR0001", "RUEHRO-0001-0011200")]
    assert again == [("HFR0002", "RUEHRO-0001-0011200")]
    assert b"\nR 011200Z JAN 09 ZFG\n" in received[0].payload
    assert read_copy(received[0].payload).tracer
    assert shown.cable is not None, "a message bearing ZFG is always delivered"
    assert (shown.duplicate, shown.cable.message_id) == (False, "RUEHRO-0001-0011200")
    assert net.transmissions() == [(1, "first", "delivered"), (2, "request", "delivered")]
    (refused,) = net.events("bad-retransmit-request")
    assert refused == {
        "event": "bad-retransmit-request",
        "post": "RUEHFR",
        "message_id": "RUEHRO-9999-0011200",
    }


async def test_a_cable_without_fl3_is_retransmitted_by_the_identification_the_switch_gave(
    tmp_path: Path,
) -> None:
    """An ACP 126 cable goes as ``DE RUEHWEB #0001 …`` (§116); that id is journalled and answers a tracer."""
    acp126 = (
        b"R 011200Z JAN 09\nFM AMEMBASSY ROME\nTO AMEMBASSY PARIS\n\nUNCLAS ROME 000001\n\nSUBJECT: OLD\n"
    )
    async with network(tmp_path) as net:
        await net.publish(acp126)
        await net.clock.advance(60)
        (copy,) = net.received()
        wire = read_copy(copy.payload)
        assert wire.message_id is not None
        await net.publisher.publish("router/retransmit/RUEHFR", wire.message_id.encode())
        await settle()
        await net.clock.advance(60)
        (again,) = net.received()
    assert wire.message_id == "RUEHWEB-0001-2520146", "journal id 1, filed 2001-09-09 01:46Z"
    assert copy.payload.startswith(b"VZCZCHFR0001\nRR RUEHFR\nDE RUEHWEB #0001 2520146\nZNR UUUUU\nR 011200Z")
    assert copy.payload.endswith(b"SUBJECT: OLD\nBT\nNNNN\n")
    assert read_copy(again.payload).message_id == wire.message_id
    assert read_copy(again.payload).tracer
    with queries.read_only(net.journal.path) as db:
        assert queries.cable_ids(db, wire.message_id) == [1]


async def test_an_exact_duplicate_is_filed_and_the_station_it_came_from_is_told(tmp_path: Path) -> None:
    """§428a: Rome's cable again, unpiloted: filed, not sent twice, and a service message goes to Rome."""
    async with network(tmp_path) as net:
        rome = net.publisher  # the same broker: Rome listens on its own channel
        await rome.subscribe("cables/out/RUEHRO")
        await net.publish(cable(1), cable(1))
        await net.clock.advance(60)
        paris = copies(net.received())
        (notice,) = [message for message in net.received_by(rome) if message.topic == "cables/out/RUEHRO"]
    assert paris == [("HFR0001", "RUEHRO-0001-0011200")], "filed, not delivered twice"
    read = read_copy(notice.payload)
    assert (read.transmission_id, read.service) == (
        "HRO0001",
        "UNCLAS SVC RUEHRO 0001 0011200 EXACT DUPLICATE RECEIVED AND FILED",
    )
    assert notice.payload.endswith(b"\nBT\nNNNN\n")
    (reported,) = net.events("duplicate-reported")
    assert (reported["station"], reported["message_id"]) == ("RUEHRO", "RUEHRO-0001-0011200")
    assert len(net.events("duplicate")) == 1


async def test_a_post_s_duplicate_notice_is_logged_by_the_switch(tmp_path: Path) -> None:
    """§428a-b: a post tells of an exact duplicate it filed; the switch logs it for its operator."""
    async with network(tmp_path) as net:
        notice = duplicate_report("RUEHFR", "HFR0002 RUEHRO 0001 0011200 EXACT DUPLICATE RECEIVED AND FILED")
        await net.publisher.publish("cables/svc/RUEHFR", notice)
        await settle()
    (notified,) = net.events("duplicate-notified")
    assert notified["text"] == "HFR0002 RUEHRO 0001 0011200 EXACT DUPLICATE RECEIVED AND FILED"
    assert net.events("gap") == [], "not a gap report"


def test_a_duplicate_of_a_message_without_fl3_names_no_station() -> None:
    """No FL3, no station to tell (§428a needs one); a ZFD pilot marks a suspected duplicate (§427a)."""
    assert (
        duplicate_notice("RUEHRO-0877/01-3130915")
        == "RUEHRO 0877/01 3130915 EXACT DUPLICATE RECEIVED AND FILED"
    )
    assert duplicate_notice("X-9C1BE56B0A74F9422B23") is None
    assert duplicate_notice("RUEHWEB-0042-3381630", "HFR0007") == (
        "HFR0007 RUEHWEB 0042 3381630 EXACT DUPLICATE RECEIVED AND FILED"
    ), "a post quotes the transmission and the switch's identification"
    assert suspected_duplicate(b"VZCZCXYZ0001\nRR RUEHWEB\nZFD RUEHRO\nDE RUEHRO #0001 0011200\n")
    assert not suspected_duplicate(cable(1))


def given_up(net: Network) -> list[tuple[str, str, str]]:
    """(post, reason, the delivery's state) of each copy the switch gave up on."""
    with queries.read_only(net.journal.path) as db:
        rows = db.execute(
            "SELECT i.post, i.reason, d.state FROM intercepts i"
            " JOIN deliveries d ON d.cable_id = i.cable_id AND d.post = i.post ORDER BY i.id"
        ).fetchall()
    return [(str(post), str(reason), str(state)) for post, reason, state in rows]


async def test_a_copy_lost_while_the_post_is_away_goes_again_with_zfd_then_to_intercept(
    tmp_path: Path,
) -> None:
    """Never receipted: sent again with ZFD `max_resends` times, then intercepted, an alarm logged."""
    limits = Limits(receipt_timeout=100, max_resends=2)
    async with network(tmp_path, limits=limits) as net:
        await net.publish(cable(1, "R"))
        for _ in range(12):
            await net.clock.advance(60)
        sent = [read_copy(message.payload) for message in net.received()]
    assert [copy.suspect for copy in sent] == [False, True, True]
    assert [cause for _, cause, _ in net.transmissions()] == ["first", "ack-timeout", "ack-timeout"]
    assert given_up(net) == [("RUEHFR", "no-receipt", "intercepted")]
    (alarm,) = net.events("alarm")
    assert (alarm["alarm"], alarm["post"], alarm["sent"]) == ("no-receipt", "RUEHFR", 3)
    assert list(net.journal.open_deliveries()) == [], "a restart does not send it again"


async def test_a_receipt_for_a_copy_given_up_on_is_logged_as_late(tmp_path: Path) -> None:
    """A receipt for a copy the switch intercepted already: a `late-receipt`, not a filed duplicate."""
    async with network(tmp_path, limits=Limits(receipt_timeout=100, max_resends=0)) as net:
        await net.publish(cable(1, "R"))
        await net.clock.advance(60)
        (copy,) = net.received()
        await net.clock.advance(120)
        await net.publisher.publish("cables/ack/RUEHFR", receipt_for(copy))
        await settle()
    assert [event["delivery"] for event in net.events("late-receipt")] == [1]
    assert net.events("duplicate-filed") == []


async def test_a_line_whose_window_is_full_of_lost_copies_goes_on(tmp_path: Path) -> None:
    """A window of one holding a copy the post never saw: the next goes after its timeout, then its resend."""
    limits = Limits(receipt_timeout=100, max_resends=1)
    async with network(tmp_path, limits=limits) as net:
        await net.publish(cable(1, "R"))
        net.router.lines["RUEHFR"].window = 1
        await net.publish(cable(2, "R"))
        for _ in range(10):  # four copies of some 230 line characters, two receipt timeouts
            await net.clock.advance(60)
        seen = [(copy.suspect, copy.cable) for copy in map(read_copy, (m.payload for m in net.received()))]
    # The resend queues behind the ROUTINE already waiting: with the window freed, that goes first.
    assert [(suspect, b"CABLE 2" in text) for suspect, text in seen] == [
        (False, False),
        (False, True),
        (True, False),
        (True, True),
    ]
    assert given_up(net) == [("RUEHFR", "no-receipt", "intercepted")] * 2


async def test_a_line_back_up_sends_its_unreceipted_copies_again_as_suspect(tmp_path: Path) -> None:
    """Copies sent before an outage and not receipted go again with ZFD when the line is back."""
    async with network(tmp_path) as net:
        await net.publish(cable(1, "R"))
        await net.clock.advance(60)
        (before,) = net.received()
        await net.publisher.publish("router/line/RUEHFR", b"down")
        await net.publisher.publish("router/line/RUEHFR", b"up")
        await settle()
        await net.clock.advance(60)
        (after,) = net.received()
    assert (read_copy(before.payload).suspect, read_copy(after.payload).suspect) == (False, True)
    assert opened(after)[1].message_id == opened(before)[1].message_id
    assert [cause for _, cause, _ in net.transmissions()] == ["first", "line-up"]
    assert net.router.lines["RUEHFR"].in_flight.keys() == {1}


async def test_a_forged_zfx_asking_for_thousands_of_serials_is_answered_for_a_few(tmp_path: Path) -> None:
    """One ZFX naming 4,000 serials (one of them 2,000 times) costs at most `max_gap_serials` answers."""
    async with network(tmp_path, limits=Limits(max_gap_serials=4)) as net:
        await net.publish(cable(1, "R"))
        await net.clock.advance(60)
        net.received()
        forged = zfx("RUEHFR", ["HFR0001"] * 2000 + [f"HFR{n:04d}" for n in range(2, 2002)])
        await net.publisher.publish("cables/svc/RUEHFR", forged)
        await settle()
        await net.clock.advance(60)
        assert len(net.received()) == 1, "serial 0001 once; the others carried nothing"
    (gap,) = net.events("gap")
    assert gap["serials"] == ["HFR0001", "HFR0002", "HFR0003", "HFR0004"]
    (truncated,) = net.events("gap-truncated")
    assert (truncated["reported"], truncated["answered"]) == (2001, 4)


async def test_gap_reports_and_retransmit_requests_are_rate_limited_per_post(tmp_path: Path) -> None:
    """Past its burst a post's requests are refused and logged until the bucket refills in network time."""
    async with network(tmp_path, limits=Limits(requests_burst=3, requests_per_minute=1)) as net:
        for _ in range(5):
            await net.publisher.publish("router/retransmit/RUEHFR", b"RUEHRO-0009-0011200")
        await settle()
        assert len(net.events("bad-retransmit-request")) == 3
        assert len(net.events("rate-limited")) == 2
        await net.clock.advance(60)
        await net.publisher.publish("cables/svc/RUEHFR", zfx("RUEHFR", ["HFR0009"]))
        await settle()
    assert len(net.events("gap")) == 1
