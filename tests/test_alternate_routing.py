"""Alternative routing when a line is down (ACP 127 §307-309), on the in-memory bus and a hand-driven clock.

Paris names Rome as its alternate route: once Paris's line has been down `divert_after`, its FLASH
and IMMEDIATE traffic goes by Rome's line, FL2 still calling Paris, and Rome takes it for relay;
its PRIORITY and ROUTINE wait for Paris's line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from router.journal import queries
from router.network.channel import read_copy
from router.readout.trace import read_trace, render_trace
from router.sim.post import PostStation
from tests.wire import DIVERT_AFTER, cable, called, network

if TYPE_CHECKING:
    from pathlib import Path


async def test_flash_and_immediate_go_by_the_alternate_after_the_line_is_down_long_enough(
    tmp_path: Path,
) -> None:
    """§307: after 300 s down, Paris's FLASH and IMMEDIATE go by Rome's line calling RUEHFR; P and R wait."""
    async with network(tmp_path) as net:
        await net.send("router/line/RUEHFR", b"down")
        for serial, precedence in enumerate("ROPZ", start=1):
            await net.send("cables/in/dept", cable(serial, precedence))
        await net.clock.advance(DIVERT_AFTER - 1)
        assert net.received("RUEHRO") == [], "not yet an extended outage"
        await net.clock.advance(1)
        round_ = [called(m) for m in net.received("RUEHRO")]
        await net.send("cables/in/dept", cable(5, "O"))  # an IMMEDIATE after: straight round
        await net.clock.advance(1)
        later = [called(m) for m in net.received("RUEHRO")]
        await net.send("cables/in/dept", cable(6, "P"))  # a PRIORITY after: waits
        await net.clock.advance(1)
        assert net.received("RUEHRO") == []
        assert net.received("RUEHFR") == []
    # §308c: no pilot; FL2 calls the station to deliver to, under Rome's channel and serials.
    assert round_ == [("HRO0001", "ZZ", ("RUEHFR",)), ("HRO0002", "OO", ("RUEHFR",))]
    assert later == [("HRO0003", "OO", ("RUEHFR",))]
    assert [(e["post"], e["usable"]) for e in net.events("alternate-route")] == [("RUEHFR", True)]
    assert [(e["post"], e["via"]) for e in net.events("diverted")] == [("RUEHFR", "RUEHRO")] * 3


async def test_the_alternate_receipts_for_relay_and_the_line_back_sends_only_what_waited(
    tmp_path: Path,
) -> None:
    """Rome receipts the diverted FLASH for relay; Paris back up gets the ROUTINE only, and §309 is logged."""
    async with network(tmp_path) as net:
        rome, paris = PostStation("RUEHRO"), PostStation("RUEHFR")
        await net.send("router/line/RUEHFR", b"down")
        await net.send("cables/in/dept", cable(1, "R"))
        await net.send("cables/in/dept", cable(2, "Z"))
        await net.clock.advance(DIVERT_AFTER)
        (diverted,) = net.received("RUEHRO")
        reading = rome.read(diverted.payload)
        assert reading.receipt is not None
        await net.send("cables/ack/RUEHRO", reading.receipt)
        await net.send("router/line/RUEHFR", b"up")
        await net.clock.advance(1)
        at_paris = [paris.read(m.payload) for m in net.received("RUEHFR")]
    assert (reading.relayed_for, reading.cable, reading.receipt) == ("RUEHFR", None, b"R Z HRO0001")
    assert "RUEHC-0002-0011200" not in rome.held, "Rome holds no message of its own"
    assert [r.cable.message_id for r in at_paris if r.cable] == ["RUEHC-0001-0011200"]
    with queries.read_only(net.journal.path) as db:
        states = db.execute("SELECT post, precedence, state FROM deliveries ORDER BY id").fetchall()
    assert states == [("RUEHFR", "ROUTINE", "delivered"), ("RUEHFR", "FLASH", "acknowledged")]
    assert [(e["post"], e["via"]) for e in net.events("alternate-route-ended")] == [("RUEHFR", "RUEHRO")]


async def test_the_journal_and_trace_show_the_diversion(tmp_path: Path) -> None:
    """`router trace` lists the FLASH's transmission on Rome's line under Paris's copy, cause alternate."""
    async with network(tmp_path) as net:
        await net.send("router/line/RUEHFR", b"down")
        await net.send("cables/in/dept", cable(1, "Z"))
        await net.clock.advance(DIVERT_AFTER)
        net.received("RUEHRO")
    (trace,) = read_trace(net.journal.path, "RUEHC-0001-0011200")
    (copy,) = trace.copies
    (sent,) = copy.transmissions
    assert (copy.post, sent.transmission, sent.cause, sent.outcome, sent.via) == (
        "RUEHFR",
        "HRO0001",
        "alternate",
        "delivered",
        "RUEHRO",
    )
    assert "HRO0001  alternate   delivered" in render_trace([trace])
    assert "by RUEHRO's line (alternative route)" in render_trace([trace])


async def test_no_alternate_or_the_alternate_down_means_the_traffic_waits(tmp_path: Path) -> None:
    """London names no alternate, and Paris's is down too: their FLASH waits for their own lines."""
    async with network(tmp_path) as net:
        await net.send("router/line/RUEHLO", b"down")
        await net.send("router/line/RUEHFR", b"down")
        await net.send("router/line/RUEHRO", b"down")
        await net.send("cables/in/dept", cable(1, "Z", to="AMEMBASSY LONDON"))
        await net.send("cables/in/dept", cable(2, "Z"))
        await net.clock.advance(3 * DIVERT_AFTER)
        assert [net.received(ri) for ri in ("RUEHFR", "RUEHRO", "RUEHLO")] == [[], [], []]
        await net.send("router/line/RUEHLO", b"up")
        await net.send("router/line/RUEHFR", b"up")
        await net.clock.advance(1)
        assert [called(m)[0] for m in net.received("RUEHLO")] == ["HLO0001"]
        assert [called(m)[0] for m in net.received("RUEHFR")] == ["HFR0001"]
    assert net.events("diverted") == []
    assert [(e["post"], e["usable"]) for e in net.events("alternate-route")] == [("RUEHFR", False)]


async def test_a_copy_gone_round_and_never_receipted_goes_again_that_way_then_to_intercept(
    tmp_path: Path,
) -> None:
    """No receipt from Rome: the FLASH goes again by Rome's line with ZFD (§427), then intercepted."""
    async with network(tmp_path, max_resends=1) as net:
        await net.send("router/line/RUEHFR", b"down")
        await net.send("cables/in/dept", cable(1, "Z"))
        await net.clock.advance(DIVERT_AFTER)
        first = [called(m) for m in net.received("RUEHRO")]
        await net.clock.advance(300)  # the FLASH's receipt timeout
        (again,) = net.received("RUEHRO")
        await net.clock.advance(300)
        assert net.received("RUEHRO") == []
    assert first == [("HRO0001", "ZZ", ("RUEHFR",))]
    assert called(again) == ("HRO0002", "ZZ", ("RUEHFR",))
    assert read_copy(again.payload).suspect
    with queries.read_only(net.journal.path) as db:
        intercepts = db.execute("SELECT addressee, reason, post FROM intercepts").fetchall()
    assert intercepts == [("RUEHFR", "no-receipt", "RUEHFR")]
