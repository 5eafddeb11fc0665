"""The routing log's structlog set-up, configured once: ISO UTC times, JSON off a terminal."""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, TextIO

import structlog

if TYPE_CHECKING:
    from pathlib import Path


def configure_logging(log_file: Path | None = None) -> TextIO:
    """Send the routing log to ``log_file`` (JSON lines) or stderr (readable on a terminal)."""
    stream: TextIO = log_file.open("a", encoding="utf-8") if log_file else sys.stderr
    renderer: structlog.types.Processor = (
        structlog.dev.ConsoleRenderer(colors=False)
        if stream.isatty()
        else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=True,
    )
    return stream
