"""An SQLite journal's checkpoints made on a thread of their own: the log is copied back and starts again."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from typing import TYPE_CHECKING

import pytest
from structlog.testing import capture_logs

from router.journal.checkpoints import (
    BACKSTOP_PAGES,
    FAILURES,
    SQLITE_THRESHOLD,
    Checkpointer,
    checkpoints_aside,
)
from router.journal.dialect import is_url
from router.journal.store import Journal

if TYPE_CHECKING:
    from pathlib import Path

CABLE = b"R 041200Z MAR 09\n" + b"BODY TEXT " * 3_000
"""A cable of 30 KB: two or three pages of the log each."""


def _receive(journal: Journal, cables: int) -> None:
    for _ in range(cables):
        journal.receive("cables/in/x", CABLE)  # a commit each


def _wal_bytes(path: Path) -> int:
    return path.with_name(path.name + "-wal").stat().st_size


def _looked_twice(checkpointer: Checkpointer) -> bool:
    """Wait until the thread has finished two looks from now: one begun after this call at least."""
    with checkpointer.looked:
        looks = checkpointer.looks
        return checkpointer.looked.wait_for(lambda: checkpointer.looks >= looks + 2, timeout=10)


def test_the_thread_copies_the_log_back_so_that_it_starts_again(tmp_path: Path) -> None:
    """With the switch's own checkpoint set far off, the log stops growing: the thread copied it back."""
    path = tmp_path / "journal.sqlite"
    journal = Journal(path)
    with checkpoints_aside(journal, every=0.01) as checkpointer:
        assert checkpointer is not None
        autocheckpoint = journal.connection.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
        assert autocheckpoint == BACKSTOP_PAGES
        _receive(journal, 100)
        assert _looked_twice(checkpointer)  # every page of those 100 copied back
        after_first = _wal_bytes(path)
        _receive(journal, 100)  # the first commit starts the log again from its beginning
        assert _wal_bytes(path) <= after_first
    assert checkpointer.given_up is None
    with closing(sqlite3.connect(path)) as other:
        assert other.execute("SELECT count(*) FROM cables").fetchone() == (200,)
    journal.close()


def test_without_the_thread_the_same_writes_grow_the_log(tmp_path: Path) -> None:
    """The comparison the test above stands on: no checkpoint in between, and the log holds both runs."""
    path = tmp_path / "journal.sqlite"
    journal = Journal(path)
    journal.connection.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")
    _receive(journal, 100)
    after_first = _wal_bytes(path)
    _receive(journal, 100)
    assert _wal_bytes(path) > 1.8 * after_first
    journal.close()


def test_the_thread_stops_with_the_journal_and_gives_the_checkpoints_back(tmp_path: Path) -> None:
    """Leaving the block ends the thread and sets SQLite's own threshold again."""
    journal = Journal(tmp_path / "journal.sqlite")
    with checkpoints_aside(journal, every=0.01) as checkpointer:
        assert checkpointer is not None
    assert not checkpointer._thread.is_alive()
    assert journal.connection.execute("PRAGMA wal_autocheckpoint").fetchone() == (SQLITE_THRESHOLD,)
    journal.close()


def test_a_journal_in_memory_has_no_thread() -> None:
    """Only an SQLite file has a log to copy back."""
    journal = Journal(":memory:")
    with checkpoints_aside(journal) as checkpointer:
        assert checkpointer is None
    journal.close()


@pytest.mark.parametrize("journal_url", ["postgresql"], indirect=True)
def test_a_journal_in_postgresql_has_no_thread(journal_url: str) -> None:
    """PostgreSQL checkpoints itself, in its own processes: nothing is started for it."""
    assert is_url(journal_url)
    journal = Journal(journal_url)
    with checkpoints_aside(journal) as checkpointer:
        assert checkpointer is None
        journal.receive("cables/in/x", CABLE)
    journal.close()


def test_a_log_that_cannot_be_checkpointed_is_given_up_in_one_line(tmp_path: Path) -> None:
    """Failed checkpoints are tried again a bounded number of times, then the thread says it stops."""
    not_a_journal = tmp_path / "notes.txt"
    not_a_journal.write_text("not a database, but long enough to be read as one\n" * 200)
    checkpointer = Checkpointer(str(not_a_journal), every=0.001)
    with capture_logs() as logs:
        checkpointer.start()
        checkpointer._thread.join(10)
    assert checkpointer.given_up is not None
    assert "not a database" in checkpointer.given_up
    (told,) = [entry for entry in logs if entry["event"] == "journal-checkpoints-given-up"]
    assert told["failures"] == FAILURES
    assert str(BACKSTOP_PAGES) in told["then"]
