"""Single-call copies, cancellations, service messages and the receiving end's continuity check."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from router import Precedence, parse_cable
from router.errors import CableParseError, NotACopyError
from router.network.channel import (
    BELL,
    Continuity,
    cancellation,
    copy_size,
    heading,
    identify,
    message_part,
    read_acknowledgement,
    read_copy,
    read_zfx,
    receipt,
    service_message,
    single_call,
    with_tracer_instruction,
    zfx,
)
from router.network.trunk import RoutingLine, write_transmission
from router.sim.post import PostStation

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def test_a_copy_carries_the_line_s_fl1_and_fl2_and_the_message_unchanged() -> None:
    """FL1 gets the channel and serial, FL2 only the post's RI; from FL3 on, byte for byte the cable."""
    raw = (SAMPLES / "flash-collective.txt").read_bytes()
    copy = single_call(raw, "HFR0042", "RUEHFR", "ZZ")
    lines = copy.split(b"\n")
    # ACP 127 §151b: FLASH is ZZ in FL2 "immediately preceded by the bell signal" (§137e(1)).
    assert lines[:2] == [b"VZCZCHFR0042", BELL + b"ZZ RUEHFR"]
    assert copy.endswith(raw[raw.index(b"DE RUEHRO") :].rstrip(b"\n") + b"\nBT\nNNNN\n")
    read = read_copy(copy)
    assert (read.channel, read.serial, read.cancelled, read.bell) == ("HFR", 42, False, True)
    assert parse_cable(read.cable).message_id == parse_cable(raw).message_id


def test_every_copy_is_a_whole_transmission_ending_bt_nnnn() -> None:
    """§114, §138d, Annex B: FL1 first, FL13 BT after the text, FL16 NNNN last; once each, never doubled."""
    raw = (SAMPLES / "routine-unclassified.txt").read_bytes()
    framed = single_call(raw, "HFR0001", "RUEHFR", "RR")
    assert framed.startswith(b"VZCZCHFR0001\nRR RUEHFR\nDE RUEHOT")
    assert framed.endswith(b"the way one web copy of the release printed them.\nBT\nNNNN\n")
    for ending in (b"\nNNNN\n", b"\nBT\nNNNN\n", b"\nBT\n", b"\n\n  \n"):
        again = single_call(raw.rstrip(b"\n") + ending, "HFR0001", "RUEHFR", "RR")
        assert again == framed, ending
    assert BELL not in framed, "the bell is a FLASH's only"


def test_a_cable_without_fl3_is_identified_by_the_switch_as_an_originating_station_would() -> None:
    """§116: RI + station serial number + filing time; ACP 126 (no DE, no FL4) gets FL3 and FL4 (§124b)."""
    raw = (SAMPLES / "dual-precedence.txt").read_bytes()
    filed = datetime(2026, 12, 4, 16, 30, tzinfo=UTC).timestamp()  # Julian day 338
    identification = identify(raw, 10_042, filed)
    assert identification == b"DE RUEHWEB #0042 3381630\nZNY CCCCC\n"
    assert identify((SAMPLES / "flash-collective.txt").read_bytes(), 1, filed) == b"", "it has FL3"
    copy = heading("EHC0007", "RUEHC", "OO") + message_part(raw, identification)
    assert copy.startswith(
        b"VZCZCEHC0007\nOO RUEHC\nDE RUEHWEB #0042 3381630\nZNY CCCCC\nO P 141530Z MAR 88\n"
    )
    assert copy.endswith(b"act at any hour.\nBT\nNNNN\n")
    read = read_copy(copy)
    assert read.message_id == "RUEHWEB-0042-3381630"
    assert read.cable == raw.rstrip(b"\n") + b"\n", "the cable as it came, under the switch's FL3"
    assert parse_cable(read.cable).message_id == parse_cable(raw).message_id, "its digest too"
    assert parse_cable(read.cable).precedence is Precedence.IMMEDIATE


