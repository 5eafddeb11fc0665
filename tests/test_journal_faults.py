"""Journal faults are weather: a locked journal, a full disk; and a journal that cannot be opened at all."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from router.errors import JournalOpenError, JournalUnwritableError
from router.journal.database import is_weather
from router.journal.store import Journal

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    """A journal that gives up on another process's lock after 50 ms."""
    opened = Journal(tmp_path / "journal.sqlite", busy_timeout=0.05)
    yield opened
    opened.close()


def hold_lock(path: str) -> sqlite3.Connection:
    """Another process's connection holding the journal's write lock until it rolls back."""
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    return other


def test_a_journal_in_a_missing_directory_is_one_error_with_its_path(tmp_path: Path) -> None:
    """Opening a journal where there is no directory is a JournalOpenError naming the path."""
    path = tmp_path / "absent" / "journal.sqlite"
    with pytest.raises(JournalOpenError) as caught:
        Journal(path)
    assert caught.value.path == str(path)
    assert str(caught.value) == f"{path}: unable to open database file"


def test_a_file_that_is_not_a_database_is_one_error_with_its_path(tmp_path: Path) -> None:
    """Opening a text file as the journal is a JournalOpenError: file is not a database."""
    path = tmp_path / "notes.txt"
    path.write_text("not a database\n" * 200)
    with pytest.raises(JournalOpenError, match="file is not a database"):
        Journal(path)


def test_router_run_on_a_bad_journal_says_so_in_one_line(tmp_path: Path) -> None:
    """`router run --journal` to a directory that is not there: one line with the path, no traceback."""
    path = tmp_path / "absent" / "journal.sqlite"
    run = subprocess.run(  # noqa: S603 (this interpreter, our own command)
        [sys.executable, "-m", "router", "run", "--journal", str(path)],
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert run.returncode != 0
    assert run.stderr.decode().strip() == f"router: {path}: unable to open database file"


def test_a_locked_journal_fails_at_the_start_of_the_transaction(journal: Journal) -> None:
    """With another process holding the lock, the transaction raises before its body runs."""
    other = hold_lock(journal.path)
    ran = False
    with pytest.raises(JournalUnwritableError, match="database is locked"), journal.transaction():
        ran = True
    assert not ran
    other.execute("ROLLBACK")
    with journal.transaction():
        journal.receive("cables/in/rome", b"once the lock is gone")
    assert journal.last_ids() == (1, 0)


def test_a_full_disk_rolls_the_whole_transaction_back(journal: Journal) -> None:
    """SQLITE_FULL inside a transaction: JournalUnwritableError, nothing of it kept, the next one works."""
    pages = journal._db.execute("PRAGMA page_count").fetchone()[0]
    journal._db.execute(f"PRAGMA max_page_count = {pages}")  # the disk is full at the next page

    def fill() -> None:
        with journal.transaction():
            for number in range(200):
                journal.receive("cables/in/rome", b"x" * 1000 + str(number).encode())

    with pytest.raises(JournalUnwritableError, match="full"):
        fill()
    assert journal.last_ids() == (0, 0)
    journal._db.execute("PRAGMA max_page_count = 1073741823")
    with journal.transaction():
        journal.receive("cables/in/rome", b"room again")
    assert journal.last_ids() == (1, 0)


@pytest.mark.parametrize(
    ("error", "weather"),
    [
        (sqlite3.OperationalError("database or disk is full"), True),
        (sqlite3.OperationalError("database is locked"), True),
        (sqlite3.OperationalError("attempt to write a readonly database"), True),
        (sqlite3.OperationalError("disk I/O error"), True),
        (sqlite3.OperationalError("no such table: cables"), False),
        (sqlite3.DatabaseError("database disk image is malformed"), False),
    ],
)
def test_only_locks_full_disks_io_and_read_only_are_weather(error: sqlite3.Error, *, weather: bool) -> None:
    """A lock, a full disk, an I/O error or a read-only file is weather; a bug or a corrupt file is not."""
    assert is_weather(error) is weather
