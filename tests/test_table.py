"""The routing table loader: a bad table is refused with its file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from router.cable.security import US_ONLY_CAVEATS
from router.errors import TableError
from router.routing.table import load_table, parse_table

GOOD = """[defaults]
clearance = "SECRET"

[[relays]]
prefix = "RUEH"
name = "STATE RELAY"

[[posts]]
ri = "RUEHC"
names = ["SECSTATE WASHDC"]

[[posts]]
ri = "RUEHFR"
names = ["AMEMBASSY PARIS"]

[[collectives]]
name = "EUROPEAN POLITICAL COLLECTIVE"
members = ["RUEHFR"]
"""


def test_a_good_table_is_indexed() -> None:
    """Posts by RI and name, collectives by name, relays by prefix."""
    table = parse_table(GOOD)
    assert set(table.posts) == {"RUEHC", "RUEHFR"}
    post = table.post_named("SECSTATE WASHINGTON DC")
    assert post is not None
    assert post.ri == "RUEHC"
    collective = table.collective_named("european political collective")
    assert collective is not None
    assert collective.members == ("RUEHFR",)
    relay = table.relay_for("RUEHXX")
    assert relay is not None
    assert relay.prefix == "RUEH"
    assert table.relay_for("RHMFISS") is None


@pytest.mark.parametrize(
    ("change", "line", "field", "reason"),
    [
        (('clearance = "SECRET"\n', 'clearance = "SEKRET"\n'), 2, "defaults.clearance", "Input should be"),
        (('ri = "RUEHFR"', 'ri = "RUEH/FR"'), 13, "posts.1.ri", "should match pattern"),
        (('ri = "RUEHFR"', 'ri = "RUEHC"'), 13, "posts.1.ri", "defined twice"),
        (('members = ["RUEHFR"]', 'members = ["RUEHZZ"]'), 18, "collectives.0.members", "not a post"),
        (('names = ["AMEMBASSY PARIS"]', "names = []"), 14, "posts.1.names", "at least 1"),
        (('prefix = "RUEH"', "prefix = 4"), 5, "relays.0.prefix", "valid string"),
        (("[[posts]]\nri", "[[posts]]\nbaud = -1\nri"), 9, "posts.0.baud", "greater than or equal"),
        (('name = "STATE RELAY"', 'name = "STATE RELAY"\nspeed = 3'), 7, "relays.0.speed", "Extra inputs"),
        (
            ('names = ["AMEMBASSY PARIS"]', 'names = ["AMEMBASSY PARIS"]\nforeign = "yes"'),
            15,
            "posts.1.foreign",
            "valid boolean",
        ),
    ],
)
def test_a_bad_table_says_file_line_and_field(
    change: tuple[str, str], line: int, field: str, reason: str
) -> None:
    """Each kind of mistake is reported at the line and field that carry it."""
    with pytest.raises(TableError) as caught:
        parse_table(GOOD.replace(*change, 1), source="routing.toml")
    assert (caught.value.line, caught.value.field) == (line, field)
    assert reason in caught.value.reason
    assert str(caught.value).startswith(f"routing.toml:{line}: {field}: ")


@pytest.mark.parametrize(
    ("alternate", "reason"),
    [
        ('"RUEHZZ"', "alternate RUEHZZ of post RUEHFR is not a post of the table"),
        ('"RUEHFR"', "post RUEHFR cannot be its own alternate route"),
        ('"RUEH/C"', "should match pattern"),
    ],
)
def test_a_bad_alternate_route_says_file_line_and_field(alternate: str, reason: str) -> None:
    """An alternate route (§302, §307) that is no other post of the table is refused at its own line."""
    change = ('names = ["AMEMBASSY PARIS"]', f'names = ["AMEMBASSY PARIS"]\nalternate = {alternate}')
    with pytest.raises(TableError) as caught:
        parse_table(GOOD.replace(*change, 1), source="routing.toml")
    assert (caught.value.line, caught.value.field) == (15, "posts.1.alternate")
    assert reason in caught.value.reason


def test_an_alternate_route_is_kept_with_its_post() -> None:
    """``alternate = "RUEHC"``: Paris's traffic may go by the Department's line; the Department has none."""
    table = parse_table(
        GOOD.replace('names = ["AMEMBASSY PARIS"]', 'names = ["AMEMBASSY PARIS"]\nalternate = "RUEHC"')
    )
    assert table.posts["RUEHFR"].alternate == "RUEHC"
    assert table.posts["RUEHC"].alternate is None


def test_toml_syntax_errors_carry_their_line(tmp_path: Path) -> None:
    """A TOML syntax error is reported with the file and the line of the error."""
    path = tmp_path / "routing.toml"
    path.write_text(GOOD.replace('names = ["SECSTATE WASHDC"]', 'names = ["SECSTATE WASHDC"'))
    with pytest.raises(TableError) as caught:
        load_table(path)
    assert caught.value.path == str(path)
    assert caught.value.line == 12  # where tomllib notices the unclosed array


def test_a_missing_table_is_a_table_error(tmp_path: Path) -> None:
    """A table that cannot be read is a TableError, not a traceback."""
    with pytest.raises(TableError, match="cannot read"):
        load_table(tmp_path / "absent.toml")


def test_a_foreign_post_is_barred_every_us_only_caveat() -> None:
    """``foreign = true`` bars NOFORN and State's distribution captions, besides the post's own bars."""
    foreign = (
        '[[posts]]\nri = "RFHHAAA"\nnames = ["ALLIED LIAISON"]\nforeign = true\nbarred_caveats = ["ORCON"]\n'
    )
    table = parse_table(GOOD + foreign)
    post = table.posts["RFHHAAA"]
    assert post.foreign
    assert post.barred_caveats == US_ONLY_CAVEATS | {"ORCON"}
    assert {"NOFORN", "NODIS", "EXDIS"} <= US_ONLY_CAVEATS
    assert not table.posts["RUEHFR"].foreign
    assert table.posts["RUEHFR"].barred_caveats == frozenset()


def test_a_station_known_only_by_a_foreign_relay_is_foreign() -> None:
    """An RI under a relay whose nation letter is not U or H (ACP 117) is a foreign station."""
    table = parse_table(GOOD + '\n[[relays]]\nprefix = "RFHH"\nname = "ALLIED RELAY"\n')
    allied, american = table.relayed_station("RFHHXYZ"), table.relayed_station("RUEHXYZ")
    assert allied is not None
    assert american is not None
    assert (allied.foreign, allied.barred_caveats) == (True, US_ONLY_CAVEATS)
    assert (american.foreign, american.barred_caveats) == (False, frozenset())


AIGS = (
    GOOD
    + """
