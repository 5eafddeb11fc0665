"""The journal's read queries: plain rows out of a journal opened read-only."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from typing import TYPE_CHECKING

import pytest

from router.journal import queries
from tests.test_trace import FLASH, busted_and_receipted

if TYPE_CHECKING:
    from pathlib import Path


async def test_a_cable_is_found_by_message_id_or_journal_id(tmp_path: Path) -> None:
    """Both arrivals of the FLASH by its message id; the first of them again by its journal id."""
    journal = await busted_and_receipted(tmp_path)
    with queries.read_only(journal) as db:
        first, second = queries.cable_ids(db, FLASH)
        assert queries.cable_ids(db, str(first)) == [first]
        assert queries.cable(db, second).detail == {"original": first}
        (copy,) = queries.copies(db, first)
        assert [(s.channel, s.serial) for s in queries.sent(db, copy.id)] == [("HFR", 2)]


async def test_the_journal_is_opened_read_only(tmp_path: Path) -> None:
    """A read connection cannot change the journal the router is writing."""
    journal = await busted_and_receipted(tmp_path)
    with queries.read_only(journal) as db, pytest.raises(sqlite3.OperationalError, match="readonly"):
        db.execute("DELETE FROM cables")


def test_a_journal_without_the_set_aside_table_sets_nothing_aside(tmp_path: Path) -> None:
    """A journal written before set_aside existed reads as one with nothing set aside."""
    journal = tmp_path / "old.sqlite"
    with closing(sqlite3.connect(journal)) as db:
        db.execute("CREATE TABLE cables (id INTEGER PRIMARY KEY)")
    with queries.read_only(journal) as db:
        assert queries.set_aside(db, 1) == []
