"""The watch screen shows queue depths by precedence and the latest routing-log events."""

from __future__ import annotations

from collections import deque

from rich.console import Console

from router.readout.watch import render


def test_the_screen_shows_depths_rates_and_events() -> None:
    """A post's waiting copies appear under their precedence; events appear one a line."""
    status = {
        "at": "2026-11-27T10:00:00+00:00",
        "queues": {
            "RUEHC": {"FLASH": 1, "ROUTINE": 12, "in_flight": 4, "up": True, "sending": "EHC0042"},
            "RUEHLO": {"ROUTINE": 3, "in_flight": 0, "up": False, "sending": None},
        },
        "rates_per_s": {"delivered": 3.5, "routed": 0},
    }
    events = deque([{"event": "routed", "message_id": "RUEHKO-1571-1610901", "precedence": "IMMEDIATE"}])
    console = Console(record=True, width=120)
    console.print(render(status, events))
    text = console.export_text()
    assert "RUEHC" in text
    assert "delivered 3.5/s" in text
    assert "routed" in text
    assert "message_id=RUEHKO-1571-1610901" in text
    row = next(line for line in text.splitlines() if "RUEHC" in line)
    assert row.replace("│", " ").split() == ["RUEHC", "1", "12", "4", "EHC0042"]  # FLASH, ROUTINE, ...
    down = next(line for line in text.splitlines() if "RUEHLO" in line)
    assert down.replace("│", " ").split() == ["RUEHLO", "3", "0", "DOWN"]
