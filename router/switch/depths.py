"""What router/status shows of the lines: each busy post's queue depths, the busiest in full.

The status's size stays bounded whatever the number of lines: the `status_lines` busiest are shown
one by one, the others summed.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from router.network.line import Line


def busiest(lines: dict[str, Line], limit: int) -> dict[str, object]:
    """The ``limit`` lines with most traffic in full (``queues``), the others summed (``other_lines``).

    What router/status carries: its size stays bounded whatever the number of lines.
    """
    depths = lines_depths(lines)
    load = {post: sum(v for v in d.values() if type(v) is int) for post, d in depths.items()}
    ranked = sorted(depths, key=lambda post: (-load[post], post))
    shown, rest = ranked[:limit], ranked[limit:]
    waiting: Counter[str] = Counter()
    for post in rest:
        waiting.update({k: v for k, v in depths[post].items() if type(v) is int and k != "in_flight"})
    other = {
        "lines": len(rest),
        "down": sum(1 for post in rest if depths[post]["up"] is False),
        "in_flight": sum(len(lines[post].in_flight) for post in rest),
        "waiting": dict(waiting),
    }
    return {"queues": {post: depths[post] for post in sorted(shown)}, "other_lines": other}


def lines_depths(lines: dict[str, Line]) -> dict[str, dict[str, object]]:
    """Per post with traffic: waiting by precedence, in flight, the line's state and serial."""
    depths: dict[str, dict[str, object]] = {}
    for post, line in sorted(lines.items()):
        if line.waiting or line.in_flight or not line.up:
            sending = line.current.transmission_id if line.current else None
            depths[post] = {**line.depths(), "up": line.up, "sending": sending}
    return depths
