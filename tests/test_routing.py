"""Routing decisions on a small hand-written table: resolution, collectives, dedupe, intercepts."""

from __future__ import annotations

import pytest

from router import CableParseError, Precedence, parse_cable
from router.routing.decide import decide
from router.routing.table import DIRECT, RoutingTable, is_routing_indicator, parse_table

TABLE = """
[defaults]
clearance = "SECRET"
baud = 75
window = 4

[[relays]]
prefix = "RUEH"
name = "STATE RELAY BELTSVILLE"

[[relays]]
prefix = "RHMF"
name = "DOD RELAY"

[[relays]]
prefix = "RFHH"
name = "FOREIGN RELAY"

[[posts]]
ri = "RUEHC"
names = ["SECSTATE WASHDC", "DEPT OF STATE WASHINGTON DC"]
clearance = "TOP SECRET"

[[posts]]
ri = "RUEHFR"
names = ["AMEMBASSY PARIS"]

[[posts]]
ri = "RUEHRO"
names = ["AMEMBASSY ROME"]

[[posts]]
ri = "RUEHMD"
names = ["AMEMBASSY MADRID"]
clearance = "CONFIDENTIAL"

[[posts]]
ri = "RUEHVL"
names = ["AMEMBASSY VALLETTA"]

[[posts]]
ri = "RFHHAAA"
names = ["ALLIED LIAISON PARIS"]
barred_caveats = ["NOFORN"]

[[collectives]]
name = "EUROPEAN POLITICAL COLLECTIVE"
ri = "RUEHZL"
aliases = ["EUROPEAN POLITICAL COLL"]
basis = "test"
members = ["RUEHFR", "RUEHRO", "RUEHMD", "RUEHVL"]
"""


@pytest.fixture(scope="module")
def table() -> RoutingTable:
    """The small table above, validated and indexed."""
    return parse_table(TABLE, source="test.toml")


def cable(addresses: str, *, dtg: str = "R", banner: str = "UNCLAS ROME 000001") -> str:
    return f"{dtg} 011200Z JAN 09\nFM AMEMBASSY ROME\n{addresses}\n\n{banner}\n"


def route(table: RoutingTable, addresses: str, **kwargs: str) -> dict[str, tuple[object, ...]]:
    decision = decide(parse_cable(cable(addresses, **kwargs)), table)
    return {d.post: (d.precedence, d.role, d.niact, d.via) for d in decision.deliveries}


def test_addressee_resolves_by_ri_first_then_by_name(table: RoutingTable) -> None:
    """An RI is routed on; a plain name is looked up in its normalised spelling."""
    got = route(table, "TO RUEHC/SOMETHING ELSE\nINFO SECSTATE WASHINGTON D.C.\nAMEMBASSY PARIS")
    assert got == {
        "RUEHC": (Precedence.ROUTINE, "action", False, DIRECT),
        "RUEHFR": (Precedence.ROUTINE, "info", False, DIRECT),
    }


def test_one_slip_in_a_name_still_finds_the_post(table: RoutingTable) -> None:
    """A dropped or extra letter in a plain name (AMMBASSY PARRIS) resolves to the post."""
    assert set(route(table, "TO AMEMBASSY PARRIS\nINFO AMEMBASY ROME")) == {"RUEHFR", "RUEHRO"}


def test_collective_expands_minus_xmt_and_dedupes_at_highest_precedence(table: RoutingTable) -> None:
    """A collective reaches its members less XMT; a post reached twice gets one copy (§222)."""
    got = route(
        table,
        "TO AMEMBASSY ROME IMMEDIATE\nINFO RUEHZL/EUROPEAN POLITICAL COLLECTIVE\nXMT AMEMBASSY VALLETTA",
        dtg="P",
    )
    assert got == {
        "RUEHRO": (Precedence.IMMEDIATE, "action", False, DIRECT),
        "RUEHFR": (Precedence.PRIORITY, "info", False, "EUROPEAN POLITICAL COLLECTIVE"),
        "RUEHMD": (Precedence.PRIORITY, "info", False, "EUROPEAN POLITICAL COLLECTIVE"),
    }


