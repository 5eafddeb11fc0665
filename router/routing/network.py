"""The network of switching centres: who serves which RIs, the trunks, and the routing doctrine (pure).

AUTODIN-style: each centre serves the RIs under its prefixes (its tributaries), trunks join
centres, and the doctrine of each centre names, for every prefix another centre serves, the
primary and the alternative next centre (ACP 127 §302: "routine doctrine indicating as a minimum
the primary and alternative routes"). An RI belongs to the centre with the longest prefix of it.

A later centre routes on format line 2 alone (§303a(3)): for each transmission path out of it,
one copy whose FL2 holds just the RIs reached that way (§303a(4)); `Network.paths` is that
segregation. The file that describes a network is read by `router.routing.network_description`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from collections.abc import Collection, Iterable, Mapping

    from router.routing.table import LineProfile

LOCAL = "local"
"""The path to a centre's own tributaries. Centre names are upper case, so none is this."""


@dataclass(frozen=True, slots=True)
class Centre:
    """A switching centre and the RI prefixes of the stations it serves (its tributaries)."""

    name: str
    serves: tuple[str, ...]
    title: str = ""


@dataclass(frozen=True, slots=True)
class Trunk:
    """A trunk between two centres, either way. Compared by its ends only: the line is its speed."""

    ends: tuple[str, str]
    """The two centres, in alphabetical order (`trunk_between` makes them so)."""
    line: LineProfile = field(compare=False)

    @property
    def name(self) -> str:
        """``BELTSVILLE-DETRICK``: how logs and topics may call it."""
        return "-".join(self.ends)

    def far_end(self, centre: str) -> str:
        """The centre at the other end of the trunk from ``centre``."""
        first, second = self.ends
        return second if centre == first else first


def trunk_between(a: str, b: str, line: LineProfile) -> Trunk:
    """The trunk joining centres ``a`` and ``b``, whichever is named first."""
    first, second = sorted((a, b))
    return Trunk((first, second), line)


@dataclass(frozen=True, slots=True)
class Route:
    """What one centre's doctrine says for one prefix: the next centre, and the one if that way is out."""

    primary: str
    alternate: str


class Paths(NamedTuple):
    """The routing line of a received transmission, segregated (ACP 127 §303a(3)-(4))."""

    hops: Mapping[str, tuple[str, ...]]
    """For each path out (a neighbouring centre, or `LOCAL`), the RIs of that copy's FL2, in the
    order of the line received; the paths in the order their first RI came."""
    unserved: tuple[str, ...]
    """RIs no centre serves: not for any path, for the caller to intercept."""