[[aigs]]
number = 205
title = "EUROPEAN REPORTS"
originator = "RUEHC"
action = ["RUEHFR"]
info = ["RUEHC"]
"""
)


def test_an_aig_is_indexed_by_number_without_its_originator() -> None:
    """[[aigs]]: a number, its action and info posts; the originator it is made for is no addressee."""
    aig = parse_table(AIGS).aigs[205]
    assert (aig.name, aig.title, aig.originator) == ("AIG 205", "EUROPEAN REPORTS", "RUEHC")
    assert [p.ri for p in aig.action] == ["RUEHFR"]
    assert aig.info == ()


@pytest.mark.parametrize(
    ("change", "line", "field", "reason"),
    [
        (('action = ["RUEHFR"]', 'action = ["RUEHZZ"]'), 24, "aigs.0.action", "not a post"),
        (('info = ["RUEHC"]', 'info = ["RUEHFR"]'), 25, "aigs.0.info", "both an action and an info"),
        (('originator = "RUEHC"', 'originator = "RUEHZZ"'), 23, "aigs.0.originator", "not a post"),
        (("number = 205", "number = 0"), 21, "aigs.0.number", "greater than or equal"),
        (('title = "EUROPEAN REPORTS"\n', ""), 20, "aigs.0.title", "Field required"),
        (('action = ["RUEHFR"]\ninfo = ["RUEHC"]', ""), 20, "aigs.0.action", "no action or info"),
    ],
)
def test_a_bad_aig_says_file_line_and_field(
    change: tuple[str, str], line: int, field: str, reason: str
) -> None:
    """An AIG's mistakes are reported at their line and field, as the rest of the table's."""
    with pytest.raises(TableError) as caught:
        parse_table(AIGS.replace(*change, 1), source="routing.toml")
    assert (caught.value.line, caught.value.field) == (line, field)
    assert reason in caught.value.reason
    assert str(caught.value).startswith(f"routing.toml:{line}: {field}: ")


def test_an_aig_number_defined_twice_is_refused_at_the_second() -> None:
    """Two [[aigs]] with one number: the second is refused at its number's line."""
    twice = AIGS + '\n[[aigs]]\nnumber = 205\ntitle = "AGAIN"\naction = ["RUEHFR"]\n'
    with pytest.raises(TableError) as caught:
        parse_table(twice, source="routing.toml")
    assert (caught.value.line, caught.value.field) == (28, "aigs.1.number")


def test_a_designation_stands_for_every_post_of_its_name_or_for_its_ri() -> None:
    """XMT, ZEN and FM name stations: by RI when it is a post, else by name, namesakes included."""
    namesakes = GOOD + '\n[[posts]]\nri = "RUEHSR"\nnames = ["AMEMBASSY PARIS"]\n'
    table = parse_table(namesakes)
    assert table.designated(None, "AMEMBASSY PARIS") == {"RUEHFR", "RUEHSR"}
    assert table.designated("RUEHSR", "AMEMBASSY PARIS") == {"RUEHSR"}
    assert table.designated("RUEHQQ", "AMEMBASSY PARIS") == {"RUEHFR", "RUEHSR"}  # an RI no post has
    assert table.designated("RUEHQQ", "NOWHERE") == {"RUEHQQ"}
    assert table.designated(None, "NOWHERE") == frozenset()
