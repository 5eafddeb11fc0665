"""Regenerate config/routing.toml, the routing table, from the RI tables, real traffic and the collectives."""

from __future__ import annotations

import argparse
import csv
import os
import re
import sys
import tomllib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tomlkit
import tomlkit.items

from router import Classification, RouterError, parse_cable
from router.cable.addressee import looks_collective
from router.cable.models import MONTHS
from router.cable.names import normalise_name
from router.cable.security import US_ONLY_CAVEATS
from router.routing.table import Relay, is_us_station

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("ROUTER_SHARED", ROOT.parent / "shared"))
OUTPUT = ROOT / "config" / "routing.toml"
COLLECTIVES = ROOT / "config" / "sources" / "collectives.toml"

# The RI tables, in order of authority: ACP 117 (2010) as text, the same book as CSV, then cable2graph's list.
# Where they give one RI different names, every name is kept; the first source names a relay.
ACP117 = "acp117-2010-routes.txt"
ROUTE2NAME = "route2name.csv"
CABLE2GRAPH = "cable2graph-routing.codes"
EMBASSY_LIST = "cable2graph-embassy.list"

# [defaults] of the table: SECRET is what a State post's channel was approved for; 75 baud is the teletype
# line speed of tape relay; 4 unacknowledged deliveries in flight per channel.
DEFAULT_CLEARANCE = "SECRET"
DEFAULT_BAUD = 75
DEFAULT_WINDOW = 4

_RI = r"R[A-Z]{3,6}"
# ACP 117 lines: the RI in column 11, an optional `THRU` range, the name; other lines (blank, a stray
# continuation `ST`) name no station.
_ACP117_LINE = re.compile(rf"^\s+({_RI})(?:\s+THRU\s+({_RI}))?\s+(\S.*?)\s*$")
# cable2graph's copy lost the T of THRU (`RHFJAAA     HRU RHFJAAZ NAVCOMTELSTA ...`).
_CABLE2GRAPH_LINE = re.compile(rf"^({_RI})\s+(?:T?HRU\s+({_RI})\s+)?(\S.*?)\s*$")
_CSV_RI = re.compile(rf"^({_RI})(?:\s+THRU\s+({_RI}))?$")
_BLANKS = re.compile(r"\s+")

# Real traffic leaks other fields into a name: an MCN the parser did not take (`AMEMBASSY PARIS 165`),
# the month of Bogota's MCN headings (`AMEMBASSY LA PAZ DEC 9085`, `... MAY LIMA 1905`), office symbols
# after one slash in plain names (`DIA WASHDC/DOR-2B`). None of it is part of the station's name.
_MCN_TAIL = re.compile(r"(?:\s+\d+)+$")
_MONTH_TAIL = re.compile(r"(?<=\S)\s+(?:" + "|".join(MONTHS) + r")(?:\s.*)?$")

# ACP 117 (2010) gives RUEHDIR to Nagoya and RUEHNAG to the Iran regional presence office in Dubai;
# 2008-2010 traffic writes RUEHDIR/IRAN RPO DUBAI and RPO DUBAI, so the book swapped the two rows.
_CORRECTIONS = {("RUEHDIR", "AMCONSUL NAGOYA"): "RUEHNAG"}

# A 4-letter prefix is a relay when it fronts at least this many distinct post RIs of the sources and the
# traffic. With 5 that adds RUEP, RUEA, RUMI, RUKT, RUSF, RUHD, RULS, RUCF, RZYX, RUZD, RUAC, RHEH, RUAY,
# RUVN, RUGI, RUKA, RKQP, RXFP, RNFP, RKQC, RUDK, RULW, RCEM, RUEI to the relays ACP 117 names itself
# (every 4-letter RI of the tables is a major relay or tributary station: RUEH, RUCN, RHMF, RHHM, ...).
_RELAY_MIN_RIS = 5
# RUEK fronts only three RIs of the sources, but RUEKJCS (SECDEF, Joint Staff, OSD) is the busiest DoD
# addressee of the corpus after the NSC: the Pentagon's traffic must have a relay to fall back on.
_REQUIRED_RELAYS = ("RUEK",)

