"""The router's one error hierarchy: every error carries what went wrong and where.

Every error the router raises on purpose is a `RouterError`, so a command can turn any of them into
a one-line message and an exit code. The classes live here, apart from the modules that raise them,
so that a caller catches an error without importing the machinery behind it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path


class RouterError(Exception):
    """Base of every error the router raises on purpose."""


# --- cables


class CableParseError(RouterError):
    """A cable could not be read; ``line`` and ``column`` are 1-based positions in the input."""

    def __init__(self, reason: str, *, line: int = 1, column: int = 1, field: str | None = None) -> None:
        self.reason = reason
        self.line = line
        self.column = column
        self.field = field
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"line {self.line}, column {self.column}"
        if self.field:
            where += f" ({self.field})"
        return f"{where}: {self.reason}"

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_parse_error, (self.reason, self.line, self.column, self.field))

    def detail(self) -> dict[str, object]:
        """The error as a JSON object: line, column and reason, then the field when there is one."""
        detail: dict[str, object] = {"line": self.line, "column": self.column, "reason": self.reason}
        if self.field:
            detail["field"] = self.field
        return detail


def _rebuild_parse_error(reason: str, line: int, column: int, field: str | None) -> CableParseError:
    return CableParseError(reason, line=line, column=column, field=field)


class NotACopyError(RouterError):
    """A payload of a post's line does not start with a transmission identification (FL1)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


# --- files written by hand: the routing table, scenarios, replay sources


class FileError(RouterError):
    """A file is not valid: which file, line and field, and why."""

    def __init__(
        self, reason: str, *, path: Path | str, line: int | None = None, field: str | None = None
    ) -> None:
        self.reason = reason
        self.path = str(path)
        self.line = line
        self.field = field
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.path + (f":{self.line}" if self.line else "")
        return f"{where}: {self.field + ': ' if self.field else ''}{self.reason}"


class LocatedError(RouterError, ValueError):
    """A cross-field error in a settings file that knows which entry it is about.

    Raised inside pydantic validators, which turn only a ``ValueError`` (or an ``AssertionError``)
    into a ``ValidationError``; any other exception escapes validation as it is. So it stays a
    ``ValueError`` too, and `router.tomlfile.validated` finds it in the validation error's context
    and reports ``loc`` as a file, line and field.
    """

    def __init__(self, loc: tuple[str | int, ...], reason: str) -> None:
        self.loc = loc
        self.reason = reason
        super().__init__(reason)


class TableError(FileError):
    """The routing table is not valid: which file, line and field, and why."""


class ScenarioError(FileError):
    """The scenario is not valid: which file, line and field, and why."""


class ReplayError(FileError):
    """A replay source could not be read: which file and line, and why."""


# --- the network, the bus and the broker


class ClockError(RouterError):
    """The network's clock cannot run as asked: a time scale that is not positive."""

    def __init__(self, reason: str, *, scale: float) -> None:
        self.reason = reason
        self.scale = scale
        super().__init__(reason)


class BusError(RouterError):
    """The bus refused or lost something: a broker gone, a publish not acknowledged."""


class SubscriptionRefusedError(BusError):
    """The broker refused a subscription (its SUBACK's failure code).

    A filter wider than the user's grants (NATS, amqtt), or a node that could not make it just now
    (NATS electing leaders).
    """


class BrokerRefusedError(BusError):
    """The broker will not have us: a wrong user or password, a certificate not trusted either way.

    Not weather: trying again changes nothing, so a client gives up at once and says why.
    """


class BrokerError(RouterError):
    """The private broker could not be started."""


# --- the journal


class JournalError(RouterError):
    """The journal cannot give what was asked: a record it does not hold, or a database it cannot use."""


class JournalFileError(JournalError):
    """The journal's file cannot be used as asked: which file, and why (SQLite's reason)."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class JournalReadError(JournalFileError):
    """A journal could not be read: missing, not a journal, or of an older schema."""


class JournalOpenError(JournalFileError):
    """The journal could not be opened: a directory that is not there, a file that is not a database."""


class JournalDatabaseError(JournalError):
    """An error of a PostgreSQL journal's server, psycopg's re-raised as ours (psycopg is optional).

    ``sqlstate``: PostgreSQL's five-character code (None: the connection failed before a server said).
    """

    def __init__(self, message: str, sqlstate: str | None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


class JournalIntegrityError(JournalDatabaseError):
    """A PostgreSQL constraint said no (class 23): a message id routed before, as sqlite3's own."""


class JournalLeaseError(JournalError):
    """Another router holds the journal's lease: this one must not write it (`router.journal.lease`)."""

    def __init__(self, journal: str, holder: str) -> None:
        self.holder = holder
        super().__init__(f"the journal {journal} is held by another router ({holder})")


class JournalUnwritableError(JournalFileError):
    """The journal cannot be written just now: locked by another process, disk full, read-only.

    Weather, not a bug: the switch rolls back, waits and tries again (`router.switch.service`).
    """


# --- simulated traffic


class TrafficError(RouterError):
    """Traffic cannot be generated or paced as asked: ``field`` names the argument that is wrong."""

    def __init__(self, reason: str, *, field: str) -> None:
        self.reason = reason
        self.field = field
        super().__init__(reason)


class SettingsError(RouterError):
    """A setting has a value the router cannot use."""