def test_info_copy_at_higher_precedence_wins_over_action_at_lower(table: RoutingTable) -> None:
    """Highest precedence first; at equal precedence, action over info."""
    got = route(table, "TO AMEMBASSY PARIS\nINFO AMEMBASSY PARIS FLASH\nEUROPEAN POLITICAL COLL")
    assert got["RUEHFR"] == (Precedence.FLASH, "info", False, DIRECT)
    got = route(table, "TO EUROPEAN POLITICAL COLLECTIVE\nINFO AMEMBASSY PARIS")
    assert got["RUEHFR"] == (Precedence.ROUTINE, "action", False, "EUROPEAN POLITICAL COLLECTIVE")


def test_zen_addressee_is_reported_not_delivered(table: RoutingTable) -> None:
    """ZEN/ posts are set aside, also from collectives that would reach them (§206b)."""
    decision = decide(parse_cable(cable("TO ZEN/AMEMBASSY PARIS\nEUROPEAN POLITICAL COLLECTIVE")), table)
    assert [a.name for a in decision.zen] == ["AMEMBASSY PARIS"]
    assert "RUEHFR" not in {d.post for d in decision.deliveries}
    assert decision.intercepts == ()


def test_pouch_addressee_is_reported_not_delivered(table: RoutingTable) -> None:
    """A post marked POUCH gets the cable by pouch: no copy, not from a collective, not an intercept."""
    parsed = parse_cable(cable("TO AMEMBASSY PARIS POUCH\nEUROPEAN POLITICAL COLLECTIVE"))
    decision = decide(parsed, table)
    assert [a.name for a in decision.pouched] == ["AMEMBASSY PARIS"]
    assert "RUEHFR" not in {d.post for d in decision.deliveries}
    assert decision.deliveries  # the collective's other members still get theirs
    assert decision.intercepts == ()
    assert decision.accounted_lines() == {a.line for a in parsed.addressees}


def test_unknown_ri_under_a_relay_is_delivered_via_the_relay(table: RoutingTable) -> None:
    """A well-formed RI that is not a post goes to its own topic through its relay (§302)."""
    got = route(table, "TO RUEHXYZ/AMEMBASSY NOWHERE\nRHMFISS/HQ USEUCOM")
    assert got["RUEHXYZ"][3] == "relay RUEH"
    assert got["RHMFISS"][3] == "relay RHMF"


def test_unknown_addressees_and_collectives_are_intercepted_with_reasons(table: RoutingTable) -> None:
    """What cannot be resolved is held with a reason code, one entry per addressee line."""
    decision = decide(parse_cable(cable("TO AMEMBASSY ATLANTIS\nINFO GALACTIC POSTS COLLECTIVE")), table)
    assert [(i.addressee, i.reason, i.lines) for i in decision.intercepts] == [
        ("AMEMBASSY ATLANTIS", "unknown-addressee", (3,)),
        ("GALACTIC POSTS COLLECTIVE", "unknown-collective", (4,)),
    ]
    assert decision.deliveries == ()


def test_posts_are_never_sent_above_their_clearance_or_against_their_caveats(table: RoutingTable) -> None:
    """SECRET is not delivered to a CONFIDENTIAL post; NOFORN not to a foreign station."""
    noforn_banner = "S E C R E T ROME 000001\n\nNOFORN"
    decision = decide(
        parse_cable(
            cable("TO EUROPEAN POLITICAL COLLECTIVE\nINFO RFHHAAA/ALLIED LIAISON PARIS", banner=noforn_banner)
        ),
        table,
    )
    assert {(i.post, i.reason) for i in decision.intercepts} == {
        ("RUEHMD", "not-cleared"),
        ("RFHHAAA", "caveat-barred"),
    }
    # Rome, the originator (FM), is left out of the collective (§205c).
    assert {d.post for d in decision.deliveries} == {"RUEHFR", "RUEHVL"}