# Military and intelligence headquarters take TOP SECRET traffic: SECDEF/OSD, the Joint Staff, the NSC, CIA,
# DIA, NSA, the DNI and NCTC, and the combatant commands (and their commanders' older CINC titles; not
# CINCSOUTH, which was NATO's Allied Forces Southern Europe).
_TOP_SECRET = re.compile(
    r"\b(?:SECDEF|OSD|JOINT STAFF|CJCS|JCS|NSC|NATIONAL SECURITY COUNCIL|CIA|DIA|DIRNSA|NSACSS|DNI|NCTC"
    r"|(?:US)?(?:AFRI|CENT|EU|JF|NORTH|PA|SO|SOUTH|SPACE|STRAT|TRANS)COM"
    r"|USCINC[A-Z]+|CINC(?:CENT|EUR|LANT|PAC|SO|STRAT|TRANS|SPACE|NORAD))\b"
)
# DMS message forwarding interfaces (RHMFISS, RHMFIUU, RHMCSUU) carry many commands' traffic; the last two
# letters are the classification of the gateway (SS secret, UU unclassified), whatever names ride on it.
_GATEWAY = re.compile(r"^RH[A-Z]{3}(SS|UU)$")
_GATEWAY_CLEARANCE = {"SS": "SECRET", "UU": "UNCLASSIFIED"}

ALL_STATE_POSTS = "all-state-posts"
# Names that make a RUEH station a State post abroad (for the check of the hand-written country map).
_STATE_POST_PREFIX = re.compile(
    r"^(?:AMEMBASSY|AMCONSUL|USMISSION|US MISSION|USINT|USEU|AIT|USLO|REO|RRT|APP) "
)


@dataclass(frozen=True, slots=True)
class TableRow:
    """One station of an RI table: an RI (or an RI range) and one of its names."""

    first: str
    last: str | None
    name: str


@dataclass(slots=True)
class Traffic:
    """What the corpus writes: how often each RI/name pair and each plain name occurs."""

    cables: int = 0
    pairs: Counter[tuple[str, str]] = field(default_factory=Counter)
    plain: Counter[str] = field(default_factory=Counter)
    highest: dict[str, Classification] = field(default_factory=dict)
    """The highest classification real traffic addressed to each RI."""
    caveats: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    """The caveats real traffic carried to each RI."""


@dataclass(slots=True)
class Post:
    """A station of the table: its RI and every name it goes by, traffic's spellings first."""

    ri: str
    names: list[str]
    clearance: str = DEFAULT_CLEARANCE
    foreign: bool = False
    barred_caveats: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Collective:
    """A collective as written out: spellings, RI, membership and the public fact it follows."""

    name: str
    ri: str | None
    aliases: tuple[str, ...]
    basis: str
    members: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Table:
    """The whole routing table, ready to be written."""

    relays: list[Relay]
    posts: list[Post]
    collectives: list[Collective]
    cables: int
    aigs: list[dict[str, Any]] = field(default_factory=list)
    """Address indicating groups, as collectives.toml writes them."""


def clean_table_name(name: str, ri: str) -> str:
    """A table's name in one spelling: upper case, single blanks, no trailing copy of its own RI."""
    text = _BLANKS.sub(" ", name.upper()).strip()
    return text.removesuffix(" " + ri).strip()


def clean_traffic_name(name: str) -> str:
    """A name as a cable wrote it, less the MCN, month and office-symbol debris that is not the name."""
    text = _MCN_TAIL.sub("", _BLANKS.sub(" ", name).strip())
    if looks_collective(text):
        return text  # `ARAB/LEAGUE COLLECTIVE`: the slash is a typo inside the name, not an office symbol
    text = _MCN_TAIL.sub("", text.split("/", 1)[0].strip()) or text
    return _MONTH_TAIL.sub("", text) or text


def read_acp117(path: Path) -> Iterator[TableRow]:
    """The stations of the ACP 117 text: RI (or range) and name, one per line."""
    for line in path.read_text(encoding="utf-8").splitlines():
        if match := _ACP117_LINE.match(line):
            for name in match.group(3).split(","):
                yield TableRow(match.group(1), match.group(2), clean_table_name(name, match.group(1)))


def read_route2name(path: Path) -> Iterator[TableRow]:
    """The stations of route2name.csv; a comma inside the name field separates several names."""
    with path.open(encoding="utf-8", newline="") as rows:
        for ri_field, names in csv.reader(rows):
            if match := _CSV_RI.match(ri_field.strip()):
                for name in names.split(","):
                    yield TableRow(match.group(1), match.group(2), clean_table_name(name, match.group(1)))


