"""Channel housekeeping on the wire (ACP 127 §412-§432): number comparisons and discrepancies."""

from __future__ import annotations

from typing import TYPE_CHECKING

from router.network.channel import read_copy
from router.sim.post import PostStation
from tests.wire import cable, network

if TYPE_CHECKING:
    from pathlib import Path

HALF_AN_HOUR = 30 * 60.0
PATIENT = 10 * HALF_AN_HOUR
"""Copies not receipted in these tests are not sent again meanwhile (with ZFD) for want of a receipt."""


async def test_a_channel_silent_for_30_minutes_is_checked_by_a_priority_zid_and_answered_zic(
    tmp_path: Path,
) -> None:
    """§412b-c: 30 minutes after HFR0001, ``PP`` ZID HFR0001 goes under HFR0002; Paris answers ZIC HFR0001."""
    async with network(tmp_path, receipt_timeout=PATIENT) as net:
        paris = PostStation("RUEHFR")
        await net.send("cables/in/dept", cable(1, "R"))
        await net.clock.advance(1)
        (first,) = net.received("RUEHFR")
        paris.read(first.payload)
        await net.clock.advance(HALF_AN_HOUR - 2)
        assert net.received("RUEHFR") == [], "29 minutes 59 seconds: not yet"
        await net.clock.advance(1)
        (check,) = net.received("RUEHFR")
        reading = paris.read(check.payload)
        assert reading.notice is not None
        await net.send("cables/svc/RUEHFR", reading.notice)
        await net.clock.advance(HALF_AN_HOUR)
        (again,) = net.received("RUEHFR")
    assert check.payload.split(b"\n")[:2] == [b"VZCZCHFR0002", b"PP RUEHFR"]
    assert (reading.service, reading.report) == ("UNCLAS SVC ZID HFR0001", None)
    assert reading.notice == b"PP RUEHWEB\nDE RUEHFR\nZNR UUUUU\nZIC HFR0001\nNNNN\n"
    assert net.events("channel-check") == [
        {"event": "channel-check", "post": "RUEHFR", "sent": "HFR0001", "received": "HFR0001", "agreed": True}
    ]
    assert read_copy(again.payload).service == "UNCLAS SVC ZID HFR0002", "the ZID was the last number sent"


async def test_a_post_whose_last_number_differs_reports_the_gap_and_the_switch_logs_it(
    tmp_path: Path,
) -> None:
    """§412d, §433: Paris missed HFR0002; the ZID under HFR0003 brings ZFX HFR0002 and ZIC HFR0001."""
    async with network(tmp_path, receipt_timeout=PATIENT) as net:
        paris = PostStation("RUEHFR")
        await net.send("cables/in/dept", cable(1, "R"))
        await net.send("cables/in/dept", cable(2, "R"))
        await net.clock.advance(1)
        first, _lost = net.received("RUEHFR")
        paris.read(first.payload)
        await net.clock.advance(HALF_AN_HOUR)
        (check,) = net.received("RUEHFR")
        reading = paris.read(check.payload)
        assert reading.report is not None
        assert reading.notice is not None
        await net.send("cables/svc/RUEHFR", reading.notice)
        await net.send("cables/svc/RUEHFR", reading.report)
        await net.clock.advance(1)
        (resent,) = net.received("RUEHFR")
        resent_reading = paris.read(resent.payload)
    assert reading.service == "UNCLAS SVC ZID HFR0002"
    assert b"ZFX HFR0002" in reading.report
    assert b"ZIC HFR0001" in reading.notice
    assert net.events("channel-check") == [
        {
            "event": "channel-check",
            "post": "RUEHFR",
            "sent": "HFR0002",
            "received": "HFR0001",
            "agreed": False,
        }
    ]
    assert resent_reading.transmission_id == "HFR0004"
    assert resent_reading.cable is not None
    assert resent_reading.cable.message_id == "RUEHC-0002-0011200"


async def test_no_channel_check_on_a_line_that_is_down_or_busy(tmp_path: Path) -> None:
    """A line down for an hour gets no ZID while down; traffic within the half hour puts the check off."""
    async with network(tmp_path, receipt_timeout=PATIENT) as net:
        await net.send("cables/in/dept", cable(1, "R", to="AMEMBASSY LONDON"))
        await net.send("cables/in/dept", cable(2, "R"))
        await net.clock.advance(1)
        net.received("RUEHLO")
        net.received("RUEHFR")
        await net.send("router/line/RUEHLO", b"down")
        await net.clock.advance(HALF_AN_HOUR - 100)
        await net.send("cables/in/dept", cable(3, "R"))  # Paris's channel carries traffic again
        await net.clock.advance(200)
        assert [read_copy(m.payload).service for m in net.received("RUEHFR")] == [None]
        assert net.received("RUEHLO") == []
        await net.clock.advance(HALF_AN_HOUR)
        paris = [read_copy(m.payload).service for m in net.received("RUEHFR")]
        assert net.received("RUEHLO") == [], "London is still down"
    assert paris == ["UNCLAS SVC ZID HFR0002"]