def test_a_cable_without_addressees_is_intercepted_as_such(table: RoutingTable) -> None:
    """A partial record has nobody to deliver to: that is said, not silently dropped."""
    decision = decide(parse_cable("201247Z Jan 04\n\nC O N F I D E N T I A L MADRID 000123\n"), table)
    assert [i.reason for i in decision.intercepts] == ["no-addressees"]


def test_niact_survives_dedupe(table: RoutingTable) -> None:
    """A NIACT on any line reaching a post marks its copy."""
    got = route(table, "TO AMEMBASSY PARIS NIACT IMMEDIATE\nINFO EUROPEAN POLITICAL COLLECTIVE", dtg="O")
    assert got["RUEHFR"] == (Precedence.IMMEDIATE, "action", True, DIRECT)


@pytest.mark.parametrize(
    "written",
    [
        "RUEH#/AMEMBASSY HASH",
        "RUEH+/AMEMBASSY PLUS",
        "RUEHC/../../ETC",
        "cables/out/#",
        "AMEMBASSY \x00NUL",
        "RUEHXYZABCDEFG/TOO LONG AN RI",
        "/RUEH/SLASHED",
        "A" * 5000,
    ],
)
def test_nothing_in_a_cable_can_make_a_topic_outside_the_table(table: RoutingTable, written: str) -> None:
    """Deliveries go only to table posts or well-formed RIs under a relay, whatever is written."""
    try:
        cable_ = parse_cable(cable(f"TO {written}\nINFO RUEHXYZ/AMEMBASSY NOWHERE"))
    except CableParseError:
        return
    for delivery in decide(cable_, table).deliveries:
        assert delivery.post in table.posts or (
            is_routing_indicator(delivery.post) and table.relay_for(delivery.post) is not None
        )


def test_a_collective_does_not_send_a_cable_back_to_its_originating_station(table: RoutingTable) -> None:
    """Rome's cable to a collective Rome belongs to reaches the others, not Rome."""
    text = (
        "VZCZCXRA0001\nOO RUEHWEB\nDE RUEHRO #0001 0011200\nZNR UUUUU ZZH\nO 011200Z JAN 09\n"
        "FM AMEMBASSY ROME\nTO EUROPEAN POLITICAL COLLECTIVE\n\nUNCLAS ROME 000001\n"
    )
    decision = decide(parse_cable(text), table)
    assert {d.post for d in decision.deliveries} == {"RUEHFR", "RUEHMD", "RUEHVL"}
    assert "RUEHRO" in decision.exempted
    assert decision.set_aside() == (("RUEHRO", "originator"),)


def test_the_originator_is_the_fm_line_not_the_de_line(table: RoutingTable) -> None:
    """§205c: the FM post is left out of the collective when another station (DE) prepared the cable."""
    text = (
        "VZCZCXRA0001\nOO RUEHWEB\nDE RUEHVL #0001 0011200\nZNR UUUUU ZZH\nO 011200Z JAN 09\n"
        "FM AMEMBASSY ROME\nTO EUROPEAN POLITICAL COLLECTIVE\n\nUNCLAS ROME 000001\n"
    )
    decision = decide(parse_cable(text), table)
    # Valletta only put it on the wire (§133: DE is the station that prepared the tape): it gets its copy.
    assert {d.post for d in decision.deliveries} == {"RUEHFR", "RUEHMD", "RUEHVL"}
    assert decision.originators == ("RUEHRO",)


def test_an_acp126_cable_is_not_sent_back_to_its_originator(table: RoutingTable) -> None:
    """§205c: a cable with no DE line (ACP 126) still has an originator, on its FM line."""
    got = route(table, "TO EUROPEAN POLITICAL COLLECTIVE")  # FM AMEMBASSY ROME, DTG and FM only
    assert set(got) == {"RUEHFR", "RUEHMD", "RUEHVL"}