def read_cable2graph(path: Path) -> Iterator[TableRow]:
    """The stations of cable2graph's routing.codes: RI (or range) and name, one per line."""
    for line in path.read_text(encoding="utf-8").splitlines():
        if match := _CABLE2GRAPH_LINE.match(line):
            for name in match.group(3).split(","):
                yield TableRow(match.group(1), match.group(2), clean_table_name(name, match.group(1)))


def read_tables(routing: Path) -> list[TableRow]:
    """Every station of the three RI tables, in order of authority, empty names dropped."""
    rows = [
        *read_acp117(routing / ACP117),
        *read_route2name(routing / ROUTE2NAME),
        *read_cable2graph(routing / CABLE2GRAPH),
    ]
    return [row for row in rows if row.name]


def expand_range(first: str, last: str) -> tuple[list[str], list[str]]:
    """The RIs of ``first THRU last``: single RIs, and the prefixes of runs that cover every letter A to Z.

    `RHFJAAA THRU RHFJAAZ` is everything behind RHFJAA (a relay prefix); `RUEAWJA THRU RUEAWJD` is four RIs;
    `RUWNABA THRU RUWNAMZ` is the twelve prefixes RUWNAB to RUWNAM.
    """
    if len(first) != len(last) or first > last:
        raise ValueError(f"not an RI range: {first} THRU {last}")
    low, high = _ri_number(first), _ri_number(last)
    if high - low > 26**3:
        raise ValueError(f"RI range too wide to be meant: {first} THRU {last}")
    ris = {_ri_text(number, len(first)) for number in range(low, high + 1)}
    prefixes: set[str] = set()
    while True:
        children: dict[str, int] = Counter(ri[:-1] for ri in ris | prefixes if len(ri) > 1)
        full = {prefix for prefix, count in children.items() if count == 26}
        if not full:
            break
        ris = {ri for ri in ris if ri[:-1] not in full}
        prefixes = {prefix for prefix in prefixes if prefix[:-1] not in full} | full
    return sorted(ris), sorted(prefixes)


def _ri_number(ri: str) -> int:
    """An RI read as a number in base 26 (A = 0), to count through a range."""
    number = 0
    for letter in ri:
        number = number * 26 + ord(letter) - ord("A")
    return number


def _ri_text(number: int, length: int) -> str:
    """The RI of ``length`` letters that :func:`_ri_number` reads as ``number``."""
    letters = []
    for _ in range(length):
        number, letter = divmod(number, 26)
        letters.append(chr(ord("A") + letter))
    return "".join(reversed(letters))


def read_traffic(cables: Path) -> Traffic:
    """Every RI/name pair the corpus writes (TO, INFO, XMT, and the DE line's RI with FM), and plain names."""
    traffic = Traffic()
    for path in sorted(cables.glob("*.txt")):
        try:
            cable = parse_cable(path.read_text(encoding="utf-8"))
        except RouterError:
            continue  # a cable the parser rejects writes no pair we can trust
        traffic.cables += 1
        written = [(a.ri, a.name) for a in (*cable.to, *cable.info)] + [(x.ri, x.name) for x in cable.xmt]
        if cable.originator:
            # The DE line names the station that put the cable on the wire, FM the originator it serves;
            # an ACP-126 cable has no DE line, and its FM is one more plain name.
            de_ri = cable.station_serial.originating_ri if cable.station_serial else None
            written.append((cable.originator_ri or de_ri, cable.originator))
        for addressee in (*cable.to, *cable.info):
            if addressee.ri and cable.classification is not None:
                seen = traffic.highest.get(addressee.ri, Classification.UNCLASSIFIED)
                traffic.highest[addressee.ri] = max(seen, cable.classification)
                traffic.caveats[addressee.ri].update(cable.caveats)
        for ri, raw in written:
            name = clean_traffic_name(raw)
            if not name:
                continue
            if ri:
                traffic.pairs[ri, name] += 1
            else:
                traffic.plain[name] += 1
    return traffic


