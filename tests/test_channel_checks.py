"""Channel housekeeping on the wire (ACP 127 §412-§432): number comparisons and discrepancies."""

from __future__ import annotations

from typing import TYPE_CHECKING

from router.network.channel import post_service, read_copy, service_message, single_call
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


DAY = 86_400.0
MIDNIGHT = 80_000.0
"""From START (2001-09-09 01:46:40Z) to the next midnight UTC of the network's clock."""


async def test_numbers_start_again_at_midnight_and_the_post_compares_the_day_s_last(tmp_path: Path) -> None:
    """§413: the first copy after 0000Z goes under HFR0001; Paris reports ZID HFR0003 AWAITING ZDK HFR0002."""
    async with network(tmp_path, receipt_timeout=10 * DAY, channel_check_after=10 * DAY) as net:
        paris = PostStation("RUEHFR")
        for serial in (1, 2, 3):
            await net.send("cables/in/dept", cable(serial, "R"))
        await net.clock.advance(1)
        first, _lost, third = net.received("RUEHFR")
        assert paris.read(first.payload).summary is None
        assert paris.read(third.payload).report is not None, "HFR0002 open"
        await net.clock.advance(MIDNIGHT)
        await net.send("cables/in/dept", cable(4, "R"))
        await net.clock.advance(1)
        (new_day,) = net.received("RUEHFR")
        reading = paris.read(new_day.payload)
        assert reading.summary is not None
        await net.send("cables/svc/RUEHFR", reading.summary)
    assert reading.transmission_id == "HFR0001"
    assert reading.cable is not None, "a new series, not a repeat of yesterday's HFR0001"
    assert reading.summary == b"RR RUEHWEB\nDE RUEHFR\nZNR UUUUU\nZID HFR0003 AWAITING ZDK HFR0002\nNNNN\n"
    assert net.events("end-of-day") == [
        {
            "event": "end-of-day",
            "post": "RUEHFR",
            "sent": "HFR0003",
            "received": "HFR0003",
            "agreed": True,
            "awaiting": ["HFR0002"],
        }
    ]


def copy_of(serial: int, tid: str) -> bytes:
    """Cable ``serial`` as Paris's copy under ``tid``."""
    return single_call(cable(serial, "R"), tid, "RUEHFR", "RR")


def test_two_messages_under_one_number_are_both_released_and_reported_zfq() -> None:
    """§429: a second, different message under HFR0005 is shown, and ZFQ names both and the number."""
    paris = PostStation("RUEHFR")
    first = paris.read(copy_of(1, "HFR0005"))
    second = paris.read(copy_of(2, "HFR0005"))
    again = paris.read(copy_of(2, "HFR0005"))
    assert first.cable is not None
    assert second.cable is not None
    assert second.cable.message_id == "RUEHC-0002-0011200"
    assert second.notice == b"RR RUEHWEB\nDE RUEHFR\nZNR UUUUU\nZFQ RUEHC 0001 RUEHC 0002 HFR0005\nNNNN\n"
    assert (again.cable, again.duplicate, again.notice) == (None, True, None), "the same one again: filed"


def test_a_day_s_first_message_after_days_of_channel_checks_alone_is_shown() -> None:
    """§413a: each day's numbers begin at 0001, and on a quiet line a day's 0001 may be a channel check.

    HFR0001 carried a ZID (§412b) on each of two days; the third day's first message, HFR0001
    again, repeats no message: it is shown and receipted, not filed as a duplicate.
    """
    day = 86_400.0
    paris = PostStation("RUEHFR")
    paris.read(copy_of(1, "HFR0007"))
    for when in (day, 2 * day):
        paris.read(service_message("HFR0001", "RUEHFR", "ZID HFR0007", when, prosign="PP"))
    reading = paris.read(copy_of(2, "HFR0001"))
    assert reading.cable is not None
    assert reading.cable.message_id == "RUEHC-0002-0011200"
    assert (reading.duplicate, reading.notice) == (False, None)
    assert reading.receipt is not None
    again = paris.read(copy_of(2, "HFR0001"))
    assert (again.cable, again.duplicate) == (None, True), "the same copy again: filed"


def test_one_message_under_two_numbers_is_recorded_under_the_lower_and_reported_zfu() -> None:
    """§430: HFR0007 and HFR0008 before one message: shown as HFR0007, HFR0008 blanked, ZFU sent."""
    paris = PostStation("RUEHFR")
    paris.read(copy_of(1, "HFR0006"))
    twice = copy_of(2, "HFR0007").replace(b"VZCZCHFR0007\n", b"VZCZCHFR0007\nVZCZCHFR0008\n", 1)
    reading = paris.read(twice)
    after = paris.read(copy_of(3, "HFR0009"))
    assert reading.cable is not None
    assert (reading.transmission_id, reading.report) == ("HFR0007", None)
    assert (
        reading.notice == b"RR RUEHWEB\nDE RUEHFR\nZNR UUUUU\nZFU HFR0007 HFR0008 RUEHC 0002 0011200\nNNNN\n"
    )
    assert after.report is None, "HFR0008 is accounted for (number only), not open"


