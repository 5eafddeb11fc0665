"""What generated traffic may address: the table's stations and collectives, written so they read back.

A station or collective is used only if the way a generated line writes it parses back to it and
the table routes it there (`router.sim.traffic` draws from these); pools keep every addressee of a
cable cleared for its classification and caveats, so that generated traffic is never intercepted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from router.cable.models import Classification, Precedence
from router.cable.parser import parse_cable
from router.errors import CableParseError, TrafficError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from router.cable.models import Addressee
    from router.routing.table import Collective, Post, RoutingTable
    from router.sim.traffic_mix import TrafficProfile

_STATE_RELAY = "RUEH"
"""The State relay's prefix (Beltsville): an RI under it is a State post."""


@dataclass(frozen=True, slots=True)
class Station:
    """A post of the table, with the ways of writing it that the parser reads back and the table routes."""

    post: Post
    with_ri: str
    """``RI/NAME``: routed by the RI, the surest way."""
    plain: str | None
    """The name alone, when it reads back as this post and no other."""
    state: bool
    """Under the State relay (RUEH): a State post, which files and receives most of the traffic."""

    @property
    def ri(self) -> str:
        """The post's routing indicator."""
        return self.post.ri

    @property
    def name(self) -> str:
        """The post's first (official) name."""
        return self.post.names[0]

    def written(self, *, with_ri: bool) -> str:
        """The address as a line writes it: ``RI/NAME`` when asked (or when the name is ambiguous)."""
        return self.with_ri if with_ri or self.plain is None else self.plain


@dataclass(frozen=True, slots=True)
class CollectiveAddress:
    """A collective of the table with the ways of writing it that route to it (ACP 127 §205)."""

    collective: Collective
    with_ri: str | None
    plain: str | None
    """At least one of the two ways is there: a collective with neither is not used."""
    members: frozenset[str]

    def written(self, *, with_ri: bool) -> str:
        """The address as a line writes it: with its RI when asked and it has one, else by name."""
        preferred = (self.with_ri, self.plain) if with_ri else (self.plain, self.with_ri)
        return next(form for form in preferred if form is not None)


@dataclass(frozen=True, slots=True)
class Pool:
    """What a cable of one classification and set of caveats may address: only posts cleared for it."""

    state: tuple[Station, ...]
    other: tuple[Station, ...]
    originators: tuple[Station, ...]
    collectives: tuple[CollectiveAddress, ...]

    @property
    def size(self) -> int:
        """Stations in the pool, State posts and others."""
        return len(self.state) + len(self.other)


@dataclass(frozen=True, slots=True)
class Network:
    """The stations and collectives generated traffic may use, pooled by classification and caveats."""

    stations: tuple[Station, ...]
    collectives: tuple[CollectiveAddress, ...]
    by_ri: dict[str, Station]
    _pools: dict[tuple[Classification, frozenset[str]], Pool] = field(default_factory=dict)

    def pool(self, classification: Classification, caveats: frozenset[str]) -> Pool:
        """Stations cleared for ``classification`` and not barred any of ``caveats``: no intercepts."""
        key = (classification, caveats)
        if key not in self._pools:
            cleared = [
                s
                for s in self.stations
                if s.post.clearance >= classification and caveats.isdisjoint(s.post.barred_caveats)
            ]
            ris = {s.ri for s in cleared}
            state = tuple(s for s in cleared if s.state)
            self._pools[key] = Pool(
                state=state,
                other=tuple(s for s in cleared if not s.state),
                # State traffic is filed by State posts; another station files only where none is left.
                originators=state or tuple(cleared),
                collectives=tuple(c for c in self.collectives if c.members <= ris),
            )
        return self._pools[key]

    def with_ri_chance(self, profile: TrafficProfile) -> float:
        """The chance of writing the RI where a line may be written either way.

        Some addresses allow one way only (a station whose name is ambiguous needs its RI; a
        collective may have only a name), and they would pull the share away from the measured
        one: the free choice makes up for them, weighted as lines are (collectives, State posts and
        other stations in their measured shares).
        """
        collective = profile.line_collective if self.collectives else 0.0
        state = profile.post_line_to_state_post
        state_ri = _share(s.plain is None for s in self.stations if s.state)
        other_ri = _share(s.plain is None for s in self.stations if not s.state)
        collective_ri = _share(c.plain is None for c in self.collectives)
        collective_plain = _share(c.with_ri is None for c in self.collectives)
        station_ri = state * state_ri + (1 - state) * other_ri
        forced_ri = (1 - collective) * station_ri + collective * collective_ri
        forced_plain = collective * collective_plain
        free = 1 - forced_ri - forced_plain
        return min(1.0, max(0.0, (profile.line_with_ri - forced_ri) / free)) if free > 0 else 0.0