class Source:
    """config/sources/collectives.toml, read and checked: countries, groups and collectives."""

    def __init__(self, path: Path) -> None:
        with path.open("rb") as file:
            data = tomllib.load(file)
        self.countries: dict[str, dict[str, Any]] = data["countries"]
        self.groups: dict[str, list[str]] = data["groups"]
        self.collectives: list[dict[str, Any]] = data["collectives"]
        self.missions: list[str] = data["missions"]
        self.aigs: list[dict[str, Any]] = data.get("aigs", [])
        for group, countries in self.groups.items():
            unknown = [country for country in countries if country not in self.countries]
            if unknown:
                raise ValueError(f"group {group} names unknown countries: {unknown}")

    def spellings(self, collective: dict[str, Any]) -> list[str]:
        """The hand-written spellings of a collective: its name, then its aliases."""
        return [collective["name"], *collective.get("aliases", [])]

    def countries_of(self, names: Iterable[str]) -> list[str]:
        """Countries named directly or through a group, in order, each once."""
        countries: list[str] = []
        for name in names:
            if name in self.groups:
                countries.extend(self.groups[name])
            elif name in self.countries:
                countries.append(name)
            else:
                raise ValueError(f"neither a country nor a group: {name}")
        return list(dict.fromkeys(countries))

    def embassies(self, names: Iterable[str]) -> list[str]:
        """The embassy RIs of these countries (a country with no US embassy adds none)."""
        return [
            self.countries[country]["embassy"]
            for country in self.countries_of(names)
            if "embassy" in self.countries[country]
        ]

    def posts(self, names: Iterable[str]) -> list[str]:
        """Every post RI of these countries: the embassy and the other posts."""
        ris: list[str] = []
        for country in self.countries_of(names):
            entry = self.countries[country]
            ris.extend([entry["embassy"]] if "embassy" in entry else [])
            ris.extend(entry.get("posts", []))
        return ris

    def state_posts(self) -> list[str]:
        """Every US post abroad: the country map's posts and the missions, one RI per post (ACP 127 §222)."""
        return list(dict.fromkeys([*self.posts(self.countries), *self.missions]))


def most_common(counts: Counter[str], *, first: Iterable[str] = ()) -> list[str]:
    """Keys by falling count, ties in the order of ``first`` and then alphabetically (deterministic)."""
    rank = {key: index for index, key in enumerate(first)}
    return sorted(counts, key=lambda key: (-counts[key], rank.get(key, len(rank)), key))


