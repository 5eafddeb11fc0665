"""Routing invariants over generated tables and cables, decided and end to end through the switch."""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path
from typing import NamedTuple

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from router import Classification, parse_cable
from router.bus.memory import MemoryBroker
from router.cable.security import US_ONLY_CAVEATS
from router.journal.store import Journal
from router.network.channel import read_copy
from router.routing.decide import RoutingDecision, decide
from router.routing.table import RoutingTable, is_routing_indicator, parse_table
from tests import helpers

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


# End to end: the rule as the posts see it, on the copies the switch actually publishes.

BANNERS = {
    Classification.UNCLASSIFIED: ["UNCLAS", "UNCLASSIFIED"],
    Classification.CONFIDENTIAL: ["C O N F I D E N T I A L", "CONFIDENTIAL"],
    Classification.SECRET: ["S E C R E T", "SECRET"],
    Classification.TOP_SECRET: ["T O P S E C R E T", "TOP SECRET"],
}
FL4 = {
    Classification.UNCLASSIFIED: "ZNR UUUUU",
    Classification.RESTRICTED: "ZNY RRRRR",
    Classification.CONFIDENTIAL: "ZNY CCCCC",
    Classification.SECRET: "ZNY SSSSS",
    Classification.TOP_SECRET: "ZNY TTTTT",
}
WRITTEN_CAVEATS = {
    "NOFORN": ["NOFORN", "N O F O R N"],
    "NODIS": ["NODIS"],
    "EXDIS": ["EXDIS"],
    "SIPDIS": ["SIPDIS"],
}
FOREIGN_RELAYED = "RFHHQQQ/ALLIED STATION"
US_RELAYED = "RUEHQQQ/AMEMBASSY ELSEWHERE"


class Sent(NamedTuple):
    """A generated cable and what it truly carries, whatever the parser makes of it."""

    text: str
    level: Classification
    caveats: frozenset[str]


@st.composite
def marked_tables(draw: st.DrawFn) -> tuple[str, list[str]]:
    """A table whose posts have any clearance, some marked foreign, and collectives mixing them."""
    ris = draw(st.lists(st.sampled_from(RIS), min_size=1, max_size=8, unique=True))
    lines = [
        "[defaults]\nbaud = 0\nwindow = 100\n",  # unthrottled lines: every copy goes out at once
        '[[relays]]\nprefix = "RUEH"\nname = "STATE"\n',
        '[[relays]]\nprefix = "RFHH"\nname = "ALLIED"\n',
    ]
    pool = []
    for ri in ris:
        pool += [f"AMEMBASSY {ri[4:]}TOWN", f"{ri}/SOMEONE"]
        foreign = "foreign = true\n" if draw(st.booleans()) else ""
        clearance = draw(st.sampled_from(LEVELS))
        lines.append(
            f'[[posts]]\nri = "{ri}"\nnames = ["AMEMBASSY {ri[4:]}TOWN"]\n'
            f'clearance = "{clearance}"\n{foreign}'
        )
    for index in range(draw(st.integers(0, 2))):
        members = draw(st.lists(st.sampled_from(ris), min_size=1, max_size=len(ris), unique=True))
        pool.append(f"GROUP {'AB'[index]} COLLECTIVE")
        lines.append(f'[[collectives]]\nname = "GROUP {"AB"[index]} COLLECTIVE"\nmembers = {members!r}\n')
    return "\n".join(lines).replace("'", '"'), [*pool, FOREIGN_RELAYED, US_RELAYED]


