"""The routing table: posts, relays and collectives, validated once and indexed for look-ups."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Annotated, Literal, NamedTuple, TypeVar, cast

from pydantic import BaseModel, ConfigDict, Field, model_validator

from router.cable.models import Classification
from router.cable.names import normalise_name
from router.errors import LocatedError, TableError
from router.tomlfile import locate, validated

if TYPE_CHECKING:
    from collections.abc import Callable, Hashable, Iterable, Mapping

_SOURCE_TABLE = Path(__file__).resolve().parents[2] / "config" / "routing.toml"
# The committed table beside the package in a checkout (editable install), else ./config/.
DEFAULT_TABLE = _SOURCE_TABLE if _SOURCE_TABLE.exists() else Path("config") / "routing.toml"

RI_PATTERN = r"^[A-Z]{4,7}$"
"""A routing indicator (ACP 117): four to seven letters. Topics are built only from these."""
_RI = re.compile(RI_PATTERN)
_NEAR_MEMO_SIZE = 10_000
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
    barred_caveats: list[Annotated[str, Field(pattern=r"^[A-Z]{2,12}$")]] = []
    baud: int | None = Field(default=None, ge=0, le=1_000_000)
    window: int | None = Field(default=None, ge=1, le=10_000)
    code: LineCodeName | None = None


class _Collective(_Schema):
    name: Name
    ri: RoutingIndicator | None = None
    aliases: list[Name] = []
    basis: str = ""
    members: list[RoutingIndicator]


class _Table(_Schema):
    defaults: _Defaults = _Defaults()
    relays: list[_Relay] = []
    posts: list[_Post] = []
    collectives: list[_Collective] = []

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
    line: LineProfile


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


class Resolution(NamedTuple):
    """What one written addressee stands for: the posts it reaches, their RIs, and the way."""

    posts: tuple[Post, ...]
    ris: tuple[str, ...]
    via: str
    """``direct``, the collective's name, or ``relay <PREFIX>`` for an RI known only by its relay."""
    collective: bool = False


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
    _post_names: Mapping[str, str] = field(default_factory=dict, repr=False)
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
        if (post := self.post_named(name)) is not None:
            return Resolution((post,), (post.ri,), DIRECT)
        if (collective := self.collective_named(name)) is not None:
            return Resolution(collective.posts, collective.members, collective.name, collective=True)
        return None

    def post_named(self, name: str) -> Post | None:
        """The post a plain-language address names, allowing one slip of the hand."""
        if not name or len(name) > ADDRESSEE_NAME_MAX:
            return None
        key = normalise_name(name)
        ri = self._post_names.get(key)
        if ri is None and len(key) <= self._longest_key + 1:
            # Real traffic repeats its misspellings: what a near look-up found is remembered
            # (bounded, so that hostile input cannot grow it without end).
            if key in self._near_memo:
                ri = self._near_memo[key]
            else:
                ri = next((self._near_names[v] for v in _deletions(key) if v in self._near_names), None)
                if len(self._near_memo) >= _NEAR_MEMO_SIZE:
                    self._near_memo.clear()
                self._near_memo[key] = ri
        return self.posts[ri] if ri is not None else None

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
        foreign station, and NOFORN traffic is barred from it.
        """
        if not is_routing_indicator(ri) or self.relay_for(ri) is None:
            return None
        barred = frozenset() if is_us_station(ri) else frozenset({"NOFORN"})
        return Post(ri, (), self.defaults.clearance, barred, self.defaults.line)


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
    for post in schema.posts:
        posts[post.ri] = Post(
            ri=post.ri,
            names=tuple(post.names),
            clearance=post.clearance or defaults.clearance,
            barred_caveats=frozenset(post.barred_caveats),
            line=LineProfile(
                baud=defaults.baud if post.baud is None else post.baud,
                window=post.window or defaults.window,
                code=post.code or defaults.code,
            ),
        )
        for name in post.names:
            # One name on several posts: the first in the table answers (the table is sorted).
            names.setdefault(normalise_name(name), post.ri)
    collective_names: dict[str, Collective] = {}
    collective_ris: dict[str, Collective] = {}
    collectives = []
    for index, entry in enumerate(schema.collectives):
        for member_index, member in enumerate(entry.members):
            if member not in posts:
                raise TableError(
                    f"member {member} of {entry.name} is not a post of the table",
                    path=source,
                    line=locate(text, ("collectives", index, "members", member_index)),
                    field=f"collectives.{index}.members",
                )
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
    return RoutingTable(
        posts=MappingProxyType(posts),
        relays=tuple(sorted((Relay(r.prefix, r.name) for r in schema.relays), key=lambda r: -len(r.prefix))),
        collectives=tuple(collectives),
        defaults=Post(
            ri="",
            names=(),
            clearance=defaults.clearance,
            barred_caveats=frozenset(),
            line=LineProfile(defaults.baud, defaults.window, defaults.code),
        ),
        source=source,
        _post_names=MappingProxyType(names),
        _collective_names=MappingProxyType(collective_names),
        _collective_ris=MappingProxyType(collective_ris),
        _near_names=MappingProxyType(_near_index(names)),
        _longest_key=max(map(len, names), default=0),
    )


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
