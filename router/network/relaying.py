"""Relaying between switching centres, pure: the originating routing lines, FL2 segregation, onward copies.

A message leaves its originating centre with every RI it must reach on FL2 (ACP 127 §303a(1)); each
centre on the way routes it on FL2 alone (§303a(3)), sends one copy per transmission path out whose
FL2 holds just the RIs reached that way (§303a(4)), and gives each of its own tributaries a
single-call copy (§303a(5)). The message from FL3 on never changes on the way (§116, §303).

The functions here decide; the switch acts: it numbers each transmission on its trunk or post line
when it starts (`onward_transmission` takes the transmission id then), journals and sends it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from router.network.channel import heading, message_part
from router.network.trunk import RoutingLine, read_transmission, write_transmission
from router.routing.network import LOCAL

if TYPE_CHECKING:
    from collections.abc import Collection, Iterable

    from router.cable.models import Precedence
    from router.routing.decide import Delivery
    from router.routing.network import Network, Trunk


class Onward(NamedTuple):
    """One transmission a centre sends on: the path it takes, its routing line, the message."""

    path: str
    """The neighbouring centre whose trunk carries it, or `LOCAL`: a single-call copy for one of
    the centre's own tributaries, its RI alone on the routing line (§303a(5))."""
    line: RoutingLine
    message: bytes
    """The message from FL3 on, as the centre received it (§303: never altered)."""
    pilot: str | None = None
    """The RI of the station that forwarded it as a suspected duplicate: it goes on as one (§427c(2))."""


class Relayed(NamedTuple):
    """What a centre does with one transmission: the copies it sends on, the RIs it cannot route."""

    onward: tuple[Onward, ...]
    """Trunk copies in the order their paths' first RIs came in FL2; each local copy where its
    tributary's RIs came (`router.routing.network.Network.paths`)."""
    unserved: tuple[str, ...]
    """RIs no centre serves: for the intercept position, not dropped (DOMAIN.md, unroutable traffic)."""


def originating_lines(
    deliveries: Iterable[Delivery], network: Network | None = None
) -> tuple[RoutingLine, ...]:
    """The routing lines the originating centre puts on a message: one per precedence, highest first.

    Each post's RI stands once (§204c), on the line of its delivery's precedence: the routing
    decision gives each post one copy, at the highest precedence any of its addressee lines asks
    (§222), the information addressees of a dual-precedence message the lower (§152a).

    Dual precedence. One transmission carries one prosign, and when it carries both kinds of
    addressee that is the higher (§152b): every relay after would handle the information copies
    at the action precedence, for an automatic relay cannot substitute the lower prosign (§152,
    NOTE; §311d's change at RUFD is a manual station's). So the originating centre segregates by
    precedence itself, as §303b allows "when it is desired to transmit dual precedence messages to
    each addressee at the appropriate precedence": each transmission with the prosign of its
    addressees (§152c-d, §303b(2)) and the same message, DTG and SSN (§303b(3)). For a FLASH with
    a lower precedence that is required (§152e). Every post so gets its copy at the precedence
    the single switch gives it today, and a message of one precedence, most of them, still
    leaves as one transmission (§303a(1)). NIACT changes nothing here: IMMEDIATE on the wire.

    With ``network``, the RIs a centre serves stand together, in the order their first came
    (§204b: the RIs of one relay station "grouped together", "not intermingled indiscriminately");
    without, in the order of the deliveries.
    """
    # One delivery per post from `router.routing.decide`; given more, the highest decides (§222).
    best: dict[str, Precedence] = {}
    for delivery in deliveries:
        if delivery.post not in best or delivery.precedence > best[delivery.post]:
            best[delivery.post] = delivery.precedence
    by_precedence: dict[Precedence, list[str]] = {}
    for post, precedence in best.items():
        by_precedence.setdefault(precedence, []).append(post)
    return tuple(
        RoutingLine(precedence, _grouped(by_precedence[precedence], network))
        for precedence in sorted(by_precedence, reverse=True)
    )


def _grouped(ris: list[str], network: Network | None) -> tuple[str, ...]:
    """``ris`` with those of one serving centre together (§204b); RIs no centre serves last."""
    if network is None:
        return tuple(ris)
    groups: dict[str | None, list[str]] = {}
    for ri in ris:
        centre = network.centre_of(ri)
        groups.setdefault(centre.name if centre else None, []).append(ri)
    unserved = groups.pop(None, [])
    return (*(ri for group in groups.values() for ri in group), *unserved)


def segregate(
    line: RoutingLine,
    message: bytes,
    centre: str,
    network: Network,
    use_alternate: Collection[Trunk] = frozenset(),
) -> Relayed:
    """Routing line segregation at ``centre`` (§303a(3)-(4)): one copy per path out, never one per RI.

    Each trunk copy's FL2 holds only the RIs reached that way, in the order received, and nothing in
    place of those taken out (§303a(4)); its prosign is the received one (§152, NOTE). Each RI the
    centre serves gets its own single-call copy (§303a(5)). ``use_alternate``: the trunks whose
    traffic goes by the doctrine's alternate for this copy (`Network.paths`, §307). The originating
    centre segregates its own routing lines the same way, after `originating_lines`.
    """
    paths = network.paths(centre, line.ris, use_alternate)
    onward: list[Onward] = []
    for path, ris in paths.hops.items():
        if path == LOCAL:
            onward.extend(Onward(LOCAL, RoutingLine(line.precedence, (ri,)), message) for ri in ris)
        else:
            onward.append(Onward(path, RoutingLine(line.precedence, ris), message))
    return Relayed(tuple(onward), paths.unserved)


def relay(
    payload: bytes, centre: str, network: Network, use_alternate: Collection[Trunk] = frozenset()
) -> Relayed:
    """What ``centre`` sends on for a transmission off a trunk: FL2 read (`read_transmission`), segregated.

    A malformed FL1 or FL2, or no FL3, is a `router.errors.CableParseError` naming where. The
    received FL1 goes no further: each onward transmission gets its own line's number when it starts.
    """
    received = read_transmission(payload)
    relayed = segregate(received.line, received.message, centre, network, use_alternate)
    if received.pilot is None:
        return relayed
    # A suspected duplicate goes on as one to every station after (§427c(2)).
    onward = tuple(copy._replace(pilot=received.pilot) for copy in relayed.onward)
    return relayed._replace(onward=onward)


def onward_transmission(transmission_id: str, onward: Onward) -> bytes:
    """The whole transmission of ``onward`` under ``transmission_id`` (its line's channel and serial).

    On a trunk: FL1, FL2 over as many lines as it needs, the pilot if any, the message as received
    (`write_transmission`). To a tributary: exactly the single-call copy the switch sends a post
    today, `heading` and `message_part`, so that a post reads it as it reads every copy
    (`router.network.channel.read_copy`); a suspected duplicate carries the switch's ZFD pilot.
    """
    if onward.path != LOCAL:
        return write_transmission(transmission_id, onward.line, onward.message, pilot=onward.pilot)
    (post,) = onward.line.ris
    suspect = onward.pilot is not None
    return heading(transmission_id, post, onward.line.prosign, suspect=suspect) + message_part(onward.message)
