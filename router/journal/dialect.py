"""Where the journal's two databases differ: SQLite (a path, the default) and PostgreSQL (a URL).

The journal's SQL is written once, in SQLite's dialect; a journal given as ``postgresql://...``
runs it through `router.journal.postgres`, which translates it (placeholders, ``INSERT OR
IGNORE``, column types, the few statements PostgreSQL spells differently) and files its errors as
this module's. Everything else about the two is here: how a journal is opened, how a transaction
begins, which errors are weather (`is_weather`), and which one is a unique index saying no.

The SQLite side is the switch's hot path and is left as it was: its connection is Python's own
`sqlite3.Connection`, used directly, with no layer between.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING

from router.errors import JournalOpenError
from router.journal.backend import Connection, DatabaseError, IntegrityError, Rows, is_url, shown
from router.journal.migrations import migrate
from router.journal.schema import SCHEMA

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["ERRORS", "Connection", "DatabaseError", "IntegrityError", "Rows", "is_url", "shown"]

ERRORS: tuple[type[Exception], ...] = (sqlite3.Error, DatabaseError)
"""Every error a journal's database may raise, whichever it is: what a reader catches."""

# --- SQLite

BUSY_TIMEOUT = 1.0
"""Seconds SQLite waits for another process's lock before a write gives up (Python's default is 5).

The wait blocks the event loop, so it is short: the switch waits longer, without blocking, between
attempts (`router.switch.service`)."""

PAGE_SIZE = 16384
"""Bytes of a new SQLite journal's pages (`open_sqlite`)."""
WEATHER = frozenset({"SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_FULL", "SQLITE_IOERR", "SQLITE_READONLY"})
"""SQLite's primary result codes that say the journal cannot be written just now, not that it is wrong:
another process holds the lock, the disk is full, the file or its file system became read-only."""
WEATHER_REASONS = ("locked", "full", "disk i/o", "readonly", "read-only")
"""The same, read from the message when an error carries no result code (one made by hand)."""


def is_weather(error: Exception) -> bool:
    """Whether ``error`` is a journal that cannot be written just now (see `WEATHER`), not a bug."""
    if isinstance(error, DatabaseError):
        return is_postgres_weather(error.sqlstate)
    name = getattr(error, "sqlite_errorname", None)
    if name is not None:
        # Extended codes (SQLITE_IOERR_WRITE, SQLITE_BUSY_SNAPSHOT, ...) by their primary code.
        return any(name == code or name.startswith(code + "_") for code in WEATHER)
    reason = str(error).lower()
    return isinstance(error, sqlite3.OperationalError) and any(word in reason for word in WEATHER_REASONS)


def open_sqlite(path: str, busy_timeout: float) -> sqlite3.Connection:
    """The SQLite journal at ``path``, made if new (WAL), its tables brought up to the schema."""
    try:
        db = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise JournalOpenError(path, str(exc)) from exc
    try:
        # A new journal's pages (an existing one keeps its own): 16 KiB, not SQLite's 4 KiB. A
        # cable (8 KB on average in the corpus) then fits one page instead of spilling over
        # three, and a burst's commit writes fewer WAL frames, a system call or two each (the
        # README's "Less work a cable" has the figures).
        db.execute(f"PRAGMA page_size={PAGE_SIZE}")
        db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: a commit survives a crash of the process (SIGKILL), and may be
        # lost only if the machine itself loses power before the next checkpoint.
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA foreign_keys=ON")
        db.executescript(SCHEMA)
        migrate(db)
    except sqlite3.Error as exc:
        db.close()
        raise JournalOpenError(path, str(exc)) from exc
    return db


# --- PostgreSQL

POSTGRES_WEATHER_CLASSES = ("08", "53", "57P", "58")
"""SQLSTATE classes that say a PostgreSQL journal cannot be written just now: the connection went
(08), the server is out of disk or memory (53: 53100 disk full), it is shutting down or restarting
(57P01-57P03), the system failed an I/O (58)."""
POSTGRES_WEATHER = frozenset({"40001", "40P01", "55P03", "25006"})
"""Single codes, the same: a serialization failure or deadlock (40001, 40P01), a lock not to be had
(55P03), a server made read-only (25006, a standby after a failover, as SQLite's READONLY)."""


def is_postgres_weather(sqlstate: str | None) -> bool:
    """Whether a PostgreSQL error is weather: no code at all (the connection was lost), or one above."""
    if sqlstate is None:
        return True
    return sqlstate in POSTGRES_WEATHER or sqlstate.startswith(POSTGRES_WEATHER_CLASSES)


@dataclass(frozen=True, slots=True)
class Dialect:
    """How one kind of journal is opened and written."""

    name: str
    begin: str
    """What starts the write transaction: SQLite takes its write lock at once (``BEGIN IMMEDIATE``);
    PostgreSQL locks rows as it goes, and the lease (`router.journal.lease`) keeps one writer."""
    integrity: tuple[type[Exception], ...]
    """What a unique index saying no raises."""
    connect: Callable[[str, float], Connection]
    """Open (or make) the journal: its name, and how long SQLite waits for another's lock."""


def _connect_postgres(url: str, busy_timeout: float) -> Connection:
    from router.journal.postgres import connect  # noqa: PLC0415 (psycopg only for a URL)

    return connect(url, busy_timeout)


SQLITE = Dialect("sqlite", "BEGIN IMMEDIATE", (sqlite3.IntegrityError,), open_sqlite)
POSTGRES = Dialect("postgresql", "BEGIN", (IntegrityError,), _connect_postgres)


def dialect_for(journal: object) -> Dialect:
    """PostgreSQL for a ``postgresql://`` URL, SQLite for anything else (a path)."""
    return POSTGRES if is_url(journal) else SQLITE