@st.composite
def marked_cables(draw: st.DrawFn, pool: list[str], serial: int) -> Sent:
    """A cable of either family to any of ``pool``, its classification and caveats written as in real ones.

    ACP 126 (no FL4), ACP 127 with FL4 (the higher of FL4 and the banner rules), ACP 127 without FL4
    (§203b(2)); and an ACP 127 cable with neither FL4 nor banner, which needs an approved channel:
    at least RESTRICTED.
    """
    to = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=4))
    info = draw(st.lists(st.sampled_from(pool), max_size=4))
    xmt = draw(st.lists(st.sampled_from([p for p in pool if "/" not in p]), max_size=1))
    address = "TO " + "\n".join(to) + ("\nINFO " + "\n".join(info) if info else "")
    address += "\nXMT " + xmt[0] if xmt else ""
    letters = draw(st.sampled_from(["R", "P", "O", "Z", "O R"]))
    heading = f"{letters} 0{serial}1200Z JAN 09\nFM AMEMBASSY ROME\n{address}\n"
    routing = f"VZCZCXYZ000{serial}\n{letters[0] * 2} RUEHWEB\nDE RUEHRO #000{serial} 00{serial}1200\n"
    form = draw(st.sampled_from(["acp126", "fl4", "no-fl4", "unmarked"]))
    if form == "unmarked":
        return Sent(
            f"{routing}{heading}\nNOTHING SAYS HOW SECRET THIS IS\n", Classification.RESTRICTED, frozenset()
        )
    level = draw(st.sampled_from(list(BANNERS)))
    banner = draw(st.sampled_from(BANNERS[level]))
    caveats = frozenset(draw(st.lists(st.sampled_from(sorted(WRITTEN_CAVEATS)), max_size=2, unique=True)))
    lines = [draw(st.sampled_from(WRITTEN_CAVEATS[caveat])) for caveat in sorted(caveats)]
    if form == "fl4":
        warning = draw(st.sampled_from(list(FL4)))
        level = max(level, warning)
        heading = f"{routing}{FL4[warning]}\n{heading}"
    elif form == "no-fl4":
        heading = routing + heading
    text = f"{heading}\n{banner} ROME 00000{serial}\n" + "\n".join(lines) + "\n\nSUBJECT: TEST\n"
    return Sent(text, level, caveats)


@st.composite
def traffic(draw: st.DrawFn) -> tuple[str, list[Sent]]:
    """A marked table and a few cables on it."""
    toml, pool = draw(marked_tables())
    count = draw(st.integers(1, 4))
    return toml, [draw(marked_cables(pool, serial)) for serial in range(1, count + 1)]


async def published_copies(table: RoutingTable, sent: list[Sent], journal: Path) -> list[tuple[str, bytes]]:
    """Every copy the switch publishes for ``sent``: (post, payload), as many as it says it routed."""
    broker = MemoryBroker()
    posts, log, publisher = broker.connect(), broker.connect(), broker.connect()
    await posts.subscribe("cables/out/#")
    await log.subscribe("router/log")
    async with helpers.running(broker.connect(), Journal(journal), table):
        for number, cable in enumerate(sent):
            await publisher.publish(f"cables/in/{number}", cable.text.encode())
        routed: list[int] = []
        async with asyncio.timeout(10):
            async for message in log.messages():
                event = json.loads(message.payload)
                if event["event"] == "routed":
                    routed.append(event["deliveries"])
                    if len(routed) == len(sent):
                        break
        copies = sum(routed)
        received = await helpers.receive(posts, copies) if copies else []
    return [(m.topic.rsplit("/", 1)[1], m.payload) for m in received]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(traffic())
def test_no_copy_reaches_a_post_above_its_clearance_or_a_foreign_post_with_a_us_only_caveat(
    case: tuple[str, list[Sent]],
) -> None:
    """End to end: each copy published on cables/out/<RI> suits the post the table makes of <RI>."""
    toml, sent = case
    table = parse_table(toml)
    by_id = {parse_cable(cable.text).message_id: cable for cable in sent}
    with tempfile.TemporaryDirectory() as directory:
        copies = asyncio.run(published_copies(table, sent, Path(directory) / "journal.sqlite"))
    for ri, payload in copies:
        truth = by_id[parse_cable(read_copy(payload).cable).message_id]
        post = table.posts.get(ri) or table.relayed_station(ri)
        assert post is not None, ri
        assert truth.level <= post.clearance, (
            f"{truth.level.value} copy to {ri} cleared {post.clearance.value}"
        )
        if post.foreign:
            assert not truth.caveats & US_ONLY_CAVEATS, f"{sorted(truth.caveats)} copy to foreign {ri}"
