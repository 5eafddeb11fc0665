"""A journal in PostgreSQL (psycopg 3): the journal's SQLite statements, translated once each.

The journal's SQL is SQLite's; here it becomes PostgreSQL's: ``?`` placeholders ``%s``, ``INSERT OR
IGNORE`` an ``ON CONFLICT DO NOTHING``, the tables' types PostgreSQL's (a REAL is double precision
there, not four bytes), and the few statements PostgreSQL spells otherwise (`REWRITES`). A
statement is translated the first time it is run and kept. psycopg's errors are re-raised as
`router.journal.dialect.DatabaseError` with their SQLSTATE, for `router.journal.dialect.is_weather`.

Commits are PostgreSQL's own (synchronous_commit as the server has it: on by default), so a cable
committed here is on the server's disk before the broker is told it arrived, as with SQLite.
"""

from __future__ import annotations

import os
import re
import socket
from typing import TYPE_CHECKING, Any

from router.errors import JournalOpenError
from router.journal import statements
from router.journal.backend import DatabaseError, IntegrityError, JournalLeaseError, Rows, shown
from router.journal.schema import SCHEMA

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    import psycopg

INSTALL_HINT = "a PostgreSQL journal needs psycopg: pip install 'router[postgres]'"

TYPES = (
    (r"\bINTEGER\b", "BIGINT"),
    (r"\bREAL\b", "DOUBLE PRECISION"),
    (r"\bBLOB\b", "BYTEA"),
)
"""SQLite's column types as PostgreSQL's: ids and counts 8 bytes, times double, bytes bytea."""
OWN_IDS = ("cables", "deliveries", "identities", "properties")
"""Tables whose rows the switch numbers itself (or by their cable); the others number theirs."""

LEASE_KEY = (
    "SELECT ('x' || substr(md5('router journal lease ' || current_database() || '.' || current_schema()),"
    " 1, 16))::bit(64)::bigint"
)
"""The lease's advisory lock key: 64 bits of a digest of the journal's database and schema."""
LEASE_HOLDER = (
    "SELECT a.application_name, host(a.client_addr) FROM pg_locks l JOIN pg_stat_activity a"
    " ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1"
    " AND l.classid::bigint = ? AND l.objid::bigint = ?"
)
"""Who holds the lock: its session's application name (the router's pid and host) and address.

pg_locks shows a 64-bit key as its high and low 32 bits (classid, objid)."""

REWRITES = {
    # SQLite's two-argument max() is PostgreSQL's greatest(); a subquery in FROM needs a name there.
    statements.LATEST_TIME: "SELECT max(at) FROM ("
    " SELECT max(received_at) AS at FROM cables"
    " UNION ALL SELECT max(greatest(started_at, coalesce(ended_at, started_at))) FROM transmissions"
    " UNION ALL SELECT max(sent_at) FROM services"
    " UNION ALL SELECT max(coalesce(acknowledged_at, delivered_at, queued_at)) FROM deliveries"
    " UNION ALL SELECT max(at) FROM events) AS latest",
    statements.TRANSMISSION_UNDER: "SELECT delivery_id, outcome FROM ("
    " SELECT delivery_id, outcome, started_at AS at, 0 AS kind, id FROM transmissions"
    " WHERE post = %s AND channel = %s AND serial = %s"
    " UNION ALL SELECT 0, 'service', sent_at, 1, id FROM services"
    " WHERE post = %s AND channel = %s AND serial = %s) AS sent"
    " ORDER BY at DESC, kind, id DESC LIMIT 1",
    statements.LAST_SERIALS: "SELECT post, serial FROM ("
    " SELECT post, serial, row_number() OVER ("
    "  PARTITION BY post ORDER BY at DESC, kind, id DESC) AS latest FROM ("
    "  SELECT post, serial, started_at AS at, 0 AS kind, id FROM transmissions"
    "  UNION ALL SELECT post, serial, sent_at, 1, id FROM services) AS sent) AS ranked"
    " WHERE latest = 1",
    # SQLite takes a bare column of a min() group from the min's row; PostgreSQL says DISTINCT ON.
    statements.COPIES: "SELECT d.id, d.cable_id, d.post, d.precedence, d.state, d.queued_at, d.delivered_at,"
    " d.acknowledged_at, d.ris, t.started_at, t.ended_at, coalesce(b.busts, 0) FROM deliveries d"
    " LEFT JOIN (SELECT DISTINCT ON (delivery_id) delivery_id, started_at, ended_at FROM transmissions"
    "  WHERE outcome = 'delivered' ORDER BY delivery_id, id) t ON t.delivery_id = d.id"
    " LEFT JOIN (SELECT delivery_id, count(*) AS busts FROM transmissions"
    "  WHERE outcome = 'busted' GROUP BY delivery_id) b ON b.delivery_id = d.id"
    " ORDER BY d.id",
    # The catalogue: SQLite's sqlite_master, PostgreSQL's information schema (of the journal's schema).
    statements.TABLE_EXISTS: "SELECT 1 FROM information_schema.tables"
    " WHERE table_schema = current_schema() AND table_name = %s",
}
"""Whole statements PostgreSQL spells otherwise, SQLite's text to PostgreSQL's."""
MAY_SAY_NO = frozenset({"UPDATE cables SET status = 'routed', message_id = ?, ris = ? WHERE id = ?"})
"""Statements a unique index may refuse by design (a message routed before). SQLite undoes just the
statement; PostgreSQL would spoil the whole transaction, so these run inside a savepoint."""