def _share(flags: Iterable[bool]) -> float:
    values = list(flags)
    return sum(values) / len(values) if values else 0.0


MIN_COLLECTIVE = 3
"""A collective needs two members besides the originator, so that an XMT always leaves one to deliver to."""


def network_of(table: RoutingTable, posts: tuple[str, ...] | None) -> Network:
    """The usable stations of ``table`` (of ``posts`` only, when given): checked once per table.

    Every station is written out and parsed back, which takes a while on a full table: the
    network is kept with the table (`RoutingTable.derived`), for the next run on it.
    """
    return table.derived(_network, posts)


def _network(table: RoutingTable, posts: tuple[str, ...] | None) -> Network:
    if posts is not None:
        unknown = sorted(set(posts) - set(table.posts))
        if unknown:
            raise TrafficError(f"not posts of the routing table: {', '.join(unknown)}", field="posts")
    chosen = [table.posts[ri] for ri in dict.fromkeys(posts)] if posts is not None else table.posts.values()
    stations = tuple(s for post in chosen if (s := _station(post, table)) is not None)
    if len(stations) < 2:
        raise TrafficError(
            "generated traffic needs at least two usable posts: an originator and an addressee", field="posts"
        )
    usable = {s.ri for s in stations}
    collectives = tuple(
        address
        for collective in table.collectives
        if len(collective.members) >= MIN_COLLECTIVE and set(collective.members) <= usable
        if (address := _collective_address(collective, table)) is not None
    )
    return Network(stations, collectives, {s.ri: s for s in stations})


def _station(post: Post, table: RoutingTable) -> Station | None:
    """How ``post`` can be written; None when not even ``RI/NAME`` reads back (a name the parser splits)."""
    name = post.names[0]
    with_ri = f"{post.ri}/{name}"
    if not _reads_back(with_ri, post.ri, lambda a: table.posts.get(a.ri or "") is post):
        return None
    plain = next(
        (n for n in post.names if _reads_back(n, None, lambda a: table.post_named(a.name) is post)),
        None,
    )
    return Station(post, with_ri, plain, post.ri.startswith(_STATE_RELAY))


def _collective_address(collective: Collective, table: RoutingTable) -> CollectiveAddress | None:
    """How ``collective`` can be written so that the switch expands it; None when it cannot be."""
    with_ri = plain = None
    # The switch looks an RI up as a post first, and a name as a post first (RoutingTable.resolve).
    ri = collective.ri
    if (
        ri
        and ri not in table.posts
        and table.collective_with_ri(ri) is collective
        and _reads_back(f"{ri}/{collective.name}", ri, lambda _: True)
    ):
        with_ri = f"{ri}/{collective.name}"
    if (
        table.post_named(collective.name) is None
        and table.collective_named(collective.name) is collective
        and _reads_back(collective.name, None, lambda a: table.collective_named(a.name) is collective)
    ):
        plain = collective.name
    if with_ri is None and plain is None:
        return None
    return CollectiveAddress(collective, with_ri, plain, frozenset(collective.members))


# Every tail a generated line can carry, on one probe cable: the parser must give each back as written.
_PROBE = (
    "O 010000Z JAN 08\nFM AMEMBASSY PROBE\n"
    "TO {0} NIACT IMMEDIATE 1234\n{0} PRIORITY\n{0}\n\n"
    "UNCLAS PROBE 000001\n"
)
_PROBE_TAILS = ((True, Precedence.IMMEDIATE, "1234"), (False, Precedence.PRIORITY, None), (False, None, None))


def _reads_back(written: str, ri: str | None, routes: Callable[[Addressee], bool]) -> bool:
    """Whether an address line written this way parses to ``ri`` and a name the table routes right."""
    try:
        cable = parse_cable(_PROBE.format(written))
    except CableParseError:
        return False
    tails = tuple((a.niact, a.written_precedence, a.mcn) for a in cable.to)
    return (
        tails == _PROBE_TAILS
        and not cable.info
        and not cable.xmt
        and all(a.ri == ri and not a.zen and routes(a) for a in cable.to)
    )
