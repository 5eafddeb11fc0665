"""The journal's database: its connection and its transactions (group commit), SQLite or PostgreSQL.

A path is an SQLite journal (WAL), the default; a ``postgresql://`` URL one in PostgreSQL. Where the
two differ is `router.journal.dialect`; the tables are `router.journal.schema`.
"""

from __future__ import annotations

import time
from contextlib import contextmanager, suppress
from functools import cache
from typing import TYPE_CHECKING

from router.errors import JournalUnwritableError
from router.journal.dialect import BUSY_TIMEOUT, ERRORS, Connection, dialect_for, is_weather, shown
from router.journal.schema import SCHEMA

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence
    from pathlib import Path

__all__ = ["BUSY_TIMEOUT", "SCHEMA", "Database", "is_weather"]

INSERT_SENT = (
    "INSERT INTO transmissions (delivery_id, post, channel, serial, cause, bytes, started_at,"
    " ended_at, outcome) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'delivered')"
)
INSERT_DELIVERY = (
    "INSERT INTO deliveries (id, cable_id, post, precedence, rank, role, niact, via, needs_ack,"
    " queued_at, state, delivered_at, ris) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
DELIVERY_STATE = 10
"""Where a delivery's row (`INSERT_DELIVERY`) has its state; its delivery time follows."""
MARK_DELIVERED = (
    "UPDATE deliveries SET state = 'delivered', delivered_at = ? WHERE id = ? AND state = 'queued'"
)
ROWS_A_STATEMENT = 64
"""Rows of the hot tables inserted by one statement at most (`insert_rows`)."""
MARK_RECEIPTED = (
    "UPDATE deliveries SET state = 'acknowledged', acknowledged_at = ?,"
    " delivered_at = coalesce(delivered_at, ?) WHERE id = ? AND post = ? AND state != 'acknowledged'"
)


def insert_rows(db: Connection, insert: str, rows: Sequence[Sequence[object]]) -> None:
    """``rows`` inserted in order by ``insert`` (one row's ``INSERT ... VALUES (...)``), many a statement.

    One statement of 64 rows costs SQLite a fifth to a third less than 64 runs of a one-row one
    (`executemany`: a bind, a step and a reset each), for the burst's deliveries and transmissions.
    In chunks of 64, 32, ..., 1 rows: at most seven statements a table for the connection to keep
    prepared. The rows keep their order, so the ids given to them (transmissions) follow it.
    """
    at = 0
    while at < len(rows):
        size = min(ROWS_A_STATEMENT, 1 << ((len(rows) - at).bit_length() - 1))
        chunk = rows[at : at + size]
        db.execute(_rows_statement(insert, size), [value for row in chunk for value in row])
        at += size


@cache
def _rows_statement(insert: str, size: int) -> str:
    head, values = insert.split(" VALUES ")
    return f"{head} VALUES {', '.join([values] * size)}"


class Database:
    """The connection, and the rows held back to be written in one go (one writer: the switch)."""

    def __init__(
        self, path: Path | str, *, clock: Callable[[], float] = time.time, busy_timeout: float = BUSY_TIMEOUT
    ) -> None:
        """Open (or make) the journal at ``path`` (or URL); `JournalOpenError` says why it cannot be used."""
        self.path = shown(path)
        """The journal's name in messages: its path, or its URL without a password."""
        self.location = str(path)
        self.dialect = dialect_for(self.location)
        self._db = self.dialect.connect(self.location, busy_timeout)
        self._now = clock
        self._depth = 0
        self.commit_seconds = 0.0
        """Host seconds the last transaction's held-back rows and its COMMIT took (`router run
        --metrics-port` shows them)."""
        self._queued: dict[int, list[object]] = {}
        """Deliveries decided in this transaction, by id: a copy sent before they are written is
        written with them as delivered, one row and no update (unthrottled lines send at once)."""
        self._sent: list[tuple[object, ...]] = []
        self._delivered: list[tuple[float, int]] = []
        self._logged: list[tuple[float, str, str]] = []
        self._receipted: list[tuple[float, float, int, str]] = []
        """Rows written in one go at the end of the transaction (or before anything is read)."""

    @property
    def connection(self) -> Connection:
        """The database connection: the journal's lease is held on it (`router.journal.lease`)."""
        return self._db

    def close(self) -> None:
        """Checkpoint and close."""
        self._db.close()

    def now(self) -> float:
        """The journal's clock: the network's time."""
        return self._now()

    def _next_id(self, table: str) -> int:
        """The id after the last of ``table`` (cables, deliveries): what SQLite gives a row given none."""
        self._write_pending()
        return int(self._db.execute(f"SELECT coalesce(max(id), 0) + 1 FROM {table}").fetchone()[0])  # noqa: S608

    def _write_pending(self) -> None:
        # In the order the rows refer to each other: a delivery before its transmissions and receipt.
        if self._queued:
            insert_rows(self._db, INSERT_DELIVERY, list(self._queued.values()))
            self._queued.clear()
        if self._sent:
            insert_rows(self._db, INSERT_SENT, self._sent)
            self._sent.clear()
        if self._delivered:
            self._db.executemany(MARK_DELIVERED, self._delivered)
            self._delivered.clear()
        if self._receipted:  # after the copies' own rows: a copy is receipted after it is sent
            self._db.executemany(MARK_RECEIPTED, self._receipted)
            self._receipted.clear()
        if self._logged:
            self._db.executemany("INSERT INTO events (at, event, fields) VALUES (?, ?, ?)", self._logged)
            self._logged.clear()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One commit for everything inside: the router writes a burst of work at once (group commit).

        Nested uses join the outermost one; an error rolls the whole of it back. The write lock is
        taken at the start (SQLite's ``BEGIN IMMEDIATE``): a journal locked by another process fails here,
        before anything inside has been decided. A journal that cannot be written (locked past the
        busy timeout, disk full, read-only) raises `JournalUnwritableError`, after the rollback.
        """
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self._begin()
        self._depth = 1
        try:
            yield
            writing = time.perf_counter()
            self._write_pending()
            self._db.execute("COMMIT")
            self.commit_seconds = time.perf_counter() - writing
        except BaseException as exc:
            for pending in (self._queued, self._sent, self._delivered, self._receipted, self._logged):
                pending.clear()
            # SQLite may have rolled back already (a full disk, an I/O error): then there is nothing to.
            if self._db.in_transaction:
                with suppress(*ERRORS):  # the error that got us here is the one to tell
                    self._db.execute("ROLLBACK")
            if isinstance(exc, ERRORS) and is_weather(exc):
                raise JournalUnwritableError(self.path, str(exc)) from exc
            raise
        finally:
            self._depth = 0

    def _begin(self) -> None:
        try:
            self._db.execute(self.dialect.begin)
        except ERRORS as exc:
            if is_weather(exc):
                raise JournalUnwritableError(self.path, str(exc)) from exc
            raise