def test_a_partial_record_of_no_known_classification_goes_without_fl4() -> None:
    """A partial record's banner gives FL4 (ZNY CCCCC); without any, FL4 stays out (§203b(2))."""
    raw = (SAMPLES / "partial-record.txt").read_bytes()
    assert identify(raw, 7, 0.0) == b"DE RUEHWEB #0007 0010000\nZNY CCCCC\n"
    unmarked = b"201247Z JAN 04\nFM AMEMBASSY MADRID\nTO SECSTATE WASHDC\n\nSUBJECT: NO BANNER\n"
    assert identify(unmarked, 8, 0.0) == b"DE RUEHWEB #0008 0010000\n"


def test_every_corpus_cable_keeps_its_identity_through_a_copy(corpus_dir: Path) -> None:
    """Real traffic: the post reads the message id the switch routed, or the one it gave (§116)."""
    changed = []
    for path in sorted(corpus_dir.glob("*.txt")):
        raw = path.read_bytes()
        try:
            original = parse_cable(raw)
        except CableParseError:
            continue
        read = read_copy(single_call(raw, "ABC0001", "RUEHC", "RR"))
        expected = original.message_id
        if original.station_serial is None:  # no FL3: the switch identified it (`single_call`: number 1)
            expected = "RUEHWEB-0001-0010000"
        wire = read.message_id or parse_cable(read.cable).message_id
        if wire != expected or parse_cable(read.cable).precedence != original.precedence:
            changed.append(path.name)
    assert changed == []


@pytest.mark.parametrize("serial", ["HFR0001", "HFR9999"])
@pytest.mark.parametrize("precedence", list(Precedence))
def test_a_copy_s_size_is_worked_out_without_building_it(serial: str, precedence: Precedence) -> None:
    """The size a line is given for a copy is the length of the copy sent, whatever the serial."""
    raw = (SAMPLES / "flash-collective.txt").read_bytes()
    sent = single_call(raw, serial, "RUEHFR", precedence.letter * 2)
    assert copy_size("RUEHFR", precedence, message_part(raw)) == len(sent)


def test_a_zfr_service_message_quotes_the_cancelled_transmission() -> None:
    """§424d's form: DE the switch (no SSN, §405b), BT, ``UNCLAS SVC ZFR FPA035``, BT, NNNN."""
    filed = datetime(2026, 12, 4, 16, 30, tzinfo=UTC).timestamp()
    sent = service_message("HFR0005", "RUEHFR", "ZFR HFR0003", filed)
    assert sent == (
        b"VZCZCHFR0005\nRR RUEHFR\nDE RUEHWEB 3381630\nZNR UUUUU\nBT\nUNCLAS SVC ZFR HFR0003\nBT\nNNNN\n"
    )
    read = read_copy(sent)
    assert (read.transmission_id, read.service, read.cable) == ("HFR0005", "UNCLAS SVC ZFR HFR0003", b"")
    assert read.cancels == [("HFR", 3)]


def test_a_post_reading_a_zfr_closes_the_number_and_reports_no_gap() -> None:
    """A cut 0002 cancelled by ZFR under 0003 (§424d): not open, so no ZFX; 0004 follows with none either."""
    raw = (SAMPLES / "routine-unclassified.txt").read_bytes()
    station = PostStation("RUEHFR")
    station.read(single_call(raw, "HFR0001", "RUEHFR", "RR"))
    cancelled = station.read(service_message("HFR0003", "RUEHFR", "ZFR HFR0002", 0.0))
    assert (cancelled.service, cancelled.report, cancelled.receipt, cancelled.cable) == (
        "UNCLAS SVC ZFR HFR0002",
        None,
        None,
        None,
    )
    assert station.read(single_call(raw, "HFR0004", "RUEHFR", "RR")).report is None
    assert station.channels["HFR"].missing == set()