class Builder:
    """Joins the RI tables, the traffic and the hand-written collectives into one table."""

    def __init__(self, rows: list[TableRow], traffic: Traffic, source: Source) -> None:
        self.rows = rows
        self.traffic = traffic
        self.source = source
        # A spelling is a collective's when looks_collective says so, or when collectives.toml lists it
        # (`EU MEMBER STATES`, `ASSOCIATION OF SOUTHEAST ASIAN NATIONS` carry RIs but not the word).
        self.collective_of: dict[str, int] = {}
        for index, collective in enumerate(source.collectives):
            for spelling in source.spellings(collective):
                key = normalise_name(spelling)
                if self.collective_of.setdefault(key, index) != index:
                    raise ValueError(f"{spelling} is a spelling of two collectives")

    def is_collective(self, name: str) -> bool:
        """Whether a name stands for many stations: then it is never a post's name."""
        return looks_collective(name) or normalise_name(name) in self.collective_of

    def build(self) -> Table:
        """The relays, posts and collectives, each sorted."""
        collective_ris = self.collective_ris()
        posts = self.posts(set(collective_ris.values()))
        relays = self.relays(posts)
        collectives = self.collectives(collective_ris, posts)
        posts_by_ri = sorted(posts.values(), key=lambda post: post.ri)
        aigs = sorted(self.source.aigs, key=lambda aig: aig["number"])
        return Table(relays, posts_by_ri, collectives, self.traffic.cables, aigs)

    def collective_ris(self) -> dict[int, str]:
        """The RI of each collective: as hand-written, else the one traffic writes most, else the tables'."""
        written: dict[int, Counter[str]] = defaultdict(Counter)
        for (ri, name), count in self.traffic.pairs.items():
            index = self.collective_of.get(normalise_name(name))
            if index is not None:
                written[index][ri] += count
        in_tables: dict[int, str] = {}
        for row in self.rows:
            if (index := self.collective_of.get(normalise_name(row.name))) is not None:
                in_tables.setdefault(index, row.first)
        ris: dict[int, str] = {}
        for index, collective in enumerate(self.source.collectives):
            if "ri" in collective:
                ris[index] = collective["ri"]
            elif written[index]:
                ris[index] = most_common(written[index])[0]
            elif index in in_tables:
                ris[index] = in_tables[index]
        return ris

    def posts(self, collective_ris: set[str]) -> dict[str, Post]:
        """Every station that is not a collective or a relay, with all its names."""
        traffic_names: dict[str, Counter[str]] = defaultdict(Counter)
        traffic_ris: dict[str, Counter[str]] = defaultdict(Counter)
        for (ri, name), count in self.traffic.pairs.items():
            if self.is_collective(name) or ri in collective_ris:
                continue
            traffic_names[ri][name] += count
            traffic_ris[normalise_name(name)][ri] += count
        table_names: dict[str, list[str]] = defaultdict(list)
        for row in self.rows:
            if self.is_collective(row.name):
                continue
            ris = expand_range(row.first, row.last)[0] if row.last else [row.first]
            for ri in ris:
                if len(ri) > 4 and ri not in collective_ris:
                    table_names[_CORRECTIONS.get((ri, row.name), ri)].append(row.name)
        posts: dict[str, Post] = {}
        for ri in sorted(set(traffic_names) | set(table_names)):
            names = most_common(traffic_names[ri])
            names += self.table_names_kept(ri, table_names[ri], traffic_ris, has_traffic=bool(names))
            posts[ri] = Post(ri, list(dict.fromkeys(names)))
        self.attach_plain_names(posts, traffic_ris)
        for post in posts.values():
            self.classify(post)
            # Real traffic decides here too: a station that was sent SECRET or NOFORN traffic in
            # the corpus (classified cables to the RHMCSUU gateway, NOFORN to COMUSNAVCENT on a
            # Bahraini RI) was cleared for it, whatever its RI suggests: a US station on a host
            # nation's RI, not a foreign one.
            seen = self.traffic.highest.get(post.ri)
            if seen is not None and seen > Classification(post.clearance):
                post.clearance = seen.value
            if post.foreign and not US_ONLY_CAVEATS.isdisjoint(self.traffic.caveats.get(post.ri, ())):
                post.foreign = False
        return posts

    @staticmethod
    def table_names_kept(
        ri: str, names: list[str], traffic_ris: dict[str, Counter[str]], *, has_traffic: bool
    ) -> list[str]:
        """The table's names of an RI, less those real traffic writes only with other RIs.

        Traffic decides: RUEHC/SECSTATE WASHDC occurs over a thousand times, so the `SECSTATE WASHDC` that
        cable2graph also gives RUEHSD is dropped from RUEHSD. A station keeps its table names when dropping
        them would leave it nameless (a second RI of one post, such as RUEHLOB and RUEHBL for Belfast).
        """

        def written_elsewhere(name: str) -> bool:
            seen = traffic_ris.get(normalise_name(name))
            return seen is not None and ri not in seen

        kept = [name for name in names if not written_elsewhere(name)]
        return kept if kept or has_traffic else names

    def attach_plain_names(self, posts: dict[str, Post], traffic_ris: dict[str, Counter[str]]) -> None:
        """Give a post the plain spellings (no RI) that normalise to one of its names.

        A name several posts carry goes to the one traffic writes it with most (ties: the first RI).
        """
        holders: dict[str, list[str]] = defaultdict(list)
        for post in posts.values():
            for name in post.names:
                holders[normalise_name(name)].append(post.ri)
        known = {name for post in posts.values() for name in post.names}
        for name in most_common(self.traffic.plain):
            if name in known or self.is_collective(name):
                continue
            key = normalise_name(name)
            if key in holders:
                counts = traffic_ris.get(key, Counter())
                best = min(holders[key], key=lambda ri: (-counts[ri], ri))
                posts[best].names.append(name)

    @staticmethod
    def classify(post: Post) -> None:
        """Set what a post may receive: foreign stations no US-only caveat, headquarters TOP SECRET."""
        if not is_us_station(post.ri):
            post.foreign = True
        if gateway := _GATEWAY.match(post.ri):
            post.clearance = _GATEWAY_CLEARANCE[gateway.group(1)]
        elif any(_TOP_SECRET.search(normalise_name(name)) for name in post.names):
            post.clearance = "TOP SECRET"

    def relays(self, posts: dict[str, Post]) -> list[Relay]:
        """Relay stations by prefix: the tables' 4-letter RIs, their A-to-Z ranges, the busiest prefixes."""
        relays: dict[str, str] = {}
        for row in self.rows:
            if len(row.first) == 4 and not row.last:
                relays.setdefault(row.first, row.name)
            elif row.last:
                for prefix in expand_range(row.first, row.last)[1]:
                    relays.setdefault(prefix, row.name)
        fronted = Counter(ri[:4] for ri in posts)
        for prefix in sorted(fronted):
            if prefix not in relays and (fronted[prefix] >= _RELAY_MIN_RIS or prefix in _REQUIRED_RELAYS):
                # Neither ACP 117 nor cable2graph names these relays: the table says so rather than guess.
                relays[prefix] = f"RELAY {prefix} (NOT NAMED IN ACP 117)"
        for prefix in relays:
            posts.pop(prefix, None)
        return [Relay(prefix, relays[prefix]) for prefix in sorted(relays)]

    def collectives(self, ris: dict[int, str], posts: dict[str, Post]) -> list[Collective]:
        """Each collective of collectives.toml with every spelling seen and its members expanded."""
        spellings = self.spellings_seen(ris)
        collectives: list[Collective] = []
        for index, entry in enumerate(self.source.collectives):
            counts = spellings[index]
            counts.update(dict.fromkeys(self.source.spellings(entry), 0))
            names = most_common(counts, first=self.source.spellings(entry))
            members = self.members(entry, posts)
            collectives.append(
                Collective(names[0], ris.get(index), tuple(sorted(names[1:])), entry["basis"], members)
            )
        return sorted(collectives, key=lambda collective: collective.name)

    def spellings_seen(self, ris: dict[int, str]) -> dict[int, Counter[str]]:
        """How often the corpus writes each spelling of each collective.

        A spelling is a collective's when it normalises to a hand-written one, or when it is written with the
        collective's RI (RUEHWW/BAGHDAD GULF WAR COLLECTIVE is the GULF WAR COLLECTIVE).
        """
        by_ri = {ri: index for index, ri in ris.items()}
        spellings: dict[int, Counter[str]] = defaultdict(Counter)
        for (ri, name), count in self.traffic.pairs.items():
            key = normalise_name(name)
            if ri in by_ri and looks_collective(name):
                self.collective_of.setdefault(key, by_ri[ri])
            if key in self.collective_of:
                spellings[self.collective_of[key]][name] += count
        for name, count in self.traffic.plain.items():
            key = normalise_name(name)
            if key in self.collective_of:
                spellings[self.collective_of[key]][name] += count
        return spellings

    def members(self, entry: dict[str, Any], posts: dict[str, Post]) -> tuple[str, ...]:
        """The post RIs of a collective, checked to be posts of the table."""
        listed = entry.get("members", [])
        ris = self.source.state_posts() if listed == ALL_STATE_POSTS else list(listed)
        ris += self.source.embassies(entry.get("embassies_in", []))
        ris += self.source.posts(entry.get("posts_in", []))
        for prefix in entry.get("posts_named", []):
            ris += [post.ri for post in posts.values() if any(n.startswith(prefix) for n in post.names)]
        unknown = sorted(ri for ri in set(ris) if ri not in posts)
        if unknown:
            raise ValueError(f"{entry['name']}: members that are not posts of the table: {unknown}")
        if not ris:
            raise ValueError(f"{entry['name']}: no members")
        return tuple(sorted(set(ris)))


