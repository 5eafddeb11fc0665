"""A switching centre's trunks as lines: their profile, their channel designator, their transmissions.

A trunk to a neighbouring centre is a line keyed by that centre's name, at the speed, window and
code the network description gives the trunk (`config/network.toml`). What goes on it is a
multiple-call transmission (§303a(1)): FL1 with the trunk's channel designator and serial, FL2 the
prosign and every RI the neighbour delivers to or relays for, over as many lines as they need, then
the message from FL3 on, as received (`router.network.trunk.write_transmission`). It goes on
``trunks/<NEIGHBOUR>/from/<ME>``; the neighbour receipts it on ``trunks/<ME>/ack/<NEIGHBOUR>``.

The channel designator (§112) is the sending centre's initial and the receiving centre's first two
letters: ``BDE`` is BELTSVILLE's channel to DETRICK, ``DBE`` the way back. The five centres of the
committed network have distinct initials, so each channel's designator is its own; a network
whose centres share an initial still works (the topic names the trunk), its designators less telling.

A trunk copy sent again for want of a receipt (or after a restart) carries the suspected-duplicate
pilot ``ZFD`` and the switch's RI (§427a), as a post's copy does: a centre has no RI of its own.
A message a centre received with that pilot, and had not received before, goes on as a suspected
duplicate (§427c(2)): every copy of it this centre sends carries the pilot it came with, its trunk
copies with the forwarding station's RI as received, its posts' copies with ZFD as any suspect
copy of the switch's. Which cables came so is kept in memory (`PILOTS_HELD`): a copy of one that
still waits when the centre restarts goes without it, unless it is a resend (then ZFD anyway).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING, Protocol

from router.bus import topics
from router.network.channel import SWITCH_RI, line_characters
from router.network.trunk import RoutingLine, write_transmission
from router.switch.outlet import Outlet

if TYPE_CHECKING:
    from router.network.line import Consignment, Line, Queued
    from router.routing.network import Network, Trunk
    from router.routing.table import LineProfile, RoutingTable


class TrunkReads(Protocol):
    """What the trunks ask the journal: the RIs of a copy not held in memory."""

    def trunk_ris(self, delivery_id: int) -> tuple[str, ...]:
        """The RIs of a trunk copy's FL2."""


RIS_HELD = 4096
"""Trunk copies whose FL2 RIs are kept in memory; older ones are read from the journal (`deliveries.ris`)."""
PILOTS_HELD = 4096
"""Cables received as suspected duplicates whose pilot is kept for their onward copies (§427c(2))."""


def designator(sender: str, receiver: str) -> str:
    """The channel designator of the trunk from ``sender`` to ``receiver``: ``BDE`` (see the module)."""
    return (sender[:1] + receiver[:2]).ljust(3, "X")


class TrunkOutlet(Outlet):
    """A centre's lines: its posts' as the single switch's, and a trunk to each neighbouring centre."""

    def __init__(self, table: RoutingTable, centre: str, network: Network, journal: TrunkReads) -> None:
        super().__init__(table)
        self.centre = centre
        self.trunks: dict[str, Trunk] = {
            neighbour: trunk
            for neighbour in network.neighbours(centre)
            if (trunk := network.trunk(centre, neighbour)) is not None
        }
        """The trunks out of the centre, by the neighbour at their far end."""
        self._journal = journal
        self._ris: OrderedDict[int, tuple[str, ...]] = OrderedDict()
        self._pilots: OrderedDict[int, str] = OrderedDict()
        """Cables received with the ZFD pilot: the forwarding station's RI it named (§427c(2))."""

    def profile(self, post: str) -> tuple[LineProfile, str]:
        """A trunk's speed, window and code from the network description, and its designator."""
        trunk = self.trunks.get(post)
        if trunk is None:
            return super().profile(post)
        return trunk.line, designator(self.centre, post)

    def topic(self, post: str) -> str:
        """A trunk's traffic on trunks/<NEIGHBOUR>/from/<ME>; a post's on its copies topic."""
        return topics.trunk(post, self.centre) if post in self.trunks else super().topic(post)

    def carry(self, delivery_id: int, ris: tuple[str, ...]) -> None:
        """Keep the RIs of a trunk copy's FL2 for its transmission (the journal has them too)."""
        self._ris[delivery_id] = ris
        if len(self._ris) > RIS_HELD:
            self._ris.popitem(last=False)

    def piloted(self, cable_id: int, pilot: str) -> None:
        """The cable came as a suspected duplicate forwarded by ``pilot``: its copies go as one (§427c(2))."""
        self._pilots[cable_id] = pilot
        if len(self._pilots) > PILOTS_HELD:
            self._pilots.popitem(last=False)

    def _pilot(self, cable_id: int, *, suspect: bool) -> str | None:
        """The RI a copy's ZFD pilot names: the switch's if it is sent again, else the one received."""
        return SWITCH_RI if suspect else self._pilots.get(cable_id)

    def ris_of(self, delivery_id: int) -> tuple[str, ...]:
        """The RIs of a trunk copy's FL2: held in memory, else the journal's."""
        return self._ris.get(delivery_id) or self._journal.trunk_ris(delivery_id)

    def _line(self, consignment: Consignment) -> RoutingLine:
        return RoutingLine(consignment.precedence, self.ris_of(consignment.delivery_id))

    def heading_characters(self, post: str, line: Line, consignment: Consignment, *, suspect: bool) -> int:
        """A trunk transmission's FL1, FL2 of all its RIs and the pilot; a post's copy's heading."""
        if post not in self.trunks:
            suspect = suspect or consignment.cable_id in self._pilots
            return super().heading_characters(post, line, consignment, suspect=suspect)
        pilot = self._pilot(consignment.cable_id, suspect=suspect)
        head = write_transmission(f"{line.channel}0000", self._line(consignment), b"", pilot=pilot)
        return line_characters(head, line.line_code)

    def copy(self, post: str, transmission_id: str, queued: Queued, part: bytes, *, suspect: bool) -> bytes:
        """A trunk transmission (§303a(1)); a post's single-call copy as the single switch's."""
        if post not in self.trunks:
            suspect = suspect or queued.cable_id in self._pilots
            return super().copy(post, transmission_id, queued, part, suspect=suspect)
        pilot = self._pilot(queued.cable_id, suspect=suspect)
        return write_transmission(transmission_id, self._line(queued.consignment), part, pilot=pilot)