def test_a_zfr_also_closes_a_number_already_reported_open() -> None:
    """The post reported 0002 open; the ZFR that answers it closes it (§433b, §424d)."""
    raw = (SAMPLES / "routine-unclassified.txt").read_bytes()
    station = PostStation("RUEHFR")
    station.read(single_call(raw, "HFR0001", "RUEHFR", "RR"))
    gap = station.read(single_call(raw, "HFR0003", "RUEHFR", "RR"))
    assert gap.report is not None
    assert station.channels["HFR"].missing == {2}
    station.read(service_message("HFR0004", "RUEHFR", "ZFR HFR0002", 0.0))
    assert station.channels["HFR"].missing == set()


def test_a_tracer_retransmission_carries_zfg_in_fl5_and_a_post_always_delivers_it() -> None:
    """§438b: ZFG in FL5; "any message bearing ZFG in format line 5 shall be delivered", held or not."""
    raw = (SAMPLES / "flash-collective.txt").read_bytes()
    part = message_part(raw)
    again = with_tracer_instruction(part)
    assert b"\nZ 090915Z NOV 09 ZFG\n" in again
    assert len(again) == len(part) + len(" ZFG")
    station = PostStation("RUEHFR")
    first = station.read(heading("HFR0001", "RUEHFR", "ZZ") + part)
    plain = station.read(heading("HFR0002", "RUEHFR", "ZZ") + part)
    traced = station.read(heading("HFR0003", "RUEHFR", "ZZ") + again)
    assert first.cable is not None
    assert (plain.cable, plain.duplicate) == (None, True)
    assert traced.cable is not None
    assert (traced.duplicate, traced.cable.message_id) == (False, first.cable.message_id)
    assert read_copy(heading("HFR0003", "RUEHFR", "ZZ") + again).tracer


def test_a_message_without_fl5_gets_zfg_ahead_of_its_text() -> None:
    """A partial record has no FL5: the instruction goes on a line of its own where FL5 would be."""
    raw = (SAMPLES / "partial-record.txt").read_bytes()
    identification = identify(raw, 3, 0.0)
    part = message_part(raw, identification)
    again = with_tracer_instruction(part)
    assert again.startswith(b"DE RUEHWEB #0003 0010000\nZNY CCCCC\nThis record")
    assert (b"ZFG" in again, len(again)) == (True, len(part) + 4)


def test_the_post_hears_the_flash_bell_and_does_not_print_it() -> None:
    """§151b, §137e: the bell rings before a FLASH's ZZ; the post notes it and shows none of it as text."""
    raw = (SAMPLES / "flash-collective.txt").read_bytes()
    reading = PostStation("RUEHFR").read(single_call(raw, "HFR0001", "RUEHFR", "ZZ"))
    assert reading.bell
    assert reading.cable is not None
    assert "\a" not in repr(reading.cable.model_dump())
    routine = (SAMPLES / "routine-unclassified.txt").read_bytes()
    assert not PostStation("RUEHFR").read(single_call(routine, "HFR0001", "RUEHFR", "RR")).bell


def test_a_cancellation_uses_the_serial_and_carries_no_message() -> None:
    """E E E E E E E E AR after FL1 (ACP 127 §424a): the serial is accounted for."""
    read = read_copy(cancellation("HFR0003"))
    assert (read.transmission_id, read.cancelled, read.cable) == ("HFR0003", True, b"")


def test_a_payload_without_fl1_is_not_a_copy() -> None:
    with pytest.raises(NotACopyError, match="no transmission identification"):
        read_copy(b'{"delivery": 1}')


def test_service_messages_and_receipts_read_back() -> None:
    """ZFX lists transmission ids (§433); a receipt is R, the precedence letter and the id (§151b)."""
    report = zfx("RUEHFR", ["HFR0063", "HFR0064"])
    assert b"\nZFX HFR0063 HFR0064\n" in report
    assert read_zfx(report) == [("HFR", 63), ("HFR", 64)]
    assert read_zfx(b"ZID HFR0064") == []
    assert read_acknowledgement(receipt("Z", "HFR0042")) == ("HFR", 42)
    assert read_acknowledgement(b"42") is None