def check_country_map(table: Table, source: Source, embassy_list: Path) -> list[str]:
    """Warnings: State posts abroad the country map leaves out, origin names of cables that find no post.

    cable2graph-embassy.list holds the origin names of Cablegate's cable ids (TOKYO, ADDISABABA,
    with their typos) and no RIs: it checks that the hand-written country map misses no post.
    """
    mapped = set(source.state_posts())
    unmapped = [
        post.ri
        for post in table.posts
        if post.ri.startswith("RUEH")
        and post.ri not in mapped
        and any(_STATE_POST_PREFIX.match(name) for name in post.names)
    ]
    warnings = (
        [f"State posts outside the country map (second RIs of a post?): {unmapped}"] if unmapped else []
    )
    # A cable id names its origin without the office word and without blanks: AMEMBASSY ADDIS ABABA is
    # ADDISABABA, AIT TAIPEI is AITTAIPEI.
    squashed = {
        re.sub(r"[^A-Z]", "", text)
        for post in table.posts
        if post.ri in mapped
        for name in post.names
        for text in (name, name.split(" ", 1)[-1])
    }
    origins = [line.strip() for line in embassy_list.read_text(encoding="utf-8").splitlines() if line.strip()]
    missing = [origin for origin in origins if origin not in squashed]
    if missing:
        warnings.append(f"cable origins matching no mapped post (typos, closed or domestic posts): {missing}")
    return warnings


