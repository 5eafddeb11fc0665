"""What both kinds of journal share: how a journal is named, its connection's shape, its errors.

Apart from `router.journal.dialect` so that the PostgreSQL half (`router.journal.postgres`) and the
dialect may both use it without importing each other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from router.errors import JournalDatabaseError, JournalIntegrityError, JournalLeaseError

__all__ = ["DatabaseError", "IntegrityError", "JournalLeaseError"]

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence

URL_SCHEMES = ("postgresql://", "postgres://")
"""How a journal in PostgreSQL is named (libpq's connection URIs); anything else is an SQLite path."""


def is_url(journal: object) -> bool:
    """Whether ``journal`` names a PostgreSQL journal (a URL), not an SQLite file."""
    return str(journal).startswith(URL_SCHEMES)


def shown(journal: object) -> str:
    """A journal's name as messages and logs say it: a URL without its password."""
    text = str(journal)
    if not is_url(text):
        return text
    parts = urlsplit(text)
    if parts.password is None:
        return text
    user = f"{parts.username}:***@" if parts.username else ":***@"
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=user + host))


class Rows(Protocol):
    """What a statement gives back: sqlite3's cursor, or psycopg's."""

    def fetchone(self) -> Any:
        """The next row, or None."""

    def fetchall(self) -> list[Any]:
        """The rows left."""

    def __iter__(self) -> Iterator[Any]:
        """The rows left, one at a time."""


class Connection(Protocol):
    """The part of a DB-API connection the journal uses: sqlite3's, or `router.journal.postgres`'s."""

    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Rows:
        """Run one statement, in SQLite's dialect."""

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> object:
        """Run one statement for each row of parameters."""

    def executescript(self, sql_script: str, /) -> object:
        """Run statements separated by semicolons."""

    def close(self) -> None:
        """Close the connection."""

    @property
    def in_transaction(self) -> bool:
        """Whether a transaction is open."""


DatabaseError = JournalDatabaseError
"""A PostgreSQL journal's error (`router.errors.JournalDatabaseError`), by the name sqlite3 gives its own."""
IntegrityError = JournalIntegrityError
"""A PostgreSQL constraint said no (`router.errors.JournalIntegrityError`)."""