def translate(sql: str) -> str:
    """A statement of the journal's (SQLite's dialect) in PostgreSQL's."""
    if sql in REWRITES:
        return REWRITES[sql]
    text = sql.replace("%", "%%").replace("?", "%s")
    if text.startswith("INSERT OR IGNORE INTO"):
        text = "INSERT INTO" + text.removeprefix("INSERT OR IGNORE INTO") + " ON CONFLICT DO NOTHING"
    return text


def schema() -> list[str]:
    """The journal's tables (`router.journal.schema`) as PostgreSQL statements, one by one.

    SQLite numbers a row given no id itself (max + 1); here an identity column does, for the tables
    whose rows nobody numbers (`OWN_IDS`: numbered by the switch, never left to the database).
    """
    text = SCHEMA
    for pattern, replacement in TYPES:
        text = re.sub(pattern, replacement, text)
    statements = [part.strip() for part in text.split(";") if part.strip()]
    numbered = []
    for statement in statements:
        table = re.match(r"CREATE TABLE IF NOT EXISTS (\w+)", statement)
        if table and table.group(1) not in OWN_IDS:
            statement = statement.replace(  # noqa: PLW2901 (the statement, rewritten)
                "id BIGINT PRIMARY KEY", "id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", 1
            )
        numbered.append(statement)
    return numbered


def holder_name() -> str:
    """Who this process is, as other routers see it holding a lease: its pid and host."""
    return f"router pid {os.getpid()} on {socket.gethostname()}"[:63]  # application_name's limit


def _error(exc: Exception) -> DatabaseError:
    """The error psycopg raised, as ours: its SQLSTATE kept; class 23 (a constraint) as `IntegrityError`."""
    sqlstate = getattr(exc, "sqlstate", None)
    kind = IntegrityError if sqlstate is not None and sqlstate.startswith("23") else DatabaseError
    return kind(str(exc).strip() or type(exc).__name__, sqlstate)


