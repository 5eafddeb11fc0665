"""The journal's read queries: plain rows out of a journal opened read-only.

The journal is written by a real switch (in-memory bus, manual clock), once in SQLite and once in
the private PostgreSQL (`tests.postgres`): the read-outs' SQL must mean the same on both.
"""

from __future__ import annotations

import sqlite3
from contextlib import asynccontextmanager, closing
from typing import TYPE_CHECKING

import pytest

from router.bus.memory import MemoryBroker
from router.journal import queries
from router.journal.store import Journal
from router.network.clock import ManualClock
from router.readout.report import read_report
from router.readout.trace import read_trace
from router.routing.table import parse_table
from tests.helpers import receipt_for, running
from tests.test_simulation import START, TABLE, Network, cable
from tests.test_trace import FLASH, ROUTINE

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path


@asynccontextmanager
async def network_on(journal_url: str) -> AsyncIterator[Network]:
    """The simulation's one-post network (Paris on a 75-baud line), its journal at ``journal_url``."""
    broker = MemoryBroker()
    clock = ManualClock(START)
    journal = Journal(journal_url, clock=clock.now)
    try:
        async with running(
            broker.connect(), journal, parse_table(TABLE), clock=clock, log_copies=True
        ) as router:
            net = Network(broker, clock, journal, router)
            await net.paris.subscribe("cables/out/RUEHFR")
            yield net
    finally:
        journal.close()


async def busted_and_receipted(journal_url: str) -> str:
    """A long ROUTINE to Paris busted by a FLASH, the FLASH receipted and sent twice, a bad cable."""
    async with network_on(journal_url) as net:
        await net.publish(cable(1, "R", text=3000))
        await net.clock.advance(60)
        await net.publish(cable(2, "Z"))
        await net.clock.advance(40)
        received = net.received()
        await net.publisher.publish("cables/ack/RUEHFR", receipt_for(received[1]))
        await net.publish(cable(2, "Z"), b"not a cable at all\n")
        await net.clock.advance(400)
    return journal_url


async def test_a_cable_is_found_by_message_id_or_journal_id(journal_url: str) -> None:
    """Both arrivals of the FLASH by its message id; the first of them again by its journal id."""
    journal = await busted_and_receipted(journal_url)
    with queries.read_only(journal) as db:
        first, second = queries.cable_ids(db, FLASH)
        assert queries.cable_ids(db, str(first)) == [first]
        assert queries.cable(db, second).detail == {"original": first}
        (copy,) = queries.copies(db, first)
        assert [(s.channel, s.serial) for s in queries.sent(db, copy.id)] == [("HFR", 2)]
        assert queries.set_aside(db, first) == []
        assert queries.identification(db, first) is None


async def test_the_read_outs_read_the_same_on_either_journal(journal_url: str) -> None:
    """The report's and the network's queries: counts, copies with their busts, the trace's hops."""
    journal = await busted_and_receipted(journal_url)
    with queries.read_only(journal) as db:
        assert queries.cables_by_status(db) == {"routed": 2, "duplicate": 1, "rejected": 1}
        assert queries.intercept_count(db) == 0
        onward = {row.id: row for row in queries.onward_copies(db)}
        assert sorted((row.busts, row.state) for row in onward.values()) == [
            (0, "acknowledged"),
            (1, "delivered"),
        ]
        busted = next(row for row in onward.values() if row.busts)
        assert busted.started_at is not None, "the first transmission that delivered it, not the busted one"
        assert [row.status for row in queries.arrivals(db)] == ["routed", "routed", "duplicate", "rejected"]
        assert len(list(queries.delivered_cables(db))) == 2
        assert {event.event for event in queries.reported_events(db)} <= {"duplicate-filed", "gap"}
    (arrival,) = read_trace(journal, ROUTINE)
    assert [t.transmission for t in arrival.copies[0].transmissions] == ["HFR0001", "HFR0003"]
    totals = read_report(journal).totals
    assert (totals.cables_received, totals.rejections, totals.deliveries) == (4, 1, 2)
    assert (totals.delivered, totals.acknowledged, totals.busts) == (2, 1, 1)


async def test_the_journal_is_opened_read_only(journal_url: str) -> None:
    """A read connection cannot change the journal the router is writing."""
    journal = await busted_and_receipted(journal_url)
    with queries.read_only(journal) as db, pytest.raises(queries.ERRORS, match=r"read-?only"):
        db.execute("DELETE FROM cables")


def test_a_journal_without_the_set_aside_table_sets_nothing_aside(tmp_path: Path) -> None:
    """A journal written before set_aside existed reads as one with nothing set aside (SQLite's only)."""
    journal = tmp_path / "old.sqlite"
    with closing(sqlite3.connect(journal)) as db:
        db.execute("CREATE TABLE cables (id INTEGER PRIMARY KEY)")
    with queries.read_only(journal) as db:
        assert queries.set_aside(db, 1) == []
