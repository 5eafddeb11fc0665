"""Routing decisions, pure: who gets a cable, at what precedence, and what cannot be delivered."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, NamedTuple, TypeAlias

from router.cable.addressee import looks_collective
from router.cable.models import Addressee, Cable, Classification, Exemption, Precedence

if TYPE_CHECKING:
    from router.routing.table import Post, RoutingTable

_made = tuple.__new__
"""A named tuple made from a tuple of its fields, without the Python-level constructor a named
tuple has (the compiled switch's hottest Python call). Every field given, in order: nothing checks
their number, nor fills a default."""

Role = Literal["action", "info"]
InterceptReason = Literal[
    "unknown-addressee",
    "unknown-collective",
    "not-cleared",
    "caveat-barred",
    "no-addressees",
    "fanout-budget",
    "unserved",
]


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
    pouched: tuple[Addressee, ...]
    """``POUCH`` addressees: they get the cable by diplomatic pouch, so not over the network either."""
    exempted: tuple[str, ...]
    """Collective members left out because an XMT line exempts them (§205)."""
    exempted_lines: tuple[int, ...] = ()
    """Collective lines all of whose members were exempted: nothing left to deliver."""
    originators: tuple[str, ...] = ()
    """The posts the FM line names (§205c): a collective does not send a cable back to them."""

    def accounted_lines(self) -> frozenset[int]:
        """Every addressee line this decision says something about."""
        lines = {a.line for a in (*self.zen, *self.pouched)}
        lines.update(*(d.lines for d in self.deliveries), *(i.lines for i in self.intercepts))
        lines.update(self.exempted_lines)
        return frozenset(lines)

    def set_aside(self) -> tuple[tuple[str, str], ...]:
        """The addressees this decision does not deliver to, and why: what the journal keeps of them.

        A collective's member left out is exempted by an XMT line, or is the originator named on
        the FM line (a collective does not send a cable back to its originator, §205c).
        """
        if not (self.zen or self.pouched or self.exempted):
            return ()
        return (
            *((a.name, "zen") for a in self.zen),
            *((a.name, "pouch") for a in self.pouched),
            *((ri, "originator" if ri in self.originators else "exempted") for ri in self.exempted),
        )


def decide(cable: Cable, table: RoutingTable) -> RoutingDecision:
    """Route one cable through ``table``: one delivery per post, an intercept per failure."""
    zen, pouched = _by_other_means(cable)
    originators = _originators(cable, table)
    left_out = _left_out_of_collectives(cable, table, (*zen, *pouched)) | originators
    ways, intercepts, exempted, exempted_lines = _resolve_addressees(cable, table, left_out)
    if not cable.to and not cable.info:
        intercepts.append(Intercept("", "no-addressees", ()))
    deliveries = _deliver_if_cleared(cable, _one_copy_per_post(ways), intercepts)
    return RoutingDecision(
        tuple(deliveries),
        tuple(intercepts),
        zen,
        pouched,
        tuple(dict.fromkeys(exempted)),
        tuple(exempted_lines),
        tuple(sorted(originators)),
    )


class _Way(NamedTuple):
    """One addressee line and the posts it reaches."""

    addressee: Addressee
    role: Role
    via: str
    posts: tuple[Post, ...]
    ris: tuple[str, ...]
    precedence: Precedence
    """The line's precedence; for an AIG's information addressees, the cable's info precedence."""


_Resolved: TypeAlias = "tuple[list[_Way], list[Intercept], list[str], list[int]]"
"""The ways to posts, the intercepts, the collective members left out, the lines left with none.

(Plain tuples, not named ones: a routing decision makes these once per cable, and a named
tuple costs a measurable share of it.)
"""
_Copies: TypeAlias = "tuple[list[tuple[_Way, tuple[Post, ...]]], dict[str, list[int]], set[str]]"
"""Each way with the posts whose copy it decides; the lines after the first that reach a post
(few); the posts a NIACT line reaches, by whichever way."""


def _by_other_means(cable: Cable) -> tuple[tuple[Addressee, ...], tuple[Addressee, ...]]:
    """The ``ZEN/`` addressees (§206b: they already hold the cable) and the ``POUCH`` ones (by pouch)."""
    if not any(a.zen or a.pouch for a in cable.addressees):
        return (), ()
    zen = tuple(a for a in cable.addressees if a.zen)
    return zen, tuple(a for a in cable.addressees if a.pouch and not a.zen)


def _left_out_of_collectives(
    cable: Cable, table: RoutingTable, other_means: tuple[Addressee, ...]
) -> frozenset[str]:
    """The posts XMT lines (§205), ZEN (§206b) and POUCH addressees leave out of the collectives.

    They are exempted, already hold the cable, or get it by pouch. A name stands for every post
    that bears it: the collective's own membership says which one it reaches (Annex B FL9).
    """
    if not (cable.xmt or other_means):
        return frozenset()
    stations: tuple[Exemption | Addressee, ...] = (*cable.xmt, *other_means)
    return frozenset().union(*(table.designated(s.ri, s.name) for s in stations))


def _originators(cable: Cable, table: RoutingTable) -> frozenset[str]:
    """The posts the FM line names: a collective or AIG does not send a cable back to its originator.

    ACP 127 §205c: the originator is the station of format line 6 (FM), whatever station prepared
    the message for transmission (DE, §133: RUEHFRA for AMEMBASSY PARIS in 07PARIS170); an ACP 126
    cable has no DE line and still has an originator. Only without an FM line does the DE line's
    station stand for it.
    """
    if cable.originator:
        return table.designated(cable.originator_ri, cable.originator)
    if cable.station_serial is not None:
        return frozenset((cable.station_serial.originating_ri,))
    return frozenset()


def _resolve_addressees(cable: Cable, table: RoutingTable, excluded: frozenset[str]) -> _Resolved:
    """Each TO and INFO line resolved to its posts, collectives expanded less the posts ``excluded``."""
    ways: list[_Way] = []
    intercepts: list[Intercept] = []
    exempted: list[str] = []
    exempted_lines: list[int] = []
    roles: tuple[tuple[Role, tuple[Addressee, ...]], ...] = (("action", cable.to), ("info", cable.info))
    for role, addressees in roles:
        for addressee in addressees:
            if addressee.zen or addressee.pouch:
                continue
            resolution = table.resolve(addressee.ri, addressee.name)
            if resolution is None or not resolution.posts:
                # A collective with no known membership and no RI cannot be expanded.
                reason: InterceptReason = (
                    "unknown-collective"
                    if resolution is not None or looks_collective(addressee.name)
                    else "unknown-addressee"
                )
                intercepts.append(Intercept(_as_written(addressee), reason, (addressee.line,)))
                continue
            members, ris = resolution.posts, resolution.ris
            if resolution.collective and excluded and not excluded.isdisjoint(ris):
                members = tuple(p for p in members if p.ri not in excluded)
                ris = tuple(p.ri for p in members)
                exempted.extend(ri for ri in resolution.ris if ri in excluded)
                if not members:
                    exempted_lines.append(addressee.line)
            if resolution.informed and role == "action":
                ways.extend(_aig_ways(cable, addressee, resolution.via, members, resolution.informed))
            else:
                ways.append(
                    _made(_Way, (addressee, role, resolution.via, members, ris, addressee.precedence))
                )
    return ways, intercepts, exempted, exempted_lines


def _aig_ways(
    cable: Cable, addressee: Addressee, via: str, members: tuple[Post, ...], informed: frozenset[str]
) -> list[_Way]:
    """An AIG addressed for action: its action addressees act, its information addressees are informed.

    §152a: a message to a single AIG with action and information addressees may carry two
    precedences, the lower for the information addressees; they never get more than the line.
    """
    acting = tuple(p for p in members if p.ri not in informed)
    told = tuple(p for p in members if p.ri in informed)
    lower = min(addressee.precedence, cable.info_precedence or addressee.precedence)
    return [
        _Way(addressee, "action", via, acting, tuple(p.ri for p in acting), addressee.precedence),
        _Way(addressee, "info", via, told, tuple(p.ri for p in told), lower),
    ]


def _one_copy_per_post(ways: list[_Way]) -> _Copies:
    """ACP 127 §222: a post reached several ways gets one copy, at the highest precedence, action over info.

    Taking the ways best first, the first way to reach a post decides its copy; the later ones
    only add their lines (and a NIACT).
    """
    ways.sort(key=_best_first)
    claimed: set[str] = set()
    also: dict[str, list[int]] = {}
    won: list[tuple[_Way, tuple[Post, ...]]] = []
    for way in ways:
        taken = claimed.intersection(way.ris)
        for ri in taken:
            also.setdefault(ri, []).append(way.addressee.line)
        won.append((way, tuple(p for p in way.posts if p.ri not in taken) if taken else way.posts))
        claimed.update(way.ris)
    niact = {ri for way in ways if way.addressee.niact for ri in way.ris}
    return won, also, niact


def _deliver_if_cleared(cable: Cable, copies: _Copies, intercepts: list[Intercept]) -> list[Delivery]:
    """Each post's copy, delivered if the post may have the cable.

    A post not cleared for the cable's classification, or barred one of its caveats, is
    intercepted instead (added to ``intercepts``).
    """
    level = handling_level(cable).rank
    caveats = frozenset(cable.caveats)
    won, also, niact = copies
    deliveries = []
    for way, posts in won:
        precedence, role, via = way.precedence, way.role, way.via
        only = (way.addressee.line,)  # shared by every post this line alone reaches
        for post in posts:
            ri = post.ri
            lines = (*only, *also[ri]) if ri in also else only
            if level > post.clearance.rank or (caveats and not caveats.isdisjoint(post.barred_caveats)):
                intercepts.append(Intercept(ri, _barred(post, level), lines, ri))
            else:
                deliveries.append(_made(Delivery, (ri, precedence, role, ri in niact, via, lines)))
    return deliveries


def handling_level(cable: Cable) -> Classification:
    """The level a cable is handled at: its classification; without one, what its header implies.

    An ACP 127 cable without FL4 and without a banner goes over approved channels only (§203b(2)):
    it is handled as RESTRICTED, the lowest level that needs an approved channel, so that no post
    on an unclassified channel gets it. Anything else unmarked is handled as UNCLASSIFIED.
    """
    if cable.classification is not None:
        return cable.classification
    if cable.family == "acp127" and cable.security_warning is None:
        return Classification.RESTRICTED
    return Classification.UNCLASSIFIED


def _best_first(way: _Way) -> tuple[int, bool, int]:
    """Highest precedence first, then action before info, then the order written."""
    return (-way.precedence.rank, way.role != "action", way.addressee.line)


def _barred(post: Post, level: int) -> InterceptReason:
    """Why a barred post may not have the cable: its clearance, else one of its barred caveats.

    A switch never sends a message over a channel approved for a lower classification (DOMAIN).
    """
    return "not-cleared" if level > post.clearance.rank else "caveat-barred"


def _as_written(addressee: Addressee) -> str:
    return f"{addressee.ri}/{addressee.name}" if addressee.ri else addressee.name
