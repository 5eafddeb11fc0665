"""Routing decisions, pure: who gets a cable, at what precedence, and what cannot be delivered."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, NamedTuple

from router.addressee import looks_collective
from router.models import Addressee, Cable, Classification, Exemption, Precedence

if TYPE_CHECKING:
    from router.table import Post, RoutingTable

Role = Literal["action", "info"]
InterceptReason = Literal[
    "unknown-addressee",
    "unknown-collective",
    "not-cleared",
    "caveat-barred",
    "no-addressees",
]
DIRECT = "direct"


class Delivery(NamedTuple):
    """One copy of a cable for one post (a named tuple: immutable, and cheap to make by the million)."""

    post: str
    """The post's routing indicator: its output topic is built from this alone."""
    precedence: Precedence
    role: Role
    niact: bool
    via: str
    """``direct``, the collective's name, or ``relay <PREFIX>`` for an RI known only by its relay."""
    lines: tuple[int, ...]
    """The addressee lines of the cable that reach this post."""


@dataclass(frozen=True, slots=True)
class Intercept:
    """An addressee the switch cannot deliver to, held for an operator with the reason."""

    addressee: str
    reason: InterceptReason
    lines: tuple[int, ...]
    """The addressee lines concerned (several when a post not cleared was reached several ways)."""
    post: str | None = None
    """The post concerned, where there is one (a post not cleared for the cable)."""


@dataclass(frozen=True, slots=True)
class RoutingDecision:
    """Everything the switch does with one cable: deliveries, intercepts, and lines set aside."""

    deliveries: tuple[Delivery, ...]
    intercepts: tuple[Intercept, ...]
    zen: tuple[Addressee, ...]
    """``ZEN/`` addressees: already delivered by other means (§206b); not delivered, not failures."""
    exempted: tuple[str, ...]
    """Collective members left out because an XMT line exempts them (§205)."""
    exempted_lines: tuple[int, ...] = ()
    """Collective lines all of whose members were exempted: nothing left to deliver."""

    def accounted_lines(self) -> frozenset[int]:
        """Every addressee line this decision says something about."""
        lines = {a.line for a in self.zen}
        lines.update(*(d.lines for d in self.deliveries), *(i.lines for i in self.intercepts))
        lines.update(self.exempted_lines)
        return frozenset(lines)


@dataclass(frozen=True, slots=True)
class _Resolution:
    posts: tuple[Post, ...]
    via: str
    collective: bool = False


@dataclass(slots=True)
class _Route:
    post: Post
    precedence: Precedence
    role: Role
    niact: bool
    via: str
    lines: list[int]

    def offer(self, addressee: Addressee, role: Role, via: str) -> None:
        # ACP 127 §222: a post reached several ways gets one copy, at the highest precedence,
        # action over info; the way that wins names the copy's path.
        self.lines.append(addressee.line)
        self.niact = self.niact or addressee.niact
        if (addressee.precedence, role == "action") > (self.precedence, self.role == "action"):
            self.precedence, self.role, self.via = addressee.precedence, role, via


def decide(cable: Cable, table: RoutingTable) -> RoutingDecision:
    """Route one cable through ``table``: one delivery per post, an intercept per failure."""
    routes: dict[str, _Route] = {}
    intercepts: list[Intercept] = []
    exempted: list[str] = []
    exempted_lines: list[int] = []
    zen = tuple(a for a in cable.addressees if a.zen)
    # XMT (§205) and ZEN (§206b) posts are left out of every collective: they are exempted,
    # or already hold the cable.
    excluded = _exemptions(cable, table)
    roles: tuple[tuple[Role, tuple[Addressee, ...]], ...] = (("action", cable.to), ("info", cable.info))
    for role, addressees in roles:
        for addressee in addressees:
            if addressee.zen:
                continue
            resolution = _resolve(addressee, table)
            if resolution is None or not resolution.posts:
                # A collective with no known membership and no RI cannot be expanded.
                reason: InterceptReason = (
                    "unknown-collective"
                    if resolution is not None or looks_collective(addressee.name)
                    else "unknown-addressee"
                )
                intercepts.append(Intercept(_as_written(addressee), reason, (addressee.line,)))
                continue
            members = resolution.posts
            if resolution.collective and excluded:
                members = tuple(p for p in members if p.ri not in excluded)
                exempted.extend(p.ri for p in resolution.posts if p.ri in excluded)
                if not members:
                    exempted_lines.append(addressee.line)
            for post in members:
                if (route := routes.get(post.ri)) is not None:
                    route.offer(addressee, role, resolution.via)
                else:
                    routes[post.ri] = _Route(
                        post, addressee.precedence, role, addressee.niact, resolution.via, [addressee.line]
                    )
    if not cable.to and not cable.info:
        intercepts.append(Intercept("", "no-addressees", ()))
    classification = cable.classification or Classification.UNCLASSIFIED
    caveats = frozenset(cable.caveats)
    # Every post may take unclassified traffic without caveats: most cables skip the checks.
    screened = classification is not Classification.UNCLASSIFIED or bool(caveats)
    deliveries = []
    for route in routes.values():
        barred = _barred(route.post, classification, caveats) if screened else None
        if barred is not None:
            intercepts.append(Intercept(route.post.ri, barred, tuple(route.lines), route.post.ri))
        else:
            deliveries.append(
                Delivery(
                    route.post.ri, route.precedence, route.role, route.niact, route.via, tuple(route.lines)
                )
            )
    return RoutingDecision(
        tuple(deliveries), tuple(intercepts), zen, tuple(dict.fromkeys(exempted)), tuple(exempted_lines)
    )


def _resolve(addressee: Addressee, table: RoutingTable) -> _Resolution | None:
    """By RI when one is written (post, collective, or relay prefix), else by normalised name."""
    if ri := addressee.ri:
        if (post := table.posts.get(ri)) is not None:
            return _Resolution((post,), DIRECT)
        if (collective := table.collective_with_ri(ri)) is not None:
            return _Resolution(collective.posts, collective.name, collective=True)
        if (relayed := table.relayed_station(ri)) is not None:
            relay = table.relay_for(ri)
            return _Resolution((relayed,), f"relay {relay.prefix if relay else ''}")
    if (post := table.post_named(addressee.name)) is not None:
        return _Resolution((post,), DIRECT)
    if (collective := table.collective_named(addressee.name)) is not None:
        return _Resolution(collective.posts, collective.name, collective=True)
    return None


def _exemptions(cable: Cable, table: RoutingTable) -> frozenset[str]:
    exempt = set()
    stations: list[Exemption | Addressee] = [*cable.xmt, *(a for a in cable.addressees if a.zen)]
    for station in stations:
        post = table.posts.get(station.ri) if station.ri else None
        post = post or table.post_named(station.name)
        if post is not None:
            exempt.add(post.ri)
    return frozenset(exempt)


def _barred(post: Post, classification: Classification, caveats: frozenset[str]) -> InterceptReason | None:
    """A switch never sends a message over a channel approved for less (DOMAIN: switching)."""
    if classification > post.clearance:
        return "not-cleared"
    if caveats & post.barred_caveats:
        return "caveat-barred"
    return None


def _as_written(addressee: Addressee) -> str:
    return f"{addressee.ri}/{addressee.name}" if addressee.ri else addressee.name
