"""The parser's memory of address lines: what it remembers changes no reading, only its cost."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from router import Precedence, parse_cable
from router.cable.addressee import parse_addressee_line

HEADER = """VZCZCXYZ0000
OO RUEHWEB
{relay}
DE RUEHKO #{serial} 1610901
ZNY CCCCC ZZH
{precedence} 090901Z JUN 08
FM AMEMBASSY TOKYO
TO RUEHC/SECSTATE WASHDC IMMEDIATE 4887
INFO RUEHBJ/AMEMBASSY BEIJING 3785
RUEHUL/AMEMBASSY SEOUL IMMEDIATE 9784
AMCONSUL SAPPORO

C O N F I D E N T I A L TOKYO {serial}
"""


def cable(serial: int = 1571, precedence: str = "O", relay: str = "") -> str:
    return HEADER.format(serial=serial, precedence=precedence, relay=relay)


@pytest.fixture(autouse=True)
def cold() -> Iterator[None]:
    """Each test starts and ends with nothing remembered."""
    parse_addressee_line.cache_clear()
    yield
    parse_addressee_line.cache_clear()


def test_a_cable_read_again_and_again_reads_as_it_did_the_first_time() -> None:
    """The first, second and third reading of the same address lines give equal cables."""
    first, second, third = (parse_cable(cable(serial), text_fields=False) for serial in (1, 2, 3))
    for later in (second, third):
        assert later.to == first.to
        assert later.info == first.info
    assert third.message_id == "RUEHKO-0003-1610901"


def test_an_address_line_back_at_its_place_gives_the_same_addressee() -> None:
    """Lines that stand where they stood, under the same precedence, share the immutable Addressee."""
    readings = [parse_cable(cable(serial), text_fields=False) for serial in range(4)]
    assert all(a is b for a, b in zip(readings[2].info, readings[3].info, strict=True))
    assert readings[3].to[0].line == 8


def test_an_address_line_moved_down_takes_its_new_line_number() -> None:
    """An extra relay line moves the address lines: each addressee gets the line it is on now."""
    for _ in range(3):
        parse_cable(cable(), text_fields=False)
    moved = parse_cable(cable(relay="RUEHXX\n"), text_fields=False)
    assert [a.line for a in moved.to + moved.info] == [9, 10, 11, 12]
    assert moved.info[2].name == "AMCONSUL SAPPORO"


def test_the_same_line_under_another_dtg_precedence_takes_that_precedence() -> None:
    """A line without its own precedence word follows the DTG of each cable it is read in."""
    for _ in range(3):
        parse_cable(cable(precedence="O"), text_fields=False)
    routine = parse_cable(cable(precedence="R"), text_fields=False)
    assert routine.info[2].precedence is Precedence.ROUTINE
    assert routine.info[0].precedence is Precedence.ROUTINE
    assert routine.info[1].precedence is Precedence.IMMEDIATE
    assert parse_cable(cable(precedence="O"), text_fields=False).info[2].precedence is Precedence.IMMEDIATE


def test_a_line_led_by_an_ri_spelling_ref_is_an_addressee() -> None:
    """`REFAB/...` is an RI-led address line, not a REF field; `REF:` still ends the header."""
    text = cable().replace("AMCONSUL SAPPORO\n", "REFAB/AMCONSUL SAPPORO\nREF: TOKYO 1548\n")
    read = parse_cable(text, text_fields=False)
    assert [(a.ri, a.name) for a in read.info[2:]] == [("REFAB", "AMCONSUL SAPPORO")]
    assert read.header_lines == 11  # the REF line is the first of the text


def test_clearing_the_cache_of_lines_forgets_the_addressees_too() -> None:
    """After `parse_addressee_line.cache_clear()` a cable is read cold: equal addressees, made anew."""
    before = [parse_cable(cable(serial), text_fields=False) for serial in range(3)][-1]
    parse_addressee_line.cache_clear()
    after = parse_cable(cable(), text_fields=False)
    assert after.info == before.info
    assert not any(a is b for a, b in zip(after.info, before.info, strict=True))
