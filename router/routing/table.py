"""The routing table: posts, relays and collectives, validated once and indexed for look-ups."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Annotated, Literal, NamedTuple, NoReturn, TypeVar, cast

from pydantic import BaseModel, ConfigDict, Field, model_validator

from router.cable.addressee import aig_number
from router.cable.models import Classification
from router.cable.names import normalise_name
from router.cable.security import US_ONLY_CAVEATS
from router.errors import LocatedError, TableError
from router.routing.shipped import SHIPPED
from router.tomlfile import dotted, locate, validated

if TYPE_CHECKING:
    from collections.abc import Callable, Hashable, Iterable, Mapping

DEFAULT_TABLE = SHIPPED / "routing.toml"
"""The committed table of the State posts and the military stations, shipped with the package."""

RI_PATTERN = r"^[A-Z]{4,7}$"
"""A routing indicator (ACP 117): four to seven letters. Topics are built only from these."""
_RI = re.compile(RI_PATTERN)
_NEAR_MEMO_SIZE = 10_000
_NOT_MEMOISED = "\0"
"""What the near-name memory gives for a key it does not hold (no RI is this)."""
NAME_MAX = 120
"""The longest name the table may give a station or collective (the committed table's longest is 80
characters with its office symbols, the corpus's longest addressee name 51)."""
ADDRESSEE_NAME_MAX = 2 * NAME_MAX
"""An addressee name longer than this names no station: it is unknown, without being normalised,
slip-matched or remembered. Slip-matching a name costs its length squared (each one-letter deletion
of it is a new string), and a hostile cable may write a name of megabytes."""
_RESOLVED_SIZE = 32_768
_DERIVED_SIZE = 8
_Derived = TypeVar("_Derived")
_Argument = TypeVar("_Argument", bound="Hashable")
# ACP 117: the RI's second letter is the nation; U (and H, DoD's Pacific and CONUS areas) are US.
_US_NATION_LETTERS = frozenset("UH")

DIRECT = "direct"
"""How a post addressed by its own RI or name is reached: not through a collective or a relay."""

RoutingIndicator = Annotated[str, Field(pattern=RI_PATTERN)]
Name = Annotated[str, Field(min_length=1, max_length=NAME_MAX)]


class _Schema(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


LineCodeName = Literal["ita2", "ascii"]


class _Defaults(_Schema):
    clearance: Classification = Classification.SECRET
    baud: int = Field(default=75, ge=0, le=1_000_000)
    window: int = Field(default=4, ge=1, le=10_000)
    code: LineCodeName | None = None


class _Relay(_Schema):
    prefix: Annotated[str, Field(pattern=r"^[A-Z]{2,6}$")]
    name: Name


class _Post(_Schema):
    ri: RoutingIndicator
    names: list[Name] = Field(min_length=1)
    clearance: Classification | None = None
    foreign: Annotated[bool, Field(strict=True)] = False  # `foreign = "no"` is a mistake, not True
    barred_caveats: list[Annotated[str, Field(pattern=r"^[A-Z]{2,12}$")]] = []
    baud: int | None = Field(default=None, ge=0, le=1_000_000)
    window: int | None = Field(default=None, ge=1, le=10_000)
    code: LineCodeName | None = None
    alternate: RoutingIndicator | None = None


class _Collective(_Schema):
    name: Name
    ri: RoutingIndicator | None = None
    aliases: list[Name] = []
    basis: str = ""
    members: list[RoutingIndicator]


class _Aig(_Schema):
    number: int = Field(ge=1, le=99_999)
    title: Name
    basis: str = ""
    originator: RoutingIndicator | None = None
    action: list[RoutingIndicator] = []
    info: list[RoutingIndicator] = []


class _Table(_Schema):
    defaults: _Defaults = _Defaults()
    relays: list[_Relay] = []
    posts: list[_Post] = []
    collectives: list[_Collective] = []
    aigs: list[_Aig] = []

    @model_validator(mode="after")
    def _no_duplicate_posts(self) -> _Table:
        seen: set[str] = set()
        for index, post in enumerate(self.posts):
            if post.ri in seen:
                raise LocatedError(("posts", index, "ri"), f"post {post.ri} is defined twice")
            seen.add(post.ri)
        return self


@dataclass(frozen=True, slots=True)
class LineProfile:
    """The simulated line to a post: speed in baud (0 = unthrottled), in-flight window, character code."""

    baud: int
    window: int
    code: LineCodeName | None = None
    """``ita2`` or ``ascii``; None: the code a line of its speed ran (`router.network.line.code_for`)."""


@dataclass(frozen=True, slots=True)
class Post:
    """A station the router delivers to."""

    ri: str
    names: tuple[str, ...]
    clearance: Classification
    barred_caveats: frozenset[str]
    """Every caveat the post may not have: the table's own, and the US-only ones of a foreign post."""
    line: LineProfile
    foreign: bool = False
    """A station of another nation (``foreign = true`` in the table, or a non-US RI known only by its
    relay): a cable with a US-only caveat (`US_ONLY_CAVEATS`: NOFORN, NODIS, ...) never goes to it."""
    alternate: str | None = None
    """The post whose line is this post's alternative route (ACP 127 §302, §307): FLASH and
    IMMEDIATE traffic goes that way when this post's own line has been down too long. The
    arrangement is the table's, made beforehand (§308a allows it "by direct supervisory contact")."""


@dataclass(frozen=True, slots=True)
class Relay:
    """A relay serving every RI under its prefix (RUEH* behind the State relay)."""

    prefix: str
    name: str


@dataclass(frozen=True, slots=True)
class Collective:
    """A collective address standing for its member posts (ACP 127 §205)."""

    name: str
    ri: str | None
    aliases: tuple[str, ...]
    members: tuple[str, ...]
    posts: tuple[Post, ...] = ()
    """The member posts themselves, resolved once when the table is loaded."""


@dataclass(frozen=True, slots=True)
class Aig:
    """An address indicating group (ACP 127 §205c, §222): a number for fixed action and info addressees.

    The originator it was made for is listed with it, and is none of its addressees.
    """

    number: int
    title: str
    originator: str | None
    action: tuple[Post, ...]
    info: tuple[Post, ...]

    @property
    def name(self) -> str:
        """The address as a cable writes it: ``AIG 205``."""
        return f"AIG {self.number}"


class Resolution(NamedTuple):
    """What one written addressee stands for: the posts it reaches, their RIs, and the way."""

    posts: tuple[Post, ...]
    ris: tuple[str, ...]
    via: str
    """``direct``, the collective's name, ``AIG <n>``, or ``relay <PREFIX>`` (an RI known by its relay)."""
    collective: bool = False
    informed: frozenset[str] = frozenset()
    """Of an AIG's posts, those it lists as information addressees (§152a): they get the info role."""


@dataclass(frozen=True, slots=True, eq=False)
class RoutingTable:
    """The table, indexed: posts by RI and by normalised name, collectives, relays by prefix.

    Compared and hashed by identity: what is derived from a table is remembered per table.
    """

    posts: Mapping[str, Post]
    relays: tuple[Relay, ...]
    """Longest prefix first, so the first match is the longest."""
    collectives: tuple[Collective, ...]
    defaults: Post
    """What a station reached only through a relay is taken to be: default clearance and line."""
    source: str = "<memory>"
    aigs: Mapping[int, Aig] = field(default_factory=dict)
    """Address indicating groups by number."""
    _post_names: Mapping[str, str] = field(default_factory=dict, repr=False)
    _namesakes: Mapping[str, tuple[str, ...]] = field(default_factory=dict, repr=False)
    """Names that several posts bear (AMCONSUL STRASBOURG: RUEHFRS and RUEHSR), with every RI."""
    _collective_names: Mapping[str, Collective] = field(default_factory=dict, repr=False)
    _collective_ris: Mapping[str, Collective] = field(default_factory=dict, repr=False)
    _near_names: Mapping[str, str] = field(default_factory=dict, repr=False)
    _longest_key: int = 0
    """The longest normalised name of the index: a key two letters longer is no slip of any."""
    _near_memo: dict[str, str | None] = field(default_factory=dict, repr=False, compare=False)
    _resolved: dict[tuple[str | None, str], Resolution | None] = field(
        default_factory=dict, repr=False, compare=False
    )
    _derived: dict[tuple[object, Hashable], object] = field(default_factory=dict, repr=False, compare=False)

    def resolve(self, ri: str | None, name: str) -> Resolution | None:
        """What an addressee written ``ri``/``name`` stands for, or None when the table does not know it.

        Remembered (bounded, as `post_named`'s slips are): real traffic writes the same few
        thousand addressees again and again, so a routing decision is a dictionary look-up each.
        A name longer than any station's (`ADDRESSEE_NAME_MAX`) is resolved by its RI alone and
        not remembered: the memory holds short keys only.
        """
        if len(name) > ADDRESSEE_NAME_MAX:
            return self._resolve(ri, "")
        key = (ri, name)
        try:
            return self._resolved[key]
        except KeyError:
            pass
        resolution = self._resolve(ri, name)
        if len(self._resolved) >= _RESOLVED_SIZE:
            self._resolved.clear()
        self._resolved[key] = resolution
        return resolution

    def derived(self, make: Callable[[RoutingTable, _Argument], _Derived], argument: _Argument) -> _Derived:
        """``make(self, argument)``, made once and kept with this table (a few of them: bounded).

        For what a higher layer derives from a table at some cost and asks for again (the stations
        generated traffic may use): it lives as long as the table, not in a process-wide cache.
        What raises is not kept.
        """
        key = (make, argument)
        try:
            return cast("_Derived", self._derived[key])
        except KeyError:
            pass
        value = make(self, argument)
        if len(self._derived) >= _DERIVED_SIZE:
            self._derived.clear()
        self._derived[key] = value
        return value

    def _resolve(self, ri: str | None, name: str) -> Resolution | None:
        """By RI when one is written (post, collective, or relay prefix), else by normalised name."""
        if ri:
            if (post := self.posts.get(ri)) is not None:
                return Resolution((post,), (post.ri,), DIRECT)
            if (collective := self.collective_with_ri(ri)) is not None:
                return Resolution(collective.posts, collective.members, collective.name, collective=True)
            if (relayed := self.relayed_station(ri)) is not None:
                relay = self.relay_for(ri)
                return Resolution((relayed,), (ri,), f"relay {relay.prefix if relay else ''}")
        if (number := aig_number(name)) is not None:
            return self._resolve_aig(number)
        if (post := self.post_named(name)) is not None:
            return Resolution((post,), (post.ri,), DIRECT)
        if (collective := self.collective_named(name)) is not None:
            return Resolution(collective.posts, collective.members, collective.name, collective=True)
        return None

    def _resolve_aig(self, number: int) -> Resolution | None:
        """An AIG's action and information posts (§152a, §222), or None when the table has no such AIG."""
        aig = self.aigs.get(number)
        if aig is None:
            return None
        posts = (*aig.action, *aig.info)
        informed = frozenset(p.ri for p in aig.info)
        return Resolution(posts, tuple(p.ri for p in posts), aig.name, collective=True, informed=informed)

    def post_named(self, name: str) -> Post | None:
        """The post a plain-language address names, allowing one slip of the hand."""
        if not name or len(name) > ADDRESSEE_NAME_MAX:
            return None
        key = normalise_name(name)
        ri = self._post_names.get(key)
        if ri is None and len(key) <= self._longest_key + 1:
            # Real traffic repeats its misspellings: what a near look-up found is remembered
            # (bounded, so that hostile input cannot grow it without end).
            # (A look-up, not `in` then `[]`: the switch may decide a big cable on another thread,
            # and a clear between the two would raise.)
            ri = self._near_memo.get(key, _NOT_MEMOISED)
            if ri == _NOT_MEMOISED:
                ri = next((self._near_names[v] for v in _deletions(key) if v in self._near_names), None)
                if len(self._near_memo) >= _NEAR_MEMO_SIZE:
                    self._near_memo.clear()
                self._near_memo[key] = ri
        return self.posts[ri] if ri is not None else None

    def designated(self, ri: str | None, name: str) -> frozenset[str]:
        """Every post a designation that leaves stations out (XMT, ZEN, POUCH, FM) may stand for.

        An RI names one station. A plain name may be borne by several posts (AMCONSUL STRASBOURG is
        RUEHFRS and RUEHSR): all of them are candidates, and which one is meant is decided by the
        membership of the collective used (ACP 127 Annex B FL9, §205b), not by the table's order.
        """
        if ri and ri in self.posts:
            return frozenset((ri,))
        post = self.post_named(name)
        if post is None:  # an RI the table does not know as a post, or nothing at all
            return frozenset((ri,)) if ri else frozenset()
        return frozenset(self._namesakes.get(normalise_name(name), (post.ri,)))

    def collective_named(self, name: str) -> Collective | None:
        """The collective a name or alias stands for."""
        if not name or len(name) > ADDRESSEE_NAME_MAX:
            return None
        return self._collective_names.get(normalise_name(name))

    def collective_with_ri(self, ri: str) -> Collective | None:
        """The collective a routing indicator stands for (RUEHZL/EUROPEAN POLITICAL COLLECTIVE)."""
        return self._collective_ris.get(ri)

    def relay_for(self, ri: str) -> Relay | None:
        """The relay with the longest prefix of ``ri`` (ACP 127 §302)."""
        return next((relay for relay in self.relays if ri.startswith(relay.prefix)), None)

    def relayed_station(self, ri: str) -> Post | None:
        """A station known only by its relay: well-formed RI, default clearance and line.

        A station whose RI does not name the United States (second letter U or H) is a
        foreign station, and US-only traffic (NOFORN, NODIS, ...) is barred from it.
        """
        if not is_routing_indicator(ri) or self.relay_for(ri) is None:
            return None
        foreign = not is_us_station(ri)
        barred = US_ONLY_CAVEATS if foreign else frozenset()
        return Post(ri, (), self.defaults.clearance, barred, self.defaults.line, foreign=foreign)


def load_table(path: Path | str = DEFAULT_TABLE) -> RoutingTable:
    """Read, validate and index a routing table; ``TableError`` says where it is wrong."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TableError(f"cannot read the routing table: {exc}", path=path, line=None, field=None) from None
    return parse_table(text, source=str(path))


def parse_table(text: str, *, source: str = "<memory>") -> RoutingTable:
    """Validate and index a routing table given as TOML text."""
    schema = validated(text, _Table, source=source, error=TableError)
    return _index(schema, text, source)


def _index(schema: _Table, text: str, source: str) -> RoutingTable:
    defaults = schema.defaults
    posts: dict[str, Post] = {}
    names: dict[str, str] = {}
    namesakes: dict[str, list[str]] = {}
    for post in schema.posts:
        posts[post.ri] = Post(
            ri=post.ri,
            names=tuple(post.names),
            clearance=post.clearance or defaults.clearance,
            barred_caveats=frozenset(post.barred_caveats)
            | (US_ONLY_CAVEATS if post.foreign else frozenset()),
            line=LineProfile(
                baud=defaults.baud if post.baud is None else post.baud,
                window=post.window or defaults.window,
                code=post.code or defaults.code,
            ),
            foreign=post.foreign,
            alternate=post.alternate,
        )
        for name in post.names:
            # One name on several posts: the first in the table answers (the table is sorted);
            # the others are kept as its namesakes.
            key = normalise_name(name)
            if names.setdefault(key, post.ri) != post.ri:
                namesakes.setdefault(key, [names[key]]).append(post.ri)
    _check_alternates(schema, posts, (text, source))
    collectives, collective_names, collective_ris = _index_collectives(schema, posts, text, source)
    return RoutingTable(
        posts=MappingProxyType(posts),
        relays=tuple(sorted((Relay(r.prefix, r.name) for r in schema.relays), key=lambda r: -len(r.prefix))),
        collectives=collectives,
        defaults=Post(
            ri="",
            names=(),
            clearance=defaults.clearance,
            barred_caveats=frozenset(),
            line=LineProfile(defaults.baud, defaults.window, defaults.code),
        ),
        source=source,
        aigs=MappingProxyType(_index_aigs(schema, posts, text, source)),
        _post_names=MappingProxyType(names),
        _namesakes=MappingProxyType({key: tuple(dict.fromkeys(ris)) for key, ris in namesakes.items()}),
        _collective_names=MappingProxyType(collective_names),
        _collective_ris=MappingProxyType(collective_ris),
        _near_names=MappingProxyType(_near_index(names)),
        _longest_key=max(map(len, names), default=0),
    )


def _index_collectives(
    schema: _Table, posts: Mapping[str, Post], text: str, source: str
) -> tuple[tuple[Collective, ...], dict[str, Collective], dict[str, Collective]]:
    """The collectives, by name and alias, and by RI; a member that is no post is a `TableError`."""
    collective_names: dict[str, Collective] = {}
    collective_ris: dict[str, Collective] = {}
    collectives = []
    for index, entry in enumerate(schema.collectives):
        _check_posts(entry.members, posts, ("collectives", index, "members"), entry.name, (text, source))
        collective = Collective(
            entry.name,
            entry.ri,
            tuple(entry.aliases),
            tuple(entry.members),
            tuple(posts[member] for member in entry.members),
        )
        collectives.append(collective)
        for name in (entry.name, *entry.aliases):
            collective_names.setdefault(normalise_name(name), collective)
        if entry.ri:
            collective_ris.setdefault(entry.ri, collective)
    return tuple(collectives), collective_names, collective_ris


def _index_aigs(schema: _Table, posts: Mapping[str, Post], text: str, source: str) -> dict[int, Aig]:
    """The AIGs by number; each RI a post, each post in one role, each number once (file:line errors)."""
    file = (text, source)
    aigs: dict[int, Aig] = {}
    for index, entry in enumerate(schema.aigs):
        name = f"AIG {entry.number}"
        if entry.number in aigs:
            _refuse(f"{name} is defined twice", file, ("aigs", index, "number"))
        if not entry.action and not entry.info:
            _refuse(
                f"{name} has no action or info addressee", file, ("aigs", index, "action"), ("aigs", index)
            )
        for role in ("action", "info"):
            _check_posts(getattr(entry, role), posts, ("aigs", index, role), name, file)
        for member_index, member in enumerate(entry.info):
            if member in entry.action:
                reason = f"{member} is both an action and an info addressee of {name}"
                _refuse(reason, file, ("aigs", index, "info"), ("aigs", index, "info", member_index))
        if entry.originator is not None and entry.originator not in posts:
            _refuse(
                f"originator {entry.originator} of {name} is not a post", file, ("aigs", index, "originator")
            )
        # The originator the AIG was made for is no addressee of it (§205c(1)(a)): never sent its own cable.
        action = tuple(posts[ri] for ri in entry.action if ri != entry.originator)
        info = tuple(posts[ri] for ri in entry.info if ri != entry.originator)
        aigs[entry.number] = Aig(entry.number, entry.title, entry.originator, action, info)
    return aigs


def _check_alternates(schema: _Table, posts: Mapping[str, Post], file: tuple[str, str]) -> None:
    """Each post's alternate route is another post of the table (file:line errors)."""
    for index, entry in enumerate(schema.posts):
        where = ("posts", index, "alternate")
        if entry.alternate == entry.ri:
            _refuse(f"post {entry.ri} cannot be its own alternate route", file, where)
        if entry.alternate is not None and entry.alternate not in posts:
            _refuse(f"alternate {entry.alternate} of post {entry.ri} is not a post of the table", file, where)


def _check_posts(
    ris: list[str], posts: Mapping[str, Post], where: tuple[str | int, ...], owner: str, file: tuple[str, str]
) -> None:
    """Every RI of a membership list is a post of the table, else a `TableError` at its own line."""
    for member_index, member in enumerate(ris):
        if member not in posts:
            _refuse(
                f"member {member} of {owner} is not a post of the table", file, where, (*where, member_index)
            )


def _refuse(
    reason: str, file: tuple[str, str], where: tuple[str | int, ...], at: tuple[str | int, ...] | None = None
) -> NoReturn:
    """A `TableError` for the field ``where``, at the line of ``at`` (an item of it) or of the field."""
    text, source = file
    raise TableError(reason, path=source, line=locate(text, at or where), field=dotted(where))


def _near_index(names: Mapping[str, str]) -> dict[str, str]:
    """Every one-letter deletion of every name, for one-slip look-ups (a symmetric-delete index).

    A variant two names share is left out: a typo that could mean either is not guessed.
    """
    index: dict[str, str] = {}
    ambiguous: set[str] = set()
    for name, ri in names.items():
        for variant in _deletions(name):
            if index.setdefault(variant, ri) != ri:
                ambiguous.add(variant)
    for variant in ambiguous:
        del index[variant]
    return index


def _deletions(name: str) -> Iterable[str]:
    yield name
    for i in range(len(name)):
        if name[i] != " ":
            yield name[:i] + name[i + 1 :]


def is_routing_indicator(text: str) -> bool:
    """Whether ``text`` is a well-formed RI, safe to build a topic from."""
    return _RI.fullmatch(text) is not None


def is_us_station(ri: str) -> bool:
    """Whether a well-formed RI names a United States station: its nation letter is U or H (ACP 117)."""
    return ri[1] in _US_NATION_LETTERS