def test_continuity_reports_gaps_repeats_and_fills() -> None:
    """1, 2, 5: 3 and 4 missing; 2 again: a repeat; 3 later: a fill, not a repeat."""
    channel = Continuity()
    assert channel.receive(1)[:2] == ([], False)
    assert channel.receive(2)[:2] == ([], False)
    assert channel.receive(5)[:2] == ([3, 4], False)
    assert channel.receive(2)[:2] == ([], True)
    assert channel.receive(3)[:2] == ([], False)
    assert channel.missing == {4}
    assert channel.receive(6)[:2] == ([], False)


def test_continuity_goes_round_past_9999() -> None:
    channel = Continuity(last=9998)
    assert channel.receive(2)[:2] == ([9999, 1], False)
    assert channel.receive(9998)[:2] == ([], True)


@given(st.lists(st.integers(min_value=2, max_value=60), min_size=1, max_size=60))
def test_whatever_arrives_every_serial_up_to_the_last_is_received_or_reported(serials: list[int]) -> None:
    """The post never silently loses a serial: each one up to the highest is seen or reported missing.

    Within one series: 0001 after another number begins a new one (§413a), see below.
    """
    channel = Continuity()
    seen, reported = set(), set()
    for serial in serials:
        missing, _, _ = channel.receive(serial)
        reported.update(missing)
        seen.add(serial)
    first, last = serials[0], max(serials)
    for serial in range(first, last + 1):
        if channel.last is not None and serial <= channel.last:
            assert serial in seen or serial in reported


def test_0001_after_another_number_begins_a_new_series_and_ends_the_old_one() -> None:
    """§413a-b: 0001 after 0164 begins a new series; 0164 was the last, 0137 still open, none missing now."""
    channel = Continuity(last=136)
    assert channel.receive(138).missing == [137]
    assert channel.receive(164)[:2] == (list(range(139, 164)), False)
    new = channel.receive(1)
    assert new == ([], False, (164, [137, *range(139, 164)]))
    assert (channel.last, channel.missing) == (1, set())
    assert channel.receive(1)[:2] == ([], True), "0001 again right after 0001 is a repeat, not a series"
    assert channel.receive(2)[:2] == ([], False)


def test_the_post_files_a_message_it_already_has_and_receipts_it_anyway() -> None:
    """A second copy (new serial, same message) is filed, not shown; both are receipted."""
    raw = (SAMPLES / "routine-unclassified.txt").read_bytes()
    station = PostStation("RUEHFR")
    first = station.read(single_call(raw, "HFR0001", "RUEHFR", "RR"))
    again = station.read(single_call(raw, "HFR0002", "RUEHFR", "RR"))
    assert first.cable is not None
    assert (first.duplicate, first.receipt) == (False, b"R R HFR0001")
    assert (again.cable, again.duplicate, again.receipt) == (None, True, b"R R HFR0002")
    # §428a: an exact duplicate, not piloted: filed, and the station it came from is told.
    assert first.notice is None
    assert again.notice == (
        b"RR RUEHWEB\nDE RUEHFR\nZNR UUUUU\nBT\n"
        b"UNCLAS SVC HFR0002 RUEHOT 0311 0421200 EXACT DUPLICATE RECEIVED AND FILED\nBT\nNNNN\n"
    )


def test_a_duplicate_explained_by_zfd_or_a_number_seen_again_brings_no_notice() -> None:
    """§428a asks for a notice only when the duplicate is neither piloted ZFD nor explained."""
    raw = (SAMPLES / "routine-unclassified.txt").read_bytes()
    station = PostStation("RUEHFR")
    first = single_call(raw, "HFR0001", "RUEHFR", "RR")
    station.read(first)
    redelivered = station.read(first)  # the broker's redelivery: the same transmission
    piloted = station.read(heading("HFR0002", "RUEHFR", "RR", suspect=True) + message_part(raw))
    assert (redelivered.duplicate, redelivered.notice) == (True, None)
    assert (piloted.duplicate, piloted.notice) == (True, None)


