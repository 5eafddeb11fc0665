"""Single-call copies, cancellations, service messages and the receiving end's continuity check."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from router import Precedence, parse_cable
from router.errors import CableParseError, NotACopyError
from router.network.channel import (
    Continuity,
    cancellation,
    copy_size,
    heading,
    message_part,
    read_acknowledgement,
    read_copy,
    read_zfx,
    receipt,
    single_call,
    zfx,
)
from router.sim.post import PostStation

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def test_a_copy_carries_the_line_s_fl1_and_fl2_and_the_message_unchanged() -> None:
    """FL1 gets the channel and serial, FL2 only the post's RI; from FL3 on, byte for byte the cable."""
    raw = (SAMPLES / "flash-collective.txt").read_bytes()
    copy = single_call(raw, "HFR0042", "RUEHFR", "ZZ")
    lines = copy.split(b"\n")
    assert lines[:2] == [b"VZCZCHFR0042", b"ZZ RUEHFR"]
    assert copy.endswith(raw[raw.index(b"DE RUEHRO") :])
    read = read_copy(copy)
    assert (read.channel, read.serial, read.cancelled) == ("HFR", 42, False)
    assert parse_cable(read.cable).message_id == parse_cable(raw).message_id


@pytest.mark.parametrize("sample", ["dual-precedence.txt", "partial-record.txt"])
def test_a_cable_without_fl1_gets_one_in_front_and_reads_back_the_same(sample: str) -> None:
    """ACP 126 and partial records: FL1 and FL2 go in front; the post reads the cable as it came."""
    raw = (SAMPLES / sample).read_bytes()
    copy = single_call(raw, "EHC0007", "RUEHC", "OO")
    assert copy.startswith(b"VZCZCEHC0007\nOO RUEHC\n")
    read = read_copy(copy)
    assert read.cable == raw
    assert parse_cable(read.cable).message_id == parse_cable(raw).message_id


def test_every_corpus_cable_keeps_its_identity_through_a_copy(corpus_dir: Path) -> None:
    """Real traffic: whatever the header family, the post reads the same message id the switch routed."""
    changed = []
    for path in sorted(corpus_dir.glob("*.txt")):
        raw = path.read_bytes()
        try:
            original = parse_cable(raw).message_id
        except CableParseError:
            continue
        if parse_cable(read_copy(single_call(raw, "ABC0001", "RUEHC", "RR")).cable).message_id != original:
            changed.append(path.name)
    assert changed == []


@pytest.mark.parametrize("serial", ["HFR0001", "HFR9999"])
@pytest.mark.parametrize("precedence", list(Precedence))
def test_a_copy_s_size_is_worked_out_without_building_it(serial: str, precedence: Precedence) -> None:
    """The size a line is given for a copy is the length of the copy sent, whatever the serial."""
    raw = (SAMPLES / "flash-collective.txt").read_bytes()
    sent = single_call(raw, serial, "RUEHFR", precedence.letter * 2)
    assert copy_size("RUEHFR", precedence, message_part(raw)) == len(sent)


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
    assert channel.receive(1) == ([], False)
    assert channel.receive(2) == ([], False)
    assert channel.receive(5) == ([3, 4], False)
    assert channel.receive(2) == ([], True)
    assert channel.receive(3) == ([], False)
    assert channel.missing == {4}
    assert channel.receive(6) == ([], False)


def test_continuity_goes_round_past_9999() -> None:
    channel = Continuity(last=9998)
    assert channel.receive(2) == ([9999, 1], False)
    assert channel.receive(9998) == ([], True)


@given(st.lists(st.integers(min_value=1, max_value=60), min_size=1, max_size=60))
def test_whatever_arrives_every_serial_up_to_the_last_is_received_or_reported(serials: list[int]) -> None:
    """The post never silently loses a serial: each one up to the highest is seen or reported missing."""
    channel = Continuity()
    seen, reported = set(), set()
    for serial in serials:
        missing, _ = channel.receive(serial)
        reported.update(missing)
        seen.add(serial)
    first, last = serials[0], max(serials)
    for serial in range(first, last + 1):
        if channel.last is not None and serial <= channel.last:
            assert serial in seen or serial in reported


def test_the_post_files_a_message_it_already_has_and_receipts_it_anyway() -> None:
    """A second copy (new serial, same message) is filed, not shown; both are receipted."""
    raw = (SAMPLES / "routine-unclassified.txt").read_bytes()
    station = PostStation("RUEHFR")
    first = station.read(single_call(raw, "HFR0001", "RUEHFR", "RR"))
    again = station.read(single_call(raw, "HFR0002", "RUEHFR", "RR"))
    assert first.cable is not None
    assert (first.duplicate, first.receipt) == (False, b"R R HFR0001")
    assert (again.cable, again.duplicate, again.receipt) == (None, True, b"R R HFR0002")


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
    part = message_part(raw)
    sent = heading("HFR0043", "RUEHFR", "ZZ", suspect=True) + part
    assert sent.split(b"\n")[2] == b"ZFD"
    assert copy_size("RUEHFR", Precedence.FLASH, part, suspect=True) == len(sent)
    read = read_copy(sent)
    plain = read_copy(heading("HFR0043", "RUEHFR", "ZZ") + part)
    assert (read.suspect, plain.suspect) == (True, False)
    assert read.cable.replace(b"ZZ RUEHFR\n", b"") == plain.cable.replace(b"ZZ RUEHFR\n", b"")
    assert parse_cable(read.cable).message_id == parse_cable(raw).message_id


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
