"""The routing log's file: a line is there as soon as it is logged, a burst's lines at the burst's end."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
import structlog

from router.log import configure_logging, held_lines, log_entry

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@pytest.fixture
def log_file(tmp_path: Path) -> Iterator[Path]:
    """The routing log configured to a file, structlog's own set-up given back after."""
    path = tmp_path / "router.log"
    before = structlog.get_config()
    stream = configure_logging(path)
    yield path
    stream.close()
    structlog.configure(**before)


def test_a_line_is_in_the_file_once_logged(log_file: Path) -> None:
    """Who tails the log (or waits for ``listening``) sees each line at once."""
    structlog.get_logger("router").info("listening", intake="cables/in/#")
    assert '"event": "listening"' in log_file.read_text(encoding="utf-8")


def test_a_burst_s_lines_are_written_together_at_its_end(log_file: Path) -> None:
    """Inside `held_lines` the lines wait (one write for the burst, not a system call a line)."""
    log = structlog.get_logger("router")
    with held_lines():
        log.info("routed", message_id="RUEHKO-1571-1610901")
        with held_lines():  # nested: the outermost writes
            log.info("routed", message_id="RUEHKO-1572-1610902")
        assert "RUEHKO-157" not in log_file.read_text(encoding="utf-8")
    text = log_file.read_text(encoding="utf-8")
    assert text.index("RUEHKO-1571") < text.index("RUEHKO-1572"), "in the order logged"


ROUTED = {"message_id": "RUEHKO-1571-1610901", "precedence": "IMMEDIATE", "deliveries": 7, "intercepts": 0}


def test_the_switch_s_entry_is_written_as_structlog_writes_it(log_file: Path) -> None:
    """`log_entry` writes the switch's JSON (rendered once, not twice) with structlog's level and time."""
    log = structlog.get_logger("router")
    log_entry(log, "routed", ROUTED, json.dumps({"event": "routed", **ROUTED}))
    log.info("routed", **ROUTED)
    written, by_structlog = (json.loads(line) for line in log_file.read_text(encoding="utf-8").splitlines())
    for entry in (written, by_structlog):
        stamp = datetime.fromisoformat(entry.pop("timestamp"))
        assert stamp.utcoffset() == timedelta(0)
        assert abs((datetime.now(UTC) - stamp).total_seconds()) < 60
    assert written == by_structlog == {"event": "routed", "level": "info", **ROUTED}


def test_the_switch_s_entry_goes_through_structlog_once_it_is_set_up_otherwise(log_file: Path) -> None:
    """A test capturing the log (or any set-up but `configure_logging`'s) sees the entry as structlog's."""
    with structlog.testing.capture_logs() as captured:
        log_entry(structlog.get_logger("router"), "routed", ROUTED, json.dumps({"event": "routed", **ROUTED}))
    assert captured == [{"event": "routed", "log_level": "info", **ROUTED}]
    assert log_file.read_text(encoding="utf-8") == ""
