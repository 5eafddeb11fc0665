"""Reading and routing a batch of cables: in the switch's own process, or in a worker process.

Parsing and the routing decision are pure and take a fifth of the switch's time; in a process of
their own they run on another core while the switch journals and sends. Either way the switch
gets, for each cable of a batch, in order, a `Verdict`: why it cannot be read, or its identity and
who gets a copy.
"""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import signal
from concurrent.futures import ProcessPoolExecutor
from typing import TYPE_CHECKING, NamedTuple, Protocol

from router.errors import CableParseError
from router.parser import parse_cable
from router.routing import decide
from router.table import load_table

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from router.models import Precedence
    from router.routing import Delivery, Intercept
    from router.table import RoutingTable


class Verdict(NamedTuple):
    """What the switch needs of one cable: a rejection, or its identity and its routing decision."""

    rejection: dict[str, object] | None
    """Line, column, reason (and field) when the cable cannot be read."""
    message_id: str | None = None
    precedence: Precedence | None = None
    deliveries: tuple[Delivery, ...] = ()
    intercepts: tuple[Intercept, ...] = ()


def classify(raws: Sequence[bytes], table: RoutingTable, max_bytes: int) -> list[Verdict]:
    """Read and route each cable (no prose: the switch routes on the header and the marks)."""
    verdicts = []
    for raw in raws:
        try:
            cable = parse_cable(raw, max_bytes=max_bytes, text_fields=False)
        except CableParseError as error:
            rejection: dict[str, object] = {
                "line": error.line,
                "column": error.column,
                "reason": error.reason,
            }
            if error.field:
                rejection["field"] = error.field
            verdicts.append(Verdict(rejection))
            continue
        decision = decide(cable, table)
        verdicts.append(
            Verdict(None, cable.message_id, cable.precedence, decision.deliveries, decision.intercepts)
        )
    return verdicts


class Classifier(Protocol):
    """Reads and routes a batch of cables, in order."""

    async def __call__(self, raws: list[bytes]) -> list[Verdict]:
        """The batch's verdicts, one per cable, in order."""
        ...


class InProcess:
    """Classification in the switch's own process: tests, the demo, one-core machines."""

    def __init__(self, table: RoutingTable, max_bytes: int) -> None:
        self.table = table
        self.max_bytes = max_bytes

    async def __call__(self, raws: list[bytes]) -> list[Verdict]:
        """Read and route the batch here and now."""
        return classify(raws, self.table, self.max_bytes)

    def close(self) -> None:
        """Nothing to stop."""


_TABLE: RoutingTable | None = None
"""The worker process's routing table, loaded once when it starts."""


def _start_worker(routing: Path) -> None:
    global _TABLE  # noqa: PLW0603 (one table per worker process, set once)
    # Ctrl-C reaches the whole process group: the router stops its worker itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _TABLE = load_table(routing)
    gc.freeze()  # as the switch does (router.app): the table out of the collector's sight
    gc.set_threshold(50_000, 50, 100)


def _classify_in_worker(raws: list[bytes], max_bytes: int) -> list[Verdict]:
    assert _TABLE is not None
    return classify(raws, _TABLE, max_bytes)


class WorkerProcess:
    """Classification in a process of its own, with its own copy of the routing table."""

    def __init__(self, routing: Path, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        # Spawned, not forked: a fork of a process with a running event loop and threads is unsafe.
        self._pool = ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(routing,),
        )

    async def __call__(self, raws: list[bytes]) -> list[Verdict]:
        """Read and route the batch in the worker; the switch goes on meanwhile."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, _classify_in_worker, raws, self.max_bytes)

    def close(self) -> None:
        """Stop the worker."""
        self._pool.shutdown(wait=True, cancel_futures=True)
