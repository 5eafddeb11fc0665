"""The journal's read queries: plain rows out of a journal opened read-only.

The journal is written by a real switch (in-memory bus, manual clock), once in SQLite and once in
the private PostgreSQL (`tests.postgres`): the read-outs' SQL must mean the same on both.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from typing import TYPE_CHECKING

import pytest

from router.journal import queries
from router.readout.report import read_report
from router.readout.trace import read_trace
from tests.test_trace import FLASH, ROUTINE, busted_and_receipted

if TYPE_CHECKING:
    from pathlib import Path


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
