"""The journal's SQLite database: its tables, its connection (WAL) and its transactions (group commit)."""

from __future__ import annotations

import sqlite3
import time
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING

from router.errors import JournalOpenError, JournalUnwritableError
from router.journal.migrations import migrate

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS cables (
    id INTEGER PRIMARY KEY,
    received_at REAL NOT NULL,
    topic TEXT NOT NULL,
    raw BLOB NOT NULL,
    message_id TEXT,
    status TEXT NOT NULL,
    detail TEXT,
    ris TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS cables_routed_message
    ON cables (message_id, coalesce(ris, '')) WHERE status = 'routed';
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY,
    cable_id INTEGER NOT NULL REFERENCES cables (id),
    post TEXT NOT NULL,
    precedence TEXT NOT NULL,
    rank INTEGER NOT NULL DEFAULT 0,
    role TEXT NOT NULL,
    niact INTEGER NOT NULL,
    via TEXT NOT NULL,
    needs_ack INTEGER NOT NULL,
    state TEXT NOT NULL,
    queued_at REAL NOT NULL,
    delivered_at REAL,
    acknowledged_at REAL,
    ris TEXT
);
CREATE INDEX IF NOT EXISTS deliveries_open ON deliveries (state) WHERE state != 'acknowledged';
CREATE INDEX IF NOT EXISTS deliveries_waiting ON deliveries (post, rank DESC, id) WHERE state = 'queued';
CREATE TABLE IF NOT EXISTS transmissions (
    id INTEGER PRIMARY KEY,
    delivery_id INTEGER NOT NULL REFERENCES deliveries (id),
    post TEXT NOT NULL,
    channel TEXT NOT NULL,
    serial INTEGER NOT NULL,
    cause TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    started_at REAL NOT NULL,
    ended_at REAL,
    outcome TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS transmissions_serial ON transmissions (post, serial);
CREATE TABLE IF NOT EXISTS intercepts (
    id INTEGER PRIMARY KEY,
    cable_id INTEGER NOT NULL REFERENCES cables (id),
    addressee TEXT NOT NULL,
    reason TEXT NOT NULL,
    post TEXT
);
CREATE TABLE IF NOT EXISTS set_aside (
    id INTEGER PRIMARY KEY,
    cable_id INTEGER NOT NULL REFERENCES cables (id),
    addressee TEXT NOT NULL,
    reason TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS services (
    id INTEGER PRIMARY KEY,
    post TEXT NOT NULL,
    channel TEXT NOT NULL,
    serial INTEGER NOT NULL,
    cause TEXT NOT NULL,
    text TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    sent_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS services_serial ON services (post, serial);
CREATE TABLE IF NOT EXISTS identities (
    cable_id INTEGER PRIMARY KEY REFERENCES cables (id),
    message_id TEXT NOT NULL,
    heading BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS identities_message ON identities (message_id);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    event TEXT NOT NULL,
    fields TEXT NOT NULL
);
"""
"""The journal's tables. Every time is the router's clock: simulated seconds (UNIX time scaled by the
time factor), so that speed of service is measured in the network's time, not the host's.

- cables: each cable as received; status received | routed | rejected | duplicate. ris: at a
  switching centre, the routing line (FL2) of a transmission received off a trunk, its RIs
  space-separated; with the message id, what a duplicate is known by there (`router.switch.centre`);
  NULL for a cable off the intake.
- deliveries: one copy for one post; state queued -> delivered (a transmission completed on the
  post's line) -> acknowledged (the post's receipt). needs_ack: FLASH, ECP or NIACT, which the
  post must acknowledge and which go again when it does not. ris: for a copy on a centre's trunk
  (post: the neighbouring centre), the RIs of its FL2, space-separated; NULL for a post's copy.
- transmissions: each attempt to send a delivery down its line, under the line's channel
  designator and next channel serial. cause: first | bust (sent again after a bust) | outage (after
  the line went down mid-transmission) | zfx (the post reported the serial missing) | ack-timeout |
  restart | request (an operator asked for it again: `router retransmit`) | alternate (the first,
  by another post's line: an alternative route, §307; its post is that line's). outcome: sending |
  delivered | busted | cut (line down).
- services: the switch's service messages on a post's line, each under a channel serial of its
  own: zfr (cancelling a cut or open number, §424d), duplicate (an exact duplicate received and
  filed, §428a), zid (a channel check of a silent line, §412b); their text.
- set_aside: addressees the network does not deliver to, and why: zen (already delivered by
  other means), pouch (sent them by diplomatic pouch), exempted (an XMT line takes the post out of
  a collective), originator (a collective does not send the cable back to the station that filed
  it).
- identities: the message identification the switch gave a cable that had none (ACP 126 cables,
  partial records: §116), and the FL3 and FL4 lines its copies carry; quotable in `router trace`
  and `router retransmit`.
- events: the routing log (received, routed, queued, busted, delivered, acknowledged, line-down,
  line-up, gap, retransmitted, duplicate-filed, ...), each with its fields as JSON.
"""

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
MARK_RECEIPTED = (
    "UPDATE deliveries SET state = 'acknowledged', acknowledged_at = ?,"
    " delivered_at = coalesce(delivered_at, ?) WHERE id = ? AND post = ? AND state != 'acknowledged'"
)

BUSY_TIMEOUT = 1.0
"""Seconds SQLite waits for another process's lock before a write gives up (Python's default is 5).

The wait blocks the event loop, so it is short: the switch waits longer, without blocking, between
attempts (`router.switch.service`)."""

WEATHER = frozenset({"SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_FULL", "SQLITE_IOERR", "SQLITE_READONLY"})
"""SQLite's primary result codes that say the journal cannot be written just now, not that it is wrong:
another process holds the lock, the disk is full, the file or its file system became read-only."""
WEATHER_REASONS = ("locked", "full", "disk i/o", "readonly", "read-only")
"""The same, read from the message when an error carries no result code (one made by hand)."""


def is_weather(error: sqlite3.Error) -> bool:
    """Whether ``error`` is a journal that cannot be written just now (see `WEATHER`), not a bug."""
    name = getattr(error, "sqlite_errorname", None)
    if name is not None:
        # Extended codes (SQLITE_IOERR_WRITE, SQLITE_BUSY_SNAPSHOT, ...) by their primary code.
        return any(name == code or name.startswith(code + "_") for code in WEATHER)
    reason = str(error).lower()
    return isinstance(error, sqlite3.OperationalError) and any(word in reason for word in WEATHER_REASONS)


class Database:
    """The connection, and the rows held back to be written in one go (one writer: the switch)."""

    def __init__(
        self, path: Path | str, *, clock: Callable[[], float] = time.time, busy_timeout: float = BUSY_TIMEOUT
    ) -> None:
        """Open (or make) the journal at ``path``; `JournalOpenError` says why it cannot be used."""
        self.path = str(path)
        try:
            self._db = sqlite3.connect(
                self.path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise JournalOpenError(self.path, str(exc)) from exc
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode: a commit survives a crash of the process (SIGKILL), and may be
            # lost only if the machine itself loses power before the next checkpoint.
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.executescript(SCHEMA)
            migrate(self._db)
        except sqlite3.Error as exc:
            self._db.close()
            raise JournalOpenError(self.path, str(exc)) from exc
        self._now = clock
        self._depth = 0
        self.commit_seconds = 0.0
        """Host seconds the last transaction's held-back rows and its COMMIT took (`router run
        --metrics-port` shows them)."""
        self._queued: dict[int, tuple[object, ...]] = {}
        """Deliveries decided in this transaction, by id: a copy sent before they are written is
        written with them as delivered, one row and no update (unthrottled lines send at once)."""
        self._sent: list[tuple[object, ...]] = []
        self._delivered: list[tuple[float, int]] = []
        self._logged: list[tuple[float, str, str]] = []
        self._receipted: list[tuple[float, float, int, str]] = []
        """Rows written in one go at the end of the transaction (or before anything is read)."""

    def close(self) -> None:
        """Checkpoint and close."""
        self._db.close()

    def now(self) -> float:
        """The journal's clock: the network's time."""
        return self._now()

    def _write_pending(self) -> None:
        # In the order the rows refer to each other: a delivery before its transmissions and receipt.
        if self._queued:
            self._db.executemany(INSERT_DELIVERY, self._queued.values())
            self._queued.clear()
        if self._sent:
            self._db.executemany(INSERT_SENT, self._sent)
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
        taken at the start (``BEGIN IMMEDIATE``): a journal locked by another process fails here,
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
                with suppress(sqlite3.Error):  # the error that got us here is the one to tell
                    self._db.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error) and is_weather(exc):
                raise JournalUnwritableError(self.path, str(exc)) from exc
            raise
        finally:
            self._depth = 0

    def _begin(self) -> None:
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            if is_weather(exc):
                raise JournalUnwritableError(self.path, str(exc)) from exc
            raise