def test_a_message_without_a_number_is_released_and_reported_zft() -> None:
    """§432: a message whose FL2 comes first is shown, with ZFT naming it and HFR0004, which it followed."""
    paris = PostStation("RUEHFR")
    paris.read(copy_of(1, "HFR0004"))
    unnumbered = copy_of(2, "HFR0005").split(b"\n", 1)[1]
    reading = paris.read(unnumbered)
    after = paris.read(copy_of(3, "HFR0005"))
    assert reading.cable is not None
    assert (reading.transmission_id, reading.receipt) == (None, None)
    assert reading.notice == b"RR RUEHWEB\nDE RUEHFR\nZNR UUUUU\nZFT RUEHC 0002 0011200 HFR0004\nNNNN\n"
    assert after.report is None


async def test_the_switch_logs_discrepancies_and_resends_what_went_under_a_blanked_number(
    tmp_path: Path,
) -> None:
    """ZFQ and ZFU are logged (§429b, §430c); the copy sent under ZFU's blanked HFR0002 goes again (§430d)."""
    async with network(tmp_path, receipt_timeout=PATIENT) as net:
        await net.send("cables/in/dept", cable(1, "R"))
        await net.send("cables/in/dept", cable(2, "R"))
        await net.clock.advance(1)
        net.received("RUEHFR")
        for text in ("ZFQ RUEHC 0001 RUEHC 0002 HFR0001", "ZFU HFR0001 HFR0002 RUEHC 0001 0011200"):
            await net.send("cables/svc/RUEHFR", post_service("RUEHFR", text))
        await net.clock.advance(1)
        (resent,) = net.received("RUEHFR")
    assert [(e["signal"], e["text"]) for e in net.events("discrepancy")] == [
        ("ZFQ", "RUEHC 0001 RUEHC 0002 HFR0001"),
        ("ZFU", "HFR0001 HFR0002 RUEHC 0001 0011200"),
    ]
    assert net.events("gap") == [], "not taken for a ZFX"
    assert read_copy(resent.payload).transmission_id == "HFR0003"
    assert b"SUBJECT: CABLE 2" in resent.payload


def state_cable(station: str, ssn: int, to: str) -> bytes:
    """A cable of ``station`` to Paris, its TO line ``to`` (where the MCN stands)."""
    return (
        f"VZCZCXYZ{ssn:04d}\nRR RUEHWEB\nDE {station} #{ssn:04d} 0011200\nZNR UUUUU\n"
        f"R 011200Z JAN 09\nFM SECSTATE WASHDC\nTO {to}\nBT\nUNCLAS STATE {ssn:06d}\n\nSUBJECT: CABLE {ssn}\n"
    ).encode()


def test_a_post_checks_each_originator_s_mcn_series_and_logs_a_gap() -> None:
    """5 FAH-2 H-321.7: 0041 then 0043 from RUEHC: 0042 missing; 0042 late fills it; RUEHKO runs apart."""
    paris = PostStation("RUEHFR")
    serials = iter(range(1, 100))

    def read(station: str, ssn: int, to: str) -> tuple[str, ...]:
        reading = paris.read(
            single_call(state_cable(station, ssn, to), f"HFR{next(serials):04d}", "RUEHFR", "RR")
        )
        assert reading.cable is not None
        return reading.mcn_gaps

    assert read("RUEHC", 1, "RUEHFR/AMEMBASSY PARIS PRIORITY 0041") == ()
    assert read("RUEHKO", 1, "RUEHFR/AMEMBASSY PARIS 0007") == (), "Tokyo's series is its own"
    assert read("RUEHC", 2, "RUEHFR/AMEMBASSY PARIS IMMEDIATE 0043") == ("RUEHC 0042",)
    assert read("RUEHC", 3, "RUEHFR/AMEMBASSY PARIS 0042") == (), "late, not lost: the gap is filled"
    assert paris.mcns.series["RUEHC"].missing == set()
    assert read("RUEHKO", 2, "RUEHFR/AMEMBASSY PARIS 0010") == ("RUEHKO 0008", "RUEHKO 0009")
    assert read("RUEHC", 4, "AMEMBASSY PARIS 0047") == (), "a line without the post's RI is not checked"
    assert read("RUEHC", 5, "RUEHFR/AMEMBASSY PARIS 0044-0045") == ()
    assert paris.mcns.series["RUEHC"].last == 45
    assert read("RUEHC", 6, "RUEHFR/AMEMBASSY PARIS 5000") == ("RUEHC 0046-4999",), "a jump: one range"
    assert paris.mcns.series["RUEHC"].missing == set()
    again = paris.read(
        single_call(state_cable("RUEHC", 2, "RUEHFR/AMEMBASSY PARIS 0043"), "HFR0099", "RUEHFR", "RR")
    )
    assert (again.duplicate, again.mcn_gaps) == (True, ()), "a duplicate filed is no new number"
