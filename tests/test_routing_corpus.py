"""The committed routing table on real traffic: the delivery floor and the routing invariants."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from router import Cable, Classification, parse_cable
from router.routing.coverage import measure
from router.routing.decide import decide
from router.routing.table import RoutingTable, is_routing_indicator, load_table

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture(scope="module")
def table() -> RoutingTable:
    """The default table, config/routing.toml."""
    return load_table()


@pytest.fixture(scope="module")
def cables(corpus_dir: Path) -> list[Cable]:
    """Every cable of the corpus."""
    return [parse_cable(path.read_bytes()) for path in sorted(corpus_dir.glob("*.txt"))]


def test_at_least_95_percent_of_addressee_lines_are_delivered(
    cables: list[Cable], table: RoutingTable
) -> None:
    """TO and INFO lines (ZEN aside) of real traffic end as deliveries 95 % of the time or more."""
    coverage = measure(cables, table)
    assert coverage.addressee_lines > 16_000
    assert coverage.share >= 95.0


def test_invariants_hold_on_every_real_cable(cables: list[Cable], table: RoutingTable) -> None:
    """No copy above clearance or against a caveat, one per post, every addressee line accounted for."""
    for cable in cables:
        decision = decide(cable, table)
        posts = [d.post for d in decision.deliveries]
        assert len(posts) == len(set(posts)), cable.message_id
        level = cable.classification or Classification.UNCLASSIFIED
        for delivery in decision.deliveries:
            assert is_routing_indicator(delivery.post)
            post = table.posts.get(delivery.post) or table.relayed_station(delivery.post)
            assert post is not None
            assert level <= post.clearance
            assert not set(cable.caveats) & post.barred_caveats
        assert decision.accounted_lines() >= {a.line for a in cable.addressees}, cable.message_id


@pytest.fixture(scope="module")
def by_id(cables: list[Cable], corpus_dir: Path) -> dict[str, Cable]:
    """The corpus's cables by cable id (file name)."""
    return dict(zip((p.stem for p in sorted(corpus_dir.glob("*.txt"))), cables, strict=True))


@pytest.mark.parametrize("cable_id", ["00STATE228859", "03STATE72951", "03STATE73981"])
def test_xmt_exempts_the_member_of_the_collective_used(
    by_id: dict[str, Cable], table: RoutingTable, cable_id: str
) -> None:
    """Annex B FL9, §205b: XMT AMCONSUL STRASBOURG leaves ALDAC's Strasbourg (RUEHSR) out, not RUEHFRS."""
    # The table has two posts of that name; only RUEHSR is a member of ALL DIPLOMATIC AND CONSULAR POSTS.
    assert {table.posts["RUEHSR"].names[0], table.posts["RUEHFRS"].names[0]} == {"AMCONSUL STRASBOURG"}
    cable = by_id[cable_id]
    assert "AMCONSUL STRASBOURG" in {x.name for x in cable.xmt}
    decision = decide(cable, table)
    posts = {d.post for d in decision.deliveries}
    assert "RUEHSR" not in posts
    assert "RUEHSR" in decision.exempted
    assert "RUEHFRS" not in decision.exempted  # no collective of the cable has it: nothing to exempt
    assert ("RUEHSR", "exempted") in decision.set_aside()


def test_no_originator_gets_its_own_cable_back_through_a_collective(
    by_id: dict[str, Cable], table: RoutingTable
) -> None:
    """§205c: the post on the FM line is left out of every collective, with or without a DE line."""
    sent_back: list[tuple[str, str]] = []
    for cable_id, cable in by_id.items():
        if not cable.originator:
            continue
        originators = table.designated(cable.originator_ri, cable.originator)
        sent_back.extend(
            (cable_id, delivery.post)
            for delivery in decide(cable, table).deliveries
            if delivery.post in originators
            and all(_through_collective(cable, table, line) for line in delivery.lines)
        )
    assert sent_back == []


def _through_collective(cable: Cable, table: RoutingTable, line: int) -> bool:
    addressee = next(a for a in cable.addressees if a.line == line)
    resolution = table.resolve(addressee.ri, addressee.name)
    return resolution is not None and resolution.collective


@pytest.mark.parametrize(
    ("cable_id", "originator", "collective"),
    [
        ("00BEIRUT1411", "RUEHLB", "ARAB ISRAELI COLLECTIVE"),  # ACP 126: no DE line
        ("07PARIS170", "RUEHFR", "EUROPEAN POLITICAL COLLECTIVE"),  # DE RUEHFRA, FM AMEMBASSY PARIS
    ],
)
def test_the_originating_post_is_named_by_the_fm_line(
    by_id: dict[str, Cable], table: RoutingTable, cable_id: str, originator: str, collective: str
) -> None:
    """§205c: the collective reaches its other members, and the FM post is set aside as the originator."""
    decision = decide(by_id[cable_id], table)
    posts = {d.post for d in decision.deliveries}
    assert originator not in posts
    assert (originator, "originator") in decision.set_aside()
    members = table.collective_named(collective)
    assert members is not None
    assert set(members.members) - {originator} <= posts | {i.post for i in decision.intercepts}


def test_the_committed_table_defines_an_aig_that_routes(table: RoutingTable) -> None:
    """§222a's `TO AIG 205` on the committed table: its action posts act, its info posts are informed."""
    text = (
        "VZCZCXYZ0001\nOO RUEHWEB\nDE RUEHC 177 14/1529Z\nZNR UUUUU\nO R 141527Z MAR 09\n"
        "TO AIG 205\n\nUNCLAS STATE 000177\n"
    )
    decision = decide(parse_cable(text), table)
    got = {(d.post, d.role, d.precedence.value, d.via) for d in decision.deliveries}
    assert got == {
        ("RUEHBJ", "action", "IMMEDIATE", "AIG 205"),
        ("RUEHKO", "action", "IMMEDIATE", "AIG 205"),
        ("RUEHUL", "action", "IMMEDIATE", "AIG 205"),
        ("RHHMUNA", "info", "ROUTINE", "AIG 205"),
        ("RUEKJCS", "info", "ROUTINE", "AIG 205"),
    }
    assert decision.intercepts == ()


def test_the_standards_aig_example_routes_on_the_committed_table(table: RoutingTable) -> None:
    """ACP 127 §222a's own message, TO AIG 205 at ROUTINE, reaches the committed table's AIG 205."""
    text = (
        "VZCZCABC027\nRR RUWSPH RUHPB\nDE RUECW 177C 1661529\nZNR UUUUU\nR 141527Z MAR\nTO AIG 205\nBT\n"
        "UNCLAS WHAT WAS 1500Z POSITION\nOF USS ESTES\nBT\nC WA 1500Z POSITION\nNNNN\n"
    )
    decision = decide(parse_cable(text), table)
    assert sorted((d.post, d.role, d.precedence.value) for d in decision.deliveries) == [
        ("RHHMUNA", "info", "ROUTINE"),
        ("RUEHBJ", "action", "ROUTINE"),
        ("RUEHKO", "action", "ROUTINE"),
        ("RUEHUL", "action", "ROUTINE"),
        ("RUEKJCS", "info", "ROUTINE"),
    ]