class PostgresConnection:
    """A psycopg connection that runs the journal's SQLite statements (translated), as sqlite3 would.

    Autocommit, as the journal's SQLite connection (``isolation_level=None``): a transaction is the
    journal's own ``BEGIN`` ... ``COMMIT``. A connection lost (the server restarted, the network
    went) is weather: the switch rolls back and tries again, and the next ``BEGIN`` connects anew,
    taking the journal's lease again first if it held it (`try_lease`).
    """

    def __init__(
        self,
        db: psycopg.Connection[Any],
        name: str,
        reopen: Callable[[], psycopg.Connection[Any]] | None = None,
    ) -> None:
        import psycopg  # noqa: PLC0415

        self._db = db
        self._name = name
        self._reopen = reopen
        self._lease_key: int | None = None
        self._psycopg_error: type[Exception] = psycopg.Error
        self._translated: dict[str, str] = {}

    def _sql(self, sql: str) -> str:
        text = self._translated.get(sql)
        if text is None:
            text = self._translated[sql] = translate(sql)
        return text

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Rows:
        """Run one statement; a refused `MAY_SAY_NO` one leaves the transaction as it was."""
        if sql == "BEGIN" and self.broken:
            self._reconnect()
        guarded = sql in MAY_SAY_NO and self.in_transaction
        try:
            if guarded:
                self._db.execute("SAVEPOINT may_say_no")
            cursor = self._db.execute(self._sql(sql), parameters)
            if guarded:
                self._db.execute("RELEASE SAVEPOINT may_say_no")
        except self._psycopg_error as exc:
            if guarded and self.in_transaction:
                self._db.execute("ROLLBACK TO SAVEPOINT may_say_no")
            raise _error(exc) from exc
        return cursor

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> object:
        """Run one statement for each row of parameters."""
        try:
            with self._db.cursor() as cursor:
                cursor.executemany(self._sql(sql), parameters)
        except self._psycopg_error as exc:
            raise _error(exc) from exc
        return None

    def executescript(self, sql_script: str, /) -> object:
        """Run statements separated by semicolons (the schema), each as it is (no parameters)."""
        for statement in (part.strip() for part in sql_script.split(";")):
            if statement:
                self.execute(statement)
        return None

    def try_lease(self) -> str | None:
        """Take the journal's lease on this connection if it is free: None once held, else who holds it.

        A session advisory lock, keyed by the journal's database and schema: the server lets go of
        it when this session ends, as when the process holding it dies (`router.journal.lease`).
        """
        key = int(self.execute(LEASE_KEY).fetchone()[0])
        if self.execute("SELECT pg_try_advisory_lock(?)", (key,)).fetchone()[0]:
            self._lease_key = key
            return None
        row = self.execute(LEASE_HOLDER, ((key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF)).fetchone()
        if row is None:  # let go between the two questions: ask again next time
            return "a router that has just let go"
        return f"{row[0] or 'no name'} from {row[1] or 'a local socket'}"

    def _reconnect(self) -> None:
        """Connect again after the connection was lost; the lease again, if this router held it.

        Another router may have taken the lease meanwhile (the server saw this session end): then this
        one must not write, and says who has it (`JournalLeaseError`, not weather).
        """
        if self._reopen is None:
            return
        self._db.close()
        try:
            self._db = self._reopen()
        except self._psycopg_error as exc:
            raise _error(exc) from exc
        key, self._lease_key = self._lease_key, None
        if key is not None and (holder := self.try_lease()) is not None:
            self._db.close()
            raise JournalLeaseError(self._name, holder)

    @property
    def in_transaction(self) -> bool:
        """Whether a transaction is open (or failed and not yet rolled back)."""
        import psycopg  # noqa: PLC0415

        return self._db.info.transaction_status != psycopg.pq.TransactionStatus.IDLE

    @property
    def broken(self) -> bool:
        """Whether the connection to the server is gone (it died, or the server went)."""
        return self._db.closed or self._db.broken

    def close(self) -> None:
        """Close the connection (a lease held on it ends with it)."""
        self._db.close()

    def __del__(self) -> None:
        # As sqlite3's: a journal let go of closes its connection, without psycopg's warning.
        self._db.close()


def _open(url: str, busy_timeout: float) -> psycopg.Connection[Any]:
    """A connection to the journal's server: autocommit, named for the lease, with a lock timeout."""
    import psycopg  # noqa: PLC0415

    db = psycopg.connect(url, autocommit=True, application_name=holder_name(), connect_timeout=10)
    # As SQLite's busy timeout: a statement waits this long for another session's lock, then fails
    # (55P03, weather) and the switch tries again later.
    db.execute(f"SET lock_timeout = {max(1, int(busy_timeout * 1000))}")
    return db


def connect(url: str, busy_timeout: float) -> PostgresConnection:
    """The PostgreSQL journal at ``url``, its tables made if new; `JournalOpenError` says why not.

    ``busy_timeout``: how long a statement waits for another session's lock before it fails as
    weather (lock_timeout), as SQLite's busy timeout.
    """
    try:
        import psycopg  # noqa: PLC0415 (an optional dependency: only a PostgreSQL journal needs it)
    except ImportError as exc:
        raise JournalOpenError(shown(url), INSTALL_HINT) from exc
    try:
        db = _open(url, busy_timeout)
    except psycopg.Error as exc:
        raise JournalOpenError(shown(url), str(exc).strip().splitlines()[0]) from exc
    connection = PostgresConnection(db, shown(url), lambda: _open(url, busy_timeout))
    try:
        # Two routers making the same journal at once: one makes the tables, the other waits.
        connection.execute("BEGIN")
        connection.execute("SELECT pg_advisory_xact_lock(hashtext('router journal schema'))")
        for statement in schema():
            connection.execute(statement)
        connection.execute("COMMIT")
    except DatabaseError as exc:
        db.close()
        raise JournalOpenError(shown(url), str(exc).splitlines()[0]) from exc
    return connection


def read_only(url: str) -> PostgresConnection:
    """The PostgreSQL journal at ``url`` for reading only: a reader never writes what the router does."""
    try:
        import psycopg  # noqa: PLC0415
    except ImportError as exc:
        raise JournalOpenError(shown(url), INSTALL_HINT) from exc
    try:
        db = psycopg.connect(url, autocommit=True, connect_timeout=10)
        db.execute("SET default_transaction_read_only = on")
    except psycopg.Error as exc:
        raise JournalOpenError(shown(url), str(exc).strip().splitlines()[0]) from exc
    return PostgresConnection(db, shown(url))
