"""Settings files in TOML, validated with pydantic: an error names the file, line and field, in one line.

The routing table and the demo's scenarios are written by hand; a mistake in one should point at
the line to fix (`config/routing.toml:412: posts.7.clearance: Input should be ...`), not a traceback.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from router.errors import FileError, LocatedError

M = TypeVar("M", bound=BaseModel)


def read_validated(path: Path, model: type[M], *, error: type[FileError] = FileError) -> tuple[M, str]:
    """Read and validate a TOML file; return the model and the text (for locating later errors)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"cannot read it: {exc}", path=path, line=None, field=None) from None
    return validated(text, model, source=str(path), error=error), text


def validated(text: str, model: type[M], *, source: str, error: type[FileError] = FileError) -> M:
    """Parse TOML text and validate it as ``model``; ``error`` says where it is wrong."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = getattr(exc, "lineno", None) or line_in_message(str(exc))
        raise error(f"not valid TOML: {exc}", path=source, line=line, field=None) from None
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first["loc"])
        cause = first.get("ctx", {}).get("error")
        if isinstance(cause, LocatedError):
            loc, reason = cause.loc, str(cause)
        else:
            reason = first["msg"]
        raise error(reason, path=source, line=locate(text, loc), field=dotted(loc)) from None


def dotted(loc: tuple[str | int, ...]) -> str:
    """A pydantic error location as a field path: ``posts.3.clearance``."""
    return ".".join(str(part) for part in loc)


def line_in_message(message: str) -> int | None:
    """The line number a TOML parser's message mentions, if it gives one."""
    match = re.search(r"line (\d+)", message)
    return int(match.group(1)) if match else None


def locate(text: str, loc: tuple[str | int, ...]) -> int | None:
    """The line of the TOML text that ``loc`` (``('posts', 3, 'clearance')``) points at."""
    lines = text.splitlines()
    if not loc:
        return None
    section = str(loc[0])
    if len(loc) == 1 or not isinstance(loc[1], int):
        header = re.compile(rf"^\s*\[{re.escape(section)}\]\s*(#.*)?$")
        start = next((i for i, line in enumerate(lines) if header.match(line)), None)
        return _key_line(lines, start, loc[1] if len(loc) > 1 else None)
    table_header = re.compile(rf"^\s*\[\[{re.escape(section)}\]\]\s*(#.*)?$")
    starts = [i for i, line in enumerate(lines) if table_header.match(line)]
    if loc[1] >= len(starts):
        return None
    return _key_line(lines, starts[loc[1]], loc[2] if len(loc) > 2 else None)


def _key_line(lines: list[str], start: int | None, key: str | int | None) -> int | None:
    if start is None:
        return None
    if key is not None:
        assignment = re.compile(rf"^\s*{re.escape(str(key))}\s*=")
        for i in range(start + 1, len(lines)):
            if lines[i].lstrip().startswith("["):
                break
            if assignment.match(lines[i]):
                return i + 1
    return start + 1