def test_the_post_reports_a_gap_at_once_and_a_cancellation_closes_none() -> None:
    """Serial 1, a cancellation for 2, then 4: only 3 is reported missing."""
    raw = (SAMPLES / "routine-unclassified.txt").read_bytes()
    station = PostStation("RUEHFR")
    assert station.read(single_call(raw, "HFR0001", "RUEHFR", "RR")).report is None
    cancelled = station.read(cancellation("HFR0002"))
    assert (cancelled.cancelled, cancelled.receipt, cancelled.report) == (True, None, None)
    gap = station.read(single_call(raw.replace(b"#0311", b"#0312"), "HFR0004", "RUEHFR", "RR"))
    assert gap.report is not None
    assert read_zfx(gap.report) == [("HFR", 3)]


@pytest.mark.parametrize("sample", ["flash-collective.txt", "partial-record.txt"])
def test_a_suspect_copy_carries_zfd_and_reads_back_the_same_cable(sample: str) -> None:
    """A copy sent again for want of a receipt has the ZFD pilot; the post reads the same cable, suspect."""
    raw = (SAMPLES / sample).read_bytes()
    part = message_part(raw, identify(raw, 43, 0.0))
    sent = heading("HFR0043", "RUEHFR", "ZZ", suspect=True) + part
    # §427a: the repeated prosign and the RI it goes to (FL2), then ZFD and the forwarding station's RI.
    assert sent.split(b"\n")[1:3] == [BELL + b"ZZ RUEHFR", b"ZFD RUEHWEB"]
    assert copy_size("RUEHFR", Precedence.FLASH, part, suspect=True) == len(sent)
    read = read_copy(sent)
    plain = read_copy(heading("HFR0043", "RUEHFR", "ZZ") + part)
    assert (read.suspect, plain.suspect) == (True, False)
    assert read.cable.replace(b"ZZ RUEHFR\n", b"") == plain.cable.replace(b"ZZ RUEHFR\n", b"")
    assert (read.message_id or parse_cable(read.cable).message_id) in {
        parse_cable(raw).message_id,
        "RUEHWEB-0043-0010000",
    }


def test_a_post_files_a_zfd_copy_it_holds_and_shows_one_it_does_not() -> None:
    """ZFD (§427-428): the post that has the message files the copy; one that never got it shows it."""
    raw = (SAMPLES / "flash-collective.txt").read_bytes()
    part = message_part(raw)
    holding, missing = PostStation("RUEHFR"), PostStation("RUEHFR")
    assert holding.read(heading("HFR0001", "RUEHFR", "ZZ") + part).cable is not None
    again = heading("HFR0002", "RUEHFR", "ZZ", suspect=True) + part
    filed, shown = holding.read(again), missing.read(again)
    assert (filed.duplicate, filed.cable) == (True, None)
    assert shown.duplicate is False
    assert shown.cable is not None


def test_the_message_part_of_a_transmission_with_a_long_routing_line_starts_at_its_de_line() -> None:
    """A trunk's routing line may run over many lines (§222c): none of them is in the message part.

    A post's copy has a one-line FL2; a journalled trunk transmission read again after a restart
    has as many as it reached, up to `router.network.trunk.MAX_ROUTING_LINES`.
    """
    raw = (SAMPLES / "flash-collective.txt").read_bytes()
    message = raw[raw.index(b"DE RUEHRO") :]
    ris = tuple(f"RUEH{chr(65 + n // 26)}{chr(65 + n % 26)}" for n in range(300))
    transmission = write_transmission("PDE0001", RoutingLine(Precedence.ROUTINE, ris), message)
    assert transmission.count(b"\n") - message.count(b"\n") > 30, "a routing line of many lines"
    assert message_part(transmission) == message_part(b"VZCZCPDE0001\nRR RUEHC\n" + message)