def test_the_originator_still_gets_a_copy_when_addressed_by_name(table: RoutingTable) -> None:
    """Leaving the originator out of a collective does not undo a line that addresses it itself."""
    got = route(table, "TO EUROPEAN POLITICAL COLLECTIVE\nINFO AMEMBASSY ROME")
    assert got["RUEHRO"] == (Precedence.ROUTINE, "info", False, DIRECT)


def test_a_cable_without_fl4_or_banner_goes_over_approved_channels_only() -> None:
    """§203b(2): no FL4 and no classification in the text: no post on an unclassified channel gets it."""
    table = parse_table(
        TABLE + '\n[[posts]]\nri = "RUEHUU"\nnames = ["AMCONSUL OPEN"]\nclearance = "UNCLASSIFIED"\n'
    )
    text = (
        "VZCZCXRA0001\nRR RUEHWEB\nDE RUEHRO 1 01/1200Z\nR 011200Z JAN 09\nFM AMEMBASSY ROME\n"
        "TO AMCONSUL OPEN\nINFO AMEMBASSY PARIS\n\nNO BANNER AT ALL\n"
    )
    cable_ = parse_cable(text)
    assert (cable_.security_warning, cable_.classification) == (None, None)
    decision = decide(cable_, table)
    assert [d.post for d in decision.deliveries] == ["RUEHFR"]
    assert [(i.post, i.reason) for i in decision.intercepts] == [("RUEHUU", "not-cleared")]
    with_fl4 = decide(parse_cable(text.replace("R 011200Z", "ZNR UUUUU\nR 011200Z")), table)
    assert {d.post for d in with_fl4.deliveries} == {"RUEHFR", "RUEHUU"}


AIG_TABLE = (
    TABLE
    + """
[[aigs]]
number = 205
title = "MEDITERRANEAN SITUATION REPORTS"
originator = "RUEHRO"
action = ["RUEHFR", "RUEHRO", "RUEHMD"]
info = ["RUEHVL", "RUEHC"]
"""
)


def test_an_aig_reaches_its_action_and_info_addressees_at_their_precedences() -> None:
    """§205c, §222a, §152a: TO AIG 205 acts on its action addressees and informs its info ones, lower."""
    table = parse_table(AIG_TABLE, source="test.toml")
    got = route(table, "TO AIG 205", dtg="O R")
    assert got == {
        "RUEHFR": (Precedence.IMMEDIATE, "action", False, "AIG 205"),
        "RUEHMD": (Precedence.IMMEDIATE, "action", False, "AIG 205"),
        "RUEHVL": (Precedence.ROUTINE, "info", False, "AIG 205"),
        "RUEHC": (Precedence.ROUTINE, "info", False, "AIG 205"),
    }  # not RUEHRO: the originator the AIG was made for is none of its addressees (§205c(1)(a))


def test_an_aig_as_info_addressee_and_its_exemptions() -> None:
    """An AIG on the INFO line informs all its addressees; XMT exempts from it (§205c(1)(e))."""
    table = parse_table(AIG_TABLE, source="test.toml")
    got = route(table, "TO SECSTATE WASHDC\nINFO AIG 205\nXMT AMEMBASSY VALLETTA", dtg="P")
    assert got == {
        "RUEHC": (Precedence.PRIORITY, "action", False, DIRECT),
        "RUEHFR": (Precedence.PRIORITY, "info", False, "AIG 205"),
        "RUEHMD": (Precedence.PRIORITY, "info", False, "AIG 205"),
    }


def test_an_aig_the_table_does_not_define_is_intercepted() -> None:
    """An AIG number unknown to the table is held as an unknown collective, with its line."""
    decision = decide(parse_cable(cable("TO AIG 999")), parse_table(AIG_TABLE))
    assert [(i.addressee, i.reason) for i in decision.intercepts] == [("AIG 999", "unknown-collective")]
