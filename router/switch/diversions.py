"""Alternative routing (ACP 127 §307-309): which posts' urgent traffic goes by another post's line.

A post of the routing table may name an alternate (``alternate = "RUEHLO"``): the post whose line
carries its FLASH and IMMEDIATE traffic once its own line has been down `divert_after` network
seconds (§307: "extended outage"); its PRIORITY and ROUTINE wait for the line. The arrangement is
the table's, made beforehand (§308a allows permission "through direct supervisory contact"): no
ZOE request goes on the wire. This keeps the state; `router.switch.lines` queues the copies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from router.cable.models import Precedence

if TYPE_CHECKING:
    from collections.abc import Mapping

    from router.network.line import Line
    from router.routing.table import RoutingTable


class Diversions:
    """Lines down and since when, those whose urgent traffic goes round, and the copies that went."""

    __slots__ = ("_table", "divert_after", "diverted", "diverting", "down_since", "extended", "trunks")

    def __init__(self, table: RoutingTable, divert_after: float) -> None:
        self._table = table
        self.divert_after = divert_after
        """Network seconds a post's line is down before its FLASH and IMMEDIATE go by its alternate."""
        self.down_since: dict[str, float] = {}
        """Posts whose line is down, and since when (network time)."""
        self.diverting: set[str] = set()
        """Posts whose line has been down `divert_after`: their FLASH and IMMEDIATE take the alternate."""
        self.diverted: dict[int, str] = {}
        """Deliveries sent by another post's line and not yet receipted: the post each one is for."""
        self.trunks: frozenset[str] = frozenset()
        """At a switching centre, its trunks (by neighbour): their alternates are the network's doctrine."""
        self.extended: set[str] = set()
        """Trunks down `divert_after` or more: the copies then waiting on them have gone round (§307)."""

    def alternate(self, post: str) -> str | None:
        """The post whose line is ``post``'s alternative route in the table, if any."""
        station = self._table.posts.get(post)
        return station.alternate if station is not None else None

    def wanted(self, post: str, precedence: Precedence, lines: Mapping[str, Line]) -> str | None:
        """The post whose line a copy for ``post`` takes instead of its own, if it must (§307).

        Only FLASH and IMMEDIATE (and ECP), only once the post's line has been down `divert_after`,
        and only while the alternate's own line is up: PRIORITY and ROUTINE wait for the line.
        """
        if post not in self.diverting or precedence < Precedence.IMMEDIATE:
            return None
        alternate = self.alternate(post)
        if alternate is None or ((line := lines.get(alternate)) is not None and not line.up):
            return None
        return alternate

    def went_down(self, post: str, now: float) -> None:
        """The post's line is down from ``now``."""
        self.down_since.setdefault(post, now)

    def came_up(self, post: str) -> bool:
        """The post's line is back; whether its traffic was going round (§309: the route is ended)."""
        self.down_since.pop(post, None)
        self.extended.discard(post)
        if post in self.diverting:
            self.diverting.discard(post)
            return True
        return False

    def begin(self, now: float) -> list[tuple[str, float]]:
        """Posts with an alternate whose line has just been down `divert_after`: (post, seconds down)."""
        begun = [
            (post, round(now - since, 3))
            for post, since in self.down_since.items()
            if post not in self.diverting
            and since + self.divert_after <= now
            and self.alternate(post) is not None
        ]
        self.diverting.update(post for post, _ in begun)
        return begun

    def extend(self, now: float) -> list[tuple[str, float]]:
        """Trunks that have just been down `divert_after`: (neighbour, seconds down); now `extended`."""
        begun = [
            (trunk, round(now - since, 3))
            for trunk, since in self.down_since.items()
            if trunk in self.trunks and trunk not in self.extended and since + self.divert_after <= now
        ]
        self.extended.update(trunk for trunk, _ in begun)
        return begun

    def due(self) -> float | None:
        """When the next post with an alternate (or trunk) will have been down `divert_after`."""
        dues = [
            since + self.divert_after
            for post, since in self.down_since.items()
            if (post not in self.diverting and self.alternate(post) is not None)
            or (post in self.trunks and post not in self.extended)
        ]
        return min(dues) if dues else None

    def went(self, delivery_id: int, post: str) -> None:
        """A copy for ``post`` was put on its alternate's line."""
        self.diverted[delivery_id] = post

    def owner(self, delivery_id: int, line_post: str) -> str:
        """The post a delivery is for: the post of the line it went by, unless it went round."""
        return self.diverted.get(delivery_id, line_post)

    def settle(self, delivery_id: int, line_post: str) -> str:
        """The post a delivery is for (the line's, unless it went round); it is out that way no more."""
        return self.diverted.pop(delivery_id, line_post)

    def gone_round(self, post: str) -> set[int]:
        """Deliveries for ``post`` out by an alternative route: not to be taken back from the journal."""
        return {d for d, addressee in self.diverted.items() if addressee == post}
