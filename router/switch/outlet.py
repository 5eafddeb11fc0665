"""What a line is and what goes out on it: its profile, its topic, its copies (a post's, by default).

`router.switch.lines` runs the lines; this says, for each, what its speed and channel designator
are, where its traffic goes on the bus, and the bytes of a copy under a transmission id: a post's
single-call copy (§303: FL1 with the line's serial, FL2 the prosign and the post's RI alone, the
message unchanged). A switching centre's trunks are lines too, with copies of their own
(`router.switch.trunks.TrunkOutlet`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from router.bus import topics
from router.network.channel import heading, line_characters

if TYPE_CHECKING:
    from router.cable.models import Precedence
    from router.network.line import Consignment, Line, LineCode, Queued
    from router.routing.table import LineProfile, RoutingTable


class Outlet:
    """A post's line: its profile from the routing table, copies on cables/out/<RI>."""

    def __init__(self, table: RoutingTable) -> None:
        self.table = table
        self._headings: dict[tuple[str, Precedence, bool, LineCode], int] = {}
        """Characters of a copy's heading on a line, by post, precedence, pilot and code."""

    def profile(self, post: str) -> tuple[LineProfile, str]:
        """The line's speed, window and code, and its channel designator ("": by the post's RI)."""
        station = self.table.posts.get(post) or self.table.relayed_station(post)
        return (station.line if station is not None else self.table.defaults.line), ""

    def topic(self, post: str) -> str:
        """Where the line's traffic goes: its copies, cancellations and service messages."""
        return topics.copies(post)

    def heading_characters(self, post: str, line: Line, consignment: Consignment, *, suspect: bool) -> int:
        """Line characters of a copy's heading: FL1, FL2 and the ZFD pilot if ``suspect``."""
        code = line.line_code
        key = (post, consignment.precedence, suspect, code)
        head = self._headings.get(key)
        if head is None:
            prosign = consignment.precedence.letter * 2
            head = line_characters(heading(f"{line.channel}0000", post, prosign, suspect=suspect), code)
            self._headings[key] = head
        return head

    def copy(self, post: str, transmission_id: str, queued: Queued, part: bytes, *, suspect: bool) -> bytes:
        """The copy as sent: FL2 calls the post it is for, also on an alternative route (§308c)."""
        called = queued.addressee or post
        return heading(transmission_id, called, queued.precedence.letter * 2, suspect=suspect) + part

    def carry(self, delivery_id: int, ris: tuple[str, ...]) -> None:
        """The RIs a trunk copy's FL2 calls; a post's copy calls its post alone (§303a(5)): nothing kept."""
