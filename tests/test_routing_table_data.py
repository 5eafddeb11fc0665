"""The committed routing table (config/routing.toml): what its script builds, complete and consistent."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from router import parse_cable
from router.cable.addressee import looks_collective
from router.cable.names import normalise_name

ROOT = Path(__file__).resolve().parent.parent
TABLE = ROOT / "config" / "routing.toml"
SCRIPT = ROOT / "scripts" / "build_routing_table.py"

SCHEMA = {
    "relays": ({"prefix", "name"}, set()),
    "posts": ({"ri", "names"}, {"clearance", "foreign", "barred_caveats", "baud", "window"}),
    "collectives": ({"name", "basis", "members"}, {"ri", "aliases"}),
    "aigs": ({"number", "title", "basis"}, {"originator", "action", "info"}),
}
CLEARANCES = {"UNCLASSIFIED", "CONFIDENTIAL", "SECRET", "TOP SECRET"}
# A station line of the RI tables: the RI, or an RI range (cable2graph writes `HRU` for `THRU`).
STATION = re.compile(r"^\s*(R[A-Z]{3,6})(?:\s+T?HRU\s+(R[A-Z]{3,6}))?(?:\s|,|$)")


@pytest.fixture(scope="module")
def table() -> dict[str, Any]:
    """The committed routing table, as the router reads it."""
    with TABLE.open("rb") as file:
        return tomllib.load(file)


@pytest.fixture(scope="module")
def shared_root(corpus_dir: Path) -> Path:
    """The shared directory the table is built from (skips when it is not beside the checkout)."""
    return corpus_dir.parent.parent


def stations(routing: Path) -> list[tuple[str, str | None]]:
    """Every station of the three RI tables: an RI, or the first and last RI of a range."""
    names = ("acp117-2010-routes.txt", "route2name.csv", "cable2graph-routing.codes")
    lines = [line for name in names for line in (routing / name).read_text(encoding="utf-8").splitlines()]
    return [(match.group(1), match.group(2)) for line in lines if (match := STATION.match(line))]


def test_table_is_what_the_script_builds(shared_root: Path, tmp_path: Path) -> None:
    """Regenerating the table from the shared sources reproduces the committed file byte for byte."""
    out = tmp_path / "routing.toml"
    command = [sys.executable, str(SCRIPT), "--shared", str(shared_root), "--out", str(out)]
    subprocess.run(command, check=True, capture_output=True, timeout=100)  # noqa: S603 (our own script)
    assert out.read_text(encoding="utf-8") == TABLE.read_text(encoding="utf-8")


def test_table_has_only_schema_keys(table: dict[str, Any]) -> None:
    """Every section and entry carries its required keys and no key outside the schema."""
    assert set(table) == {"defaults", *SCHEMA}
    assert set(table["defaults"]) == {"clearance", "baud", "window"}
    for section, (required, optional) in SCHEMA.items():
        for entry in table[section]:
            assert required <= set(entry) <= required | optional, entry


def test_optional_keys_are_not_empty_or_default(table: dict[str, Any]) -> None:
    """An optional key is written only where it says something: no empty list, no copy of the default."""
    for post in table["posts"]:
        assert post.get("clearance", "") != table["defaults"]["clearance"]
        assert post.get("clearance", "SECRET") in CLEARANCES
        assert post.get("barred_caveats", ["NOFORN"])
        assert post.get("foreign", True) is True
        assert post["names"]
    for collective in table["collectives"]:
        assert collective.get("aliases", ["alias"])


def test_sections_are_sorted_and_unique(table: dict[str, Any]) -> None:
    """Relays, posts and collectives are sorted by their key and no key occurs twice."""
    for section, key in (("relays", "prefix"), ("posts", "ri"), ("collectives", "name")):
        keys = [entry[key] for entry in table[section]]
        assert keys == sorted(set(keys)), section


def test_every_station_of_the_sources_is_in_the_table(shared_root: Path, table: dict[str, Any]) -> None:
    """Each station of the RI tables is a post, a relay or a collective of the table."""
    posts = {post["ri"] for post in table["posts"]}
    relays = {relay["prefix"] for relay in table["relays"]}
    known = posts | relays | {collective["ri"] for collective in table["collectives"] if "ri" in collective}
    # A range's ends are posts (part of the alphabet) or behind the relay it became (RHFJAAA THRU RHFJAAZ).
    range_relays = tuple(prefix for prefix in relays if len(prefix) > 4)

    def in_range_entry(ri: str) -> bool:
        return ri in posts or ri.startswith(range_relays)

    missing = [
        (first, last)
        for first, last in stations(shared_root / "data" / "routing")
        if not (in_range_entry(first) and in_range_entry(last) if last else first in known)
    ]
    assert missing == []


def test_secstate_is_ruehc(table: dict[str, Any]) -> None:
    """RUEHC is SECSTATE WASHDC, as real traffic writes it over a thousand times, before the tables' name."""
    ruehc = next(post for post in table["posts"] if post["ri"] == "RUEHC")
    assert ruehc["names"][0] == "SECSTATE WASHDC"
    assert "DEPT OF STATE WASHINGTON DC" in ruehc["names"]
    assert not any("SECSTATE WASHDC" in post["names"] for post in table["posts"] if post["ri"] != "RUEHC")


