"""The network of switching centres: the committed description, its validation, and FL2 segregation."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from hypothesis import given
from hypothesis import strategies as st

from router.cable.parser import parse_cable
from router.errors import TableError
from router.network.line import code_for
from router.routing.network import LOCAL, Network
from router.routing.network_description import DEFAULT_NETWORK, load_network, parse_network
from router.routing.table import load_table

if TYPE_CHECKING:
    from pathlib import Path

SMALL = """[[centres]]
name = "BELTSVILLE"
serves = ["RUEH"]

[[centres]]
name = "DETRICK"
serves = ["RUE", "RUC"]

[[centres]]
name = "TINKER"
serves = ["RUW"]

[[centres]]
name = "WAHIAWA"
serves = ["RUH"]

[[trunks]]
between = ["BELTSVILLE", "DETRICK"]
baud = 4800

[[trunks]]
between = ["BELTSVILLE", "TINKER"]
baud = 2400

[[trunks]]
between = ["DETRICK", "TINKER"]
baud = 4800

[[trunks]]
between = ["DETRICK", "WAHIAWA"]
baud = 2400

[[trunks]]
between = ["TINKER", "WAHIAWA"]
baud = 2400

[[doctrine]]
centre = "BELTSVILLE"
prefixes = ["RUE", "RUC", "RUH"]
primary = "DETRICK"
alternate = "TINKER"

[[doctrine]]
centre = "BELTSVILLE"
prefixes = ["RUW"]
primary = "TINKER"
alternate = "DETRICK"

[[doctrine]]
centre = "DETRICK"
prefixes = ["RUEH"]
primary = "BELTSVILLE"
alternate = "TINKER"

[[doctrine]]
centre = "DETRICK"
prefixes = ["RUW"]
primary = "TINKER"
alternate = "BELTSVILLE"

[[doctrine]]
centre = "DETRICK"
prefixes = ["RUH"]
primary = "WAHIAWA"
alternate = "TINKER"

[[doctrine]]
centre = "TINKER"
prefixes = ["RUEH"]
primary = "BELTSVILLE"
alternate = "DETRICK"

[[doctrine]]
centre = "TINKER"
prefixes = ["RUE", "RUC"]
primary = "DETRICK"
alternate = "BELTSVILLE"

[[doctrine]]
centre = "TINKER"
prefixes = ["RUH"]
primary = "WAHIAWA"
alternate = "DETRICK"

[[doctrine]]
centre = "WAHIAWA"
prefixes = ["RUEH", "RUE", "RUC"]
primary = "DETRICK"
alternate = "TINKER"

