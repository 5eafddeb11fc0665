"""The committed routing table on real traffic: the delivery floor and the routing invariants."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from router import Cable, Classification, parse_cable
from router.routing.coverage import measure
from router.routing.decide import decide
from router.routing.table import RoutingTable, is_routing_indicator, load_table

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture(scope="module")
def table() -> RoutingTable:
    """The default table, config/routing.toml."""
    return load_table()


@pytest.fixture(scope="module")
def cables(corpus_dir: Path) -> list[Cable]:
    """Every cable of the corpus."""
    return [parse_cable(path.read_bytes()) for path in sorted(corpus_dir.glob("*.txt"))]


def test_at_least_95_percent_of_addressee_lines_are_delivered(
    cables: list[Cable], table: RoutingTable
) -> None:
    """TO and INFO lines (ZEN aside) of real traffic end as deliveries 95 % of the time or more."""
    coverage = measure(cables, table)
    assert coverage.addressee_lines > 16_000
    assert coverage.share >= 95.0


def test_invariants_hold_on_every_real_cable(cables: list[Cable], table: RoutingTable) -> None:
    """No copy above clearance or against a caveat, one per post, every addressee line accounted for."""
    for cable in cables:
        decision = decide(cable, table)
        posts = [d.post for d in decision.deliveries]
        assert len(posts) == len(set(posts)), cable.message_id
        level = cable.classification or Classification.UNCLASSIFIED
        for delivery in decision.deliveries:
            assert is_routing_indicator(delivery.post)
            post = table.posts.get(delivery.post) or table.relayed_station(delivery.post)
            assert post is not None
            assert level <= post.clearance
            assert not set(cable.caveats) & post.barred_caveats
        assert decision.accounted_lines() >= {a.line for a in cable.addressees}, cable.message_id