def test_most_frequent_collectives_have_members(corpus_dir: Path, table: dict[str, Any]) -> None:
    """The 25 collectives the corpus addresses most often are collectives of the table with members."""
    counts: Counter[str] = Counter()
    for path in sorted(corpus_dir.glob("*.txt")):
        cable = parse_cable(path.read_text(encoding="utf-8"))
        counts.update(normalise_name(a.name) for a in (*cable.to, *cable.info) if looks_collective(a.name))
    members = {
        normalise_name(spelling): collective["members"]
        for collective in table["collectives"]
        for spelling in (collective["name"], *collective.get("aliases", []))
    }
    top = [name for name, _ in counts.most_common(25)]
    assert [name for name in top if not members.get(name)] == []


def test_collective_members_are_posts(table: dict[str, Any]) -> None:
    """Every member RI of every collective is a post of the table, listed once."""
    posts = {post["ri"] for post in table["posts"]}
    for collective in table["collectives"]:
        assert collective["members"], collective["name"]
        assert collective["members"] == sorted(set(collective["members"]))
        assert set(collective["members"]) <= posts, collective["name"]


def test_collectives_are_not_posts(table: dict[str, Any]) -> None:
    """No post is named like a collective and no collective RI is a post."""
    posts = {post["ri"] for post in table["posts"]}
    assert not [name for post in table["posts"] for name in post["names"] if looks_collective(name)]
    assert not [c["ri"] for c in table["collectives"] if c.get("ri") in posts]


def test_foreign_stations_are_marked_foreign(table: dict[str, Any]) -> None:
    """A post whose RI is not a US one is foreign, unless real traffic sent it NOFORN cables."""
    cleared_by_traffic = {"RBDHDZA"}  # COMUSNAVCENT, a US command on a Bahraini RI
    for post in table["posts"]:
        foreign = post["ri"][1] not in "UH" and post["ri"] not in cleared_by_traffic
        assert post.get("foreign", False) == foreign, post["ri"]
    assert sum(post.get("foreign", False) for post in table["posts"]) > 150


@pytest.mark.parametrize("ri", ["RUEKJCS", "RUEAIIA", "RHEHNSC", "RHEFDIA", "RUMIAAA"])
def test_headquarters_take_top_secret(table: dict[str, Any], ri: str) -> None:
    """SECDEF and the Joint Staff, CIA, the NSC, DIA and a combatant command are cleared for TOP SECRET."""
    post = next(post for post in table["posts"] if post["ri"] == ri)
    assert post["clearance"] == "TOP SECRET"


@pytest.mark.parametrize("prefix", ["RUEH", "RHMF", "RHEH", "RUEK", "RUEA", "RHHM"])
def test_main_relays_are_present(table: dict[str, Any], prefix: str) -> None:
    """The State relay and the main DoD relay prefixes route RIs the table does not list."""
    assert prefix in {relay["prefix"] for relay in table["relays"]}