HEADER = (
    "generated by scripts/build_routing_table.py from ../shared/data/routing (acp117-2010-routes.txt,",
    "route2name.csv, cable2graph-routing.codes, cable2graph-embassy.list), the RI/name pairs of the",
    "{cables:,} cables of ../shared/corpus/cables and config/sources/collectives.toml;",
    "edit config/sources/collectives.toml or the script, not this file",
)


def render(table: Table) -> str:
    """The table as TOML (tomlkit writes it): a header saying how it was made, then the table.

    Defaults, relays, posts, collectives and AIGs, in that order, each entry a table of its own
    (``[[posts]]``) so that a mistake found in the file is named by its line; a post's or
    collective's optional fields only when they differ from the defaults.
    """
    document = tomlkit.document()
    for line in HEADER:
        document.add(tomlkit.comment(line.format(cables=table.cables)))
    document.add(tomlkit.nl())
    document["defaults"] = {"clearance": DEFAULT_CLEARANCE, "baud": DEFAULT_BAUD, "window": DEFAULT_WINDOW}
    document["relays"] = _tables({"prefix": relay.prefix, "name": relay.name} for relay in table.relays)
    document["posts"] = _tables(_post(post) for post in table.posts)
    document["collectives"] = _tables(_collective(collective) for collective in table.collectives)
    if table.aigs:
        document["aigs"] = _tables(_aig(aig) for aig in table.aigs)
    return tomlkit.dumps(document)


def _tables(rows: Iterable[dict[str, object]]) -> tomlkit.items.AoT:
    """Rows as an array of tables, each written ``[[name]]`` and its keys, a blank line before."""
    tables = tomlkit.aot()
    for row in rows:
        table = tomlkit.table()
        table.update(row)
        tables.append(table)
    return tables


def _post(post: Post) -> dict[str, object]:
    row: dict[str, object] = {"ri": post.ri, "names": list(post.names)}
    if post.clearance != DEFAULT_CLEARANCE:
        row["clearance"] = post.clearance
    if post.foreign:
        row["foreign"] = True
    if post.barred_caveats:
        row["barred_caveats"] = list(post.barred_caveats)
    return row


def _collective(collective: Collective) -> dict[str, object]:
    row: dict[str, object] = {"name": collective.name}
    if collective.ri:
        row["ri"] = collective.ri
    if collective.aliases:
        row["aliases"] = list(collective.aliases)
    row["basis"] = collective.basis
    row["members"] = list(collective.members)
    return row


def _aig(aig: Mapping[str, object]) -> dict[str, object]:
    row: dict[str, object] = {"number": int(str(aig["number"])), "title": aig["title"], "basis": aig["basis"]}
    if "originator" in aig:
        row["originator"] = aig["originator"]
    row.update({role: aig[role] for role in ("action", "info") if aig.get(role)})
    return row


def main(argv: list[str] | None = None) -> int:
    """Build the table from the shared sources and write it."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shared", type=Path, default=SHARED, help="the shared directory (data/, corpus/)")
    parser.add_argument("--out", type=Path, default=OUTPUT, help="where to write the table")
    parser.add_argument("--collectives", type=Path, default=COLLECTIVES, help="the hand-written collectives")
    args = parser.parse_args(argv)
    routing = args.shared / "data" / "routing"
    source = Source(args.collectives)
    builder = Builder(read_tables(routing), read_traffic(args.shared / "corpus" / "cables"), source)
    table = builder.build()
    for warning in check_country_map(table, source, routing / EMBASSY_LIST):
        print(f"warning: {warning}", file=sys.stderr)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render(table), encoding="utf-8")
    counts = f"{len(table.posts)} posts, {len(table.relays)} relays, {len(table.collectives)} collectives"
    print(f"{args.out}: {counts}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
