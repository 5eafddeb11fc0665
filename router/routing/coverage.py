"""How much of a body of traffic a routing table delivers: the figure behind the 95 % floor."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from router.routing.decide import decide

if TYPE_CHECKING:
    from collections.abc import Iterable

    from router.cable.models import Cable
    from router.routing.table import RoutingTable


@dataclass(slots=True)
class Coverage:
    """Addressee lines (TO and INFO, ZEN left out) delivered, and intercepts by reason."""

    addressee_lines: int = 0
    delivered: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    unresolved: Counter[str] = field(default_factory=Counter)

    @property
    def share(self) -> float:
        """Percentage of addressee lines that reach at least one post."""
        return 100 * self.delivered / self.addressee_lines if self.addressee_lines else 100.0


def measure(cables: Iterable[Cable], table: RoutingTable) -> Coverage:
    """Route every cable and count, per addressee line, whether a delivery came of it."""
    coverage = Coverage()
    for cable in cables:
        decision = decide(cable, table)
        reached = {line for delivery in decision.deliveries for line in delivery.lines}
        for addressee in cable.addressees:
            if not (addressee.zen or addressee.pouch):  # not for the network to deliver
                coverage.addressee_lines += 1
                coverage.delivered += addressee.line in reached
        for intercept in decision.intercepts:
            coverage.reasons[intercept.reason] += 1
            if intercept.reason.startswith("unknown"):
                coverage.unresolved[intercept.addressee] += 1
    return coverage
