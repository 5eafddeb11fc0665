"""Routing invariants over generated tables and cables: clearance, one copy per post, accounting."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from router import Classification, parse_cable
from router.routing.decide import RoutingDecision, decide
from router.routing.table import RoutingTable, is_routing_indicator, parse_table

LEVELS = [c.value for c in Classification]
RIS = [f"RUEH{a}{b}" for a in "ABCDEFG" for b in "KLMN"]
CAVEATS = ["NOFORN", "SIPDIS", "EXDIS"]


@st.composite
def tables(draw: st.DrawFn) -> tuple[str, list[str], list[str]]:
    """A routing table in TOML, with the names of its posts and collectives."""
    ris = draw(st.lists(st.sampled_from(RIS), min_size=1, max_size=12, unique=True))
    lines = ['[[relays]]\nprefix = "RUEH"\nname = "STATE"\n']
    names = []
    for ri in ris:
        name = f"AMEMBASSY {ri[4:]}TOWN"
        names.append(name)
        lines.append(
            f'[[posts]]\nri = "{ri}"\nnames = ["{name}"]\nclearance = "{draw(st.sampled_from(LEVELS))}"\n'
            f"barred_caveats = {draw(st.lists(st.sampled_from(CAVEATS), max_size=2, unique=True))!r}\n"
        )
    collectives = []
    for index in range(draw(st.integers(0, 3))):
        members = draw(st.lists(st.sampled_from(ris), max_size=len(ris), unique=True))
        name = f"GROUP {'ABC'[index]} COLLECTIVE"
        collectives.append(name)
        lines.append(f'[[collectives]]\nname = "{name}"\nmembers = {members!r}\n')
    return "\n".join(lines).replace("'", '"'), names, collectives


@st.composite
def cases(draw: st.DrawFn) -> tuple[RoutingTable, str]:
    """A table and a cable addressed to its posts, collectives, relayed RIs and strangers."""
    toml, names, collectives = draw(tables())
    table = parse_table(toml)
    pool = names + collectives + ["AMEMBASSY NOWHERE", "RUEHQQQ/AMEMBASSY ELSEWHERE", "LOST COLLECTIVE"]
    pool += [f"{ri}/SOMEONE" for ri in table.posts]
    words = st.sampled_from(["", " IMMEDIATE", " PRIORITY", " FLASH", " NIACT IMMEDIATE", " 1234"])
    addressee = st.builds(
        lambda zen, a, w: f"{'ZEN/' if zen else ''}{a}{w}", st.booleans(), st.sampled_from(pool), words
    )
    to = draw(st.lists(addressee, min_size=0, max_size=6))
    info = draw(st.lists(addressee, max_size=6))
    xmt = draw(st.lists(st.sampled_from(names), max_size=2))
    level = draw(st.sampled_from(["UNCLAS", "C O N F I D E N T I A L", "S E C R E T", "TOP SECRET"]))
    caveats = draw(st.lists(st.sampled_from(CAVEATS), max_size=2, unique=True))
    letters = draw(st.sampled_from(["R", "P", "O", "Z", "O P"]))
    header = f"{letters} 011200Z JAN 09\nFM AMEMBASSY ROME\n"
    if to:
        header += "TO " + "\n".join(to) + "\n"
    if info:
        header += "INFO " + "\n".join(info) + "\n"
    if xmt and (to or info):
        header += "XMT " + "\n".join(xmt) + "\n"
    text = f"{header}\n{level} ROME 000001\n\n" + "\n".join(caveats) + "\n"
    return table, text


def check(table: RoutingTable, decision: RoutingDecision, text: str) -> None:
    cable = parse_cable(text)
    level = cable.classification or Classification.UNCLASSIFIED
    posts = [d.post for d in decision.deliveries]
    assert len(posts) == len(set(posts)), "a post got two copies"
    for delivery in decision.deliveries:
        assert is_routing_indicator(delivery.post)
        post = table.posts.get(delivery.post) or table.relayed_station(delivery.post)
        assert post is not None
        assert level <= post.clearance, "delivered above the post's clearance"
        assert not set(cable.caveats) & post.barred_caveats, "delivered against a barred caveat"
    assert decision.accounted_lines() >= {a.line for a in cable.addressees}, "an addressee line vanished"


@settings(max_examples=300, deadline=None)
@given(cases())
def test_routing_invariants_hold_on_generated_tables_and_cables(case: tuple[RoutingTable, str]) -> None:
    """No copy above clearance or against a caveat, one per post, every addressee line accounted for."""
    table, text = case
    check(table, decide(parse_cable(text), table), text)
