"""Timing a benchmark in rounds, in CPU time of this process, and the figures of its best round."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable

Prepared = TypeVar("Prepared")
Result = TypeVar("Result")


def cpu_rounds(
    rounds: int, prepare: Callable[[], Prepared], work: Callable[[Prepared], Result]
) -> tuple[list[float], list[Result]]:
    """Each round ``prepare()`` untimed, then ``work`` on what it gave, timed.

    CPU time of this process is measured, so a busy second core does not count against the work.
    Returns each round's seconds and what each round's work returned.
    """
    seconds = []
    results = []
    for _ in range(rounds):
        prepared = prepare()
        start = time.process_time()
        results.append(work(prepared))
        seconds.append(time.process_time() - start)
    return seconds, results


def per_cable(cables: int, seconds: float) -> dict[str, float]:
    """Cables a second and microseconds a cable, for ``cables`` done in ``seconds``."""
    return {"cables_per_s": round(cables / seconds), "us_per_cable": round(seconds * 1e6 / cables, 1)}


def report(line: str, result: dict[str, object]) -> None:
    """Print the figures: a line for people, then the result as one JSON object (the last line)."""
    print(line)
    print(json.dumps(result))