[[doctrine]]
centre = "WAHIAWA"
prefixes = ["RUW"]
primary = "TINKER"
alternate = "DETRICK"
"""

# The Tokyo cable's addressees (corpus/seed-tokyo-1571.txt), with a post in Europe added, as the
# routing line the originating centre made of them.
TOKYO_AT_DETRICK = """VZCZCXYZ0000
OO RUEHC RUEHBJ RHHMUNA RUEAIIA RUKAAKA RUEHUL RHEHAAA RHMFISS
DE RUEHKO #1571 1610901
ZNY CCCCC ZZH
O 090901Z JUN 08
FM AMEMBASSY TOKYO
TO RUEHC/SECSTATE WASHDC IMMEDIATE 4887
INFO RUEHBJ/AMEMBASSY BEIJING IMMEDIATE 3785
BT
C O N F I D E N T I A L TOKYO 001571
BT
NNNN
"""


@pytest.fixture(scope="module")
def network() -> Network:
    return load_network()


@pytest.fixture(scope="module")
def small() -> Network:
    return parse_network(SMALL, source="small.toml")


# --- the committed network


def test_the_committed_network_has_at_least_four_centres_joined_by_fast_trunks(network: Network) -> None:
    """Four centres or more; every trunk runs at 2400 baud or more, so in ASCII (DOMAIN.md, line codes)."""
    assert DEFAULT_NETWORK.name == "network.toml"
    assert len(network.centres) >= 4
    assert network.trunks
    for trunk in network.trunks.values():
        assert trunk.line.baud >= 2400
        assert (trunk.line.code or code_for(trunk.line.baud)) == "ascii"


def test_every_post_of_the_routing_table_belongs_to_exactly_one_centre(network: Network) -> None:
    """For each post, exactly one centre holds the longest prefix of its RI (the issue's acceptance)."""
    table = load_table()
    for ri in table.posts:
        matches = [
            (len(prefix), centre.name)
            for centre in network.centres.values()
            for prefix in centre.serves
            if ri.startswith(prefix)
        ]
        assert matches, f"{ri} belongs to no centre"
        longest = max(length for length, _ in matches)
        owners = {name for length, name in matches if length == longest}
        assert len(owners) == 1, f"{ri} belongs to {owners}"
        centre = network.centre_of(ri)
        assert centre is not None
        assert {centre.name} == owners


def test_state_traffic_homes_on_the_state_relay_and_the_longest_prefix_wins(network: Network) -> None:
    """RUEH is State's relay (DOMAIN.md): RUEHKO is BELTSVILLE's, RUEAIIA under the shorter RUE is not."""
    assert (centre := network.centre_of("RUEHKO")) is not None
    assert centre.name == "BELTSVILLE"
    assert (centre := network.centre_of("RUEAIIA")) is not None
    assert centre.name == "DETRICK"
    assert network.centre_of("RSAAA") is None


def test_the_committed_doctrine_names_a_primary_and_an_alternate_neighbour_everywhere(
    network: Network,
) -> None:
    """ACP 127 §302: for each centre, every prefix served elsewhere has primary and alternative routes."""
    for name in network.centres:
        neighbours = set(network.neighbours(name))
        for prefix in network.served_prefixes():
            if network.served_by(prefix) == name:
                assert (name, prefix) not in network.doctrine
                continue
            route = network.doctrine[name, prefix]
            assert route.primary != route.alternate
            assert {route.primary, route.alternate} <= neighbours


def test_the_committed_doctrine_reaches_every_server_with_any_one_trunk_out(network: Network) -> None:
    """From every centre each prefix reaches its server, all trunks up or any one out (§307): no loop."""
    outages = [frozenset(), *(frozenset((trunk,)) for trunk in network.trunks.values())]
    for prefix in network.served_prefixes():
        for out in outages:
            for start in network.centres:
                assert network.walk(start, prefix, out)[-1] == network.served_by(prefix)


# --- routing line segregation


def test_a_routing_line_is_segregated_into_one_copy_per_path_not_per_post(network: Network) -> None:
    """ACP 127 §303a(3)-(4): DETRICK sends one copy to each next centre, FL2 cut to the RIs that way."""
    cable = parse_cable(TOKYO_AT_DETRICK)
    paths = network.paths("DETRICK", cable.relay_ris)
    assert paths.hops == {
        "BELTSVILLE": ("RUEHC", "RUEHBJ", "RUEHUL"),
        "WAHIAWA": ("RHHMUNA",),
        LOCAL: ("RUEAIIA", "RHEHAAA", "RHMFISS"),
        "PIRMASENS": ("RUKAAKA",),
    }
    assert list(paths.hops) == ["BELTSVILLE", "WAHIAWA", LOCAL, "PIRMASENS"]
    assert paths.unserved == ()


def test_a_routing_line_all_one_way_goes_on_unchanged(network: Network) -> None:
    """ACP 127 §311c: when every RI of FL2 is reached by one path, the message is relayed without change."""
    line = ("RUKAAKA", "RHLFABN", "RXFEAA")
    assert network.paths("DETRICK", line).hops == {"PIRMASENS": line}


def test_an_ri_written_twice_is_in_its_copy_once(small: Network) -> None:
    """A copy's FL2 names each station once, in the order first written."""
    assert small.paths("BELTSVILLE", ["RUWAAA", "RUEHKO", "RUWAAA"]).hops == {
        "TINKER": ("RUWAAA",),
        LOCAL: ("RUEHKO",),
    }


def test_an_ri_no_centre_serves_comes_back_apart_for_interception(small: Network) -> None:
    """Unroutable RIs are not dropped (DOMAIN.md, intercept): they come back apart from every path."""
    paths = small.paths("DETRICK", ["RSAAA", "RUCAAA", "RUH", "QXYZ"])
    assert paths.hops == {LOCAL: ("RUCAAA",), "WAHIAWA": ("RUH",)}
    assert paths.unserved == ("RSAAA", "QXYZ")


def test_copies_for_a_trunk_out_too_long_take_the_alternate(small: Network) -> None:
    """ACP 127 §307: the caller marks the trunk out for a FLASH copy; only that trunk's RIs go round."""
    out = small.trunk("DETRICK", "TINKER")
    assert out is not None
    line = ["RUWAAA", "RUEHKO", "RUHAAA"]
    assert small.paths("DETRICK", line).hops == {
        "TINKER": ("RUWAAA",),
        "BELTSVILLE": ("RUEHKO",),
        "WAHIAWA": ("RUHAAA",),
    }
    diverted = small.paths("DETRICK", line, use_alternate={out})
    assert diverted.hops == {"BELTSVILLE": ("RUWAAA", "RUEHKO"), "WAHIAWA": ("RUHAAA",)}
    assert small.walk("DETRICK", "RUW", {out}) == ("DETRICK", "BELTSVILLE", "TINKER")


def test_with_both_ways_out_a_copy_waits_for_the_primary(small: Network) -> None:
    """§307: an alternative route "if available"; with the alternate's trunk out too, the primary stays."""
    both = {small.trunk("DETRICK", "TINKER"), small.trunk("BELTSVILLE", "DETRICK")}
    assert small.next_hop("DETRICK", "RUWAAA", {t for t in both if t is not None}) == "TINKER"


# --- validation: file, line and field


def _line(text: str, mark: str) -> int:
    """The line of ``mark`` in ``text``; ``context>>fragment``: the first ``fragment`` after ``context``."""
    context, _, fragment = mark.rpartition(">>")
    start = text.index(context) if context else 0
    return text[: text.index(fragment, start)].count("\n") + 1


_B_RUW = 'prefixes = ["RUW"]\nprimary = "TINKER"\nalternate = "DETRICK"'
_B_RUW_BY_DETRICK = 'prefixes = ["RUW"]\nprimary = "DETRICK"\nalternate = "TINKER"'
_D_RUW = 'prefixes = ["RUW"]\nprimary = "TINKER"\nalternate = "BELTSVILLE"'
_D_RUW_BY_BELTSVILLE = 'prefixes = ["RUW"]\nprimary = "BELTSVILLE"\nalternate = "TINKER"'
_W_RUE = 'prefixes = ["RUEH", "RUE", "RUC"]\nprimary = "DETRICK"\nalternate = "TINKER"'


@pytest.mark.parametrize(
    ("changes", "mark", "field", "reason"),
    [
        (
            [('name = "TINKER"', 'name = "DETRICK"')],
            'serves = ["RUE", "RUC"]>>name',
            "centres.2.name",
            "twice",
        ),
        (
            [('serves = ["RUW"]', 'serves = ["RUW", "RUC"]')],
            '"RUW", "RUC"',
            "centres.2.serves",
            "already by DETRICK",
        ),
        (
            [('serves = ["RUW"]', 'serves = ["RUW", "RUW"]')],
            '"RUW", "RUW"',
            "centres.2.serves",
            "twice by it",
        ),
        ([('serves = ["RUH"]', 'serves = ["ruh"]')], '"ruh"', "centres.3.serves.0", "should match pattern"),
        (
            [('between = ["TINKER", "WAHIAWA"]', 'between = ["TINKER", "GUAM"]')],
            '"GUAM"',
            "trunks.4.between",
            "no centre",
        ),
        (
            [('between = ["TINKER", "WAHIAWA"]', 'between = ["TINKER", "TINKER"]')],
            '"TINKER", "TINKER"',
            "trunks.4.between",
            "to itself",
        ),
        (
            [('between = ["TINKER", "WAHIAWA"]', 'between = ["WAHIAWA", "DETRICK"]')],
            '"WAHIAWA", "DETRICK"',
            "trunks.4.between",
            "second trunk",
        ),
        ([("baud = 4800\n", "baud = -1\n")], "baud = -1", "trunks.0.baud", "greater than or equal"),
        ([("baud = 2400\n", "baud = 2400\nspeed = 3\n")], "speed = 3", "trunks.1.speed", "Extra inputs"),
        (
            [('primary = "DETRICK"\nalternate = "TINKER"', 'primary = "ANDREWS"\nalternate = "TINKER"')],
            '"ANDREWS"',
            "doctrine.0.primary",
            "no centre",
        ),
        (
            [
                (
                    'prefixes = ["RUE", "RUC", "RUH"]\nprimary = "DETRICK"\nalternate = "TINKER"',
                    'prefixes = ["RUE", "RUC", "RUH"]\nprimary = "DETRICK"\nalternate = "DETRICK"',
                )
            ],
            'alternate = "DETRICK"',
            "doctrine.0.alternate",
            "the primary itself",
        ),
        (
            [(_W_RUE, _W_RUE.replace('"TINKER"', '"BELTSVILLE"'))],
            '"RUEH", "RUE", "RUC"]>>alternate',
            "doctrine.8.alternate",
            "not joined to WAHIAWA",
        ),
        # A centre relays on FL2 alone, by its own doctrine (§303a(3), §308c(2)): a copy sent
        # round in a circle would go round for ever, so the doctrine is refused at the step
        # that closes the circle, with all trunks up and with any one out.
        (
            [(_B_RUW, _B_RUW_BY_DETRICK), (_D_RUW, _D_RUW_BY_BELTSVILLE)],
            'centre = "DETRICK"\nprefixes = ["RUW"]>>primary',
            "doctrine.3.primary",
            "RUW loops: BELTSVILLE -> DETRICK -> BELTSVILLE",
        ),
        (
            [(_B_RUW, _B_RUW_BY_DETRICK)],
            'centre = "DETRICK"\nprefixes = ["RUW"]>>alternate',
            "doctrine.3.alternate",
            "RUW loops when trunk DETRICK-TINKER is out: BELTSVILLE -> DETRICK -> BELTSVILLE",
        ),
        (
            [('prefixes = ["RUE", "RUC", "RUH"]', 'prefixes = ["RUE", "RUC", "RUH", "RUEH"]')],
            '"RUH", "RUEH"',
            "doctrine.0.prefixes",
            "BELTSVILLE itself",
        ),
        (
            [('prefixes = ["RUE", "RUC", "RUH"]', 'prefixes = ["RUE", "RUC", "RUH", "RUX"]')],
            '"RUX"',
            "doctrine.0.prefixes",
            "served by no centre",
        ),
        (
            [
                (
                    'prefixes = ["RUW"]\nprimary = "TINKER"\nalternate = "DETRICK"',
                    'prefixes = ["RUW", "RUC"]\nprimary = "TINKER"\nalternate = "DETRICK"',
                )
            ],
            '"RUW", "RUC"',
            "doctrine.1.prefixes",
            "second route for RUC",
        ),
        (
            [('prefixes = ["RUE", "RUC", "RUH"]', 'prefixes = ["RUE", "RUH"]')],
            'name = "BELTSVILLE"',
            "centres.0.name",
            "no doctrine for RUC",
        ),
    ],
)
def test_a_bad_description_says_file_line_and_field(
    tmp_path: Path, changes: list[tuple[str, str]], mark: str, field: str, reason: str
) -> None:
    """Each kind of mistake is refused at the line and field that carry it, in the file named."""
    text = SMALL
    for old, new in changes:
        assert old in text
        text = text.replace(old, new, 1)
    path = tmp_path / "network.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(TableError) as caught:
        load_network(path)
    line = _line(text, mark)
    assert (caught.value.line, caught.value.field) == (line, field), caught.value
    assert reason in caught.value.reason
    assert str(caught.value).startswith(f"{path}:{line}: {field}: ")


def test_a_description_that_is_not_toml_says_the_line(tmp_path: Path) -> None:
    """A TOML syntax error names the file and the line of the mistake."""
    path = tmp_path / "network.toml"
    path.write_text(SMALL.replace("baud = 2400\n", "baud = \n", 1), encoding="utf-8")
    with pytest.raises(TableError) as caught:
        load_network(path)
    assert caught.value.line == _line(SMALL, "baud = 2400")
    assert "not valid TOML" in caught.value.reason


def test_a_description_that_cannot_be_read_says_so(tmp_path: Path) -> None:
    """A missing file is a `TableError` naming it, with no line."""
    with pytest.raises(TableError) as caught:
        load_network(tmp_path / "absent.toml")
    assert caught.value.line is None
    assert "cannot read the network description" in str(caught.value)


_SERVED = sorted(load_network().served_prefixes())
_SERVED_RI = st.builds(
    lambda prefix, tail: (prefix + tail)[:7],
    st.sampled_from(_SERVED),
    st.from_regex("[A-Z]{0,5}", fullmatch=True),
)


@given(ris=st.lists(_SERVED_RI | st.from_regex("[A-Z]{4,7}", fullmatch=True)))
def test_every_ri_of_a_routing_line_is_in_exactly_one_copy_or_set_apart(
    network: Network, ris: list[str]
) -> None:
    """§303a(2): each station called in FL2 is reached by one onward transmission, or set apart."""
    for centre in ("BELTSVILLE", "WAHIAWA"):
        paths = network.paths(centre, ris)
        sent = [ri for line in paths.hops.values() for ri in line]
        assert sorted([*sent, *paths.unserved]) == sorted(set(ris))
        assert set(paths.hops) <= {LOCAL, *network.neighbours(centre)}