@dataclass(frozen=True, slots=True, eq=False)
class Network:
    """The centres, trunks and doctrine, indexed: a routing decision is a few dictionary look-ups."""

    centres: Mapping[str, Centre]
    trunks: Mapping[frozenset[str], Trunk]
    """By the pair of centres they join."""
    doctrine: Mapping[tuple[str, str], Route]
    """By (centre, prefix), for every prefix the centre does not serve itself."""
    source: str = "<memory>"
    _server: Mapping[str, str] = field(default_factory=dict, repr=False)
    """Prefix -> the centre that serves it."""
    _lengths: tuple[int, ...] = field(default=(), repr=False)
    """The prefix lengths in use, longest first: the longest match is the first that hits."""

    @classmethod
    def of(
        cls,
        centres: Iterable[Centre],
        trunks: Iterable[Trunk],
        doctrine: Mapping[tuple[str, str], Route],
        source: str = "<memory>",
    ) -> Network:
        """Index a network (already validated: `router.routing.network_description` checks it)."""
        by_name = {centre.name: centre for centre in centres}
        server = {prefix: centre.name for centre in by_name.values() for prefix in centre.serves}
        return cls(
            centres=by_name,
            trunks={frozenset(trunk.ends): trunk for trunk in trunks},
            doctrine=dict(doctrine),
            source=source,
            _server=server,
            _lengths=tuple(sorted({len(prefix) for prefix in server}, reverse=True)),
        )

    def prefix_of(self, ri: str) -> str | None:
        """The longest served prefix of ``ri``, or None when no centre serves it."""
        for length in self._lengths:
            if len(ri) >= length and ri[:length] in self._server:
                return ri[:length]
        return None

    def centre_of(self, ri: str) -> Centre | None:
        """The centre whose tributary ``ri`` is: the one with the longest prefix of it (§302)."""
        prefix = self.prefix_of(ri)
        return None if prefix is None else self.centres[self._server[prefix]]

    def served(self, centre: str, posts: Iterable[str]) -> list[str]:
        """Those of ``posts`` that are ``centre``'s tributaries, in order."""
        return [ri for ri in posts if (found := self.centre_of(ri)) is not None and found.name == centre]

    def trunk(self, a: str, b: str) -> Trunk | None:
        """The trunk joining centres ``a`` and ``b``, if there is one."""
        return self.trunks.get(frozenset((a, b)))

    def neighbours(self, centre: str) -> tuple[str, ...]:
        """The centres a trunk joins to ``centre``, alphabetically."""
        return tuple(sorted(t.far_end(centre) for t in self.trunks.values() if centre in t.ends))

    def next_hop(self, centre: str, ri: str, use_alternate: Collection[Trunk] = frozenset()) -> str | None:
        """Where ``centre`` sends a copy for ``ri``: `LOCAL`, a neighbour, or None (no centre serves it).

        The doctrine's primary, unless its trunk is in ``use_alternate`` and the alternate's is not:
        with both ways out the copy waits for the primary (§307: an alternative route "if available").
        """
        prefix = self.prefix_of(ri)
        if prefix is None:
            return None
        if self._server[prefix] == centre:
            return LOCAL
        route = self.doctrine[centre, prefix]
        if not use_alternate or self.trunk(centre, route.primary) not in use_alternate:
            return route.primary
        return route.primary if self.trunk(centre, route.alternate) in use_alternate else route.alternate

    def paths(self, centre: str, ris: Iterable[str], use_alternate: Collection[Trunk] = frozenset()) -> Paths:
        """FL2 segregated at ``centre`` (§303a(3)-(4)): one copy per path out, never one per RI.

        Each copy's FL2 holds only the RIs reached that way, in the order received, each once;
        nothing is put in place of the RIs taken out (§303a(4)). The local path's RIs are this
        centre's tributaries: each of them gets its own single-call copy (§303a(5)).

        ``use_alternate``: the trunks whose traffic for *this* copy goes by the doctrine's
        alternate. Which copies those are is the caller's policy, not the network's: under the
        issue's rule (ACP 127 §307, "extended outage") the trunks down longer than the switch's
        divert time, for FLASH and IMMEDIATE copies only; nothing for PRIORITY and ROUTINE.
        """
        hops: dict[str, list[str]] = {}
        unserved: list[str] = []
        for ri in dict.fromkeys(ris):
            hop = self.next_hop(centre, ri, use_alternate)
            if hop is None:
                unserved.append(ri)
            else:
                hops.setdefault(hop, []).append(ri)
        return Paths({hop: tuple(line) for hop, line in hops.items()}, tuple(unserved))

    def walk(
        self, start: str, prefix: str, use_alternate: Collection[Trunk] = frozenset()
    ) -> tuple[str, ...]:
        """The centres a copy for ``prefix`` passes from ``start``, following each one's doctrine.

        Ends at the serving centre, or at the first centre met twice: a walk whose last centre
        is not the server is a loop. (Each centre decides on FL2 alone (§308c(2)), so where a
        copy has been does not change where it goes.)
        """
        server = self._server[prefix]
        visited = [start]
        while visited[-1] != server:
            here = visited[-1]
            hop = self.next_hop(here, prefix, use_alternate)
            if hop is None or hop == LOCAL:  # not met: only the server is local to the prefix
                break
            visited.append(hop)
            if hop in visited[:-1]:
                break
        return tuple(visited)

    def served_prefixes(self) -> frozenset[str]:
        """Every prefix some centre serves."""
        return frozenset(self._server)

    def served_by(self, prefix: str) -> str | None:
        """The centre that serves exactly ``prefix``, if one does."""
        return self._server.get(prefix)
