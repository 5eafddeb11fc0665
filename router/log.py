"""The routing log's structlog set-up, configured once: ISO UTC times, JSON off a terminal."""

from __future__ import annotations

import logging
import sys
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, ClassVar, TextIO

import structlog

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from structlog.typing import FilteringBoundLogger


class _Lines:
    """structlog's logger: a line a call, flushed at once, unless inside `held_lines` (then at its end)."""

    held = 0
    """How many `held_lines` are open (one process, one switch: a count, not a lock)."""
    unflushed: ClassVar[set[TextIO]] = set()
    """Streams written to inside `held_lines`, flushed at its end."""
    json_stream: ClassVar[TextIO | None] = None
    """The stream of JSON lines `configure_logging` set up, if it did (None on a terminal)."""
    renderer: ClassVar[structlog.typing.Processor | None] = None
    """Its JSON renderer: while structlog's last processor, no other set-up (a test capturing
    the log) has come since."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def msg(self, message: str) -> None:
        self.stream.write(message + "\n")
        if _Lines.held:
            _Lines.unflushed.add(self.stream)
        else:
            self.stream.flush()

    log = debug = info = warn = warning = error = err = critical = exception = fatal = failure = msg


def log_entry(log: FilteringBoundLogger, event: str, fields: dict[str, object], entry: str) -> None:
    """One entry of the switch's routing log, whose JSON is made already (`Actions.event`).

    On a stream of JSON lines it is written as it is, with the level and time structlog would add:
    structlog's processors would render the same fields a second time, once a cable at thousands
    a second. Elsewhere (a terminal, a test's own structlog set-up) structlog renders it like any
    other line.
    """
    stream = _Lines.json_stream
    processors = structlog.get_config()["processors"]
    if stream is None or stream.closed or not processors or processors[-1] is not _Lines.renderer:
        log.info(event, **fields)
        return
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    _Lines(stream).msg(f'{entry[:-1]}, "level": "info", "timestamp": "{now}"}}')


@contextmanager
def held_lines() -> Iterator[None]:
    """The lines logged inside are flushed once, at the end: a burst's routing log, one write.

    A line flushed as it is logged costs a system call: at thousands a second, more than
    rendering it. The switch holds its lines for a burst (a few milliseconds), no longer.
    """
    _Lines.held += 1
    try:
        yield
    finally:
        _Lines.held -= 1
        if not _Lines.held:
            streams, _Lines.unflushed = _Lines.unflushed, set()
            for stream in streams:
                if not stream.closed:
                    stream.flush()


def configure_logging(log_file: Path | None = None) -> TextIO:
    """Send the routing log to ``log_file`` (JSON lines) or stderr (readable on a terminal)."""
    stream: TextIO = log_file.open("a", encoding="utf-8") if log_file else sys.stderr
    terminal = stream.isatty()
    renderer: structlog.types.Processor = (
        structlog.dev.ConsoleRenderer(colors=False) if terminal else structlog.processors.JSONRenderer()
    )
    _Lines.json_stream = None if terminal else stream
    _Lines.renderer = None if terminal else renderer
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        logger_factory=lambda *_: _Lines(stream),
        cache_logger_on_first_use=True,
    )
    return stream
