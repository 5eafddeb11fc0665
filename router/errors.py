"""The router's one error hierarchy: every error carries what went wrong and where."""

from __future__ import annotations


class RouterError(Exception):
    """Base of every error the router raises on purpose."""


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


def _rebuild_parse_error(reason: str, line: int, column: int, field: str | None) -> CableParseError:
    return CableParseError(reason, line=line, column=column, field=field)


class JournalError(RouterError):
    """The journal cannot give what was asked: a record it does not hold, or a database it cannot use."""
