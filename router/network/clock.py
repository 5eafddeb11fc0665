"""The network's time: simulated seconds, scaled from the host's, and a hand-driven clock for tests.

Lines take the time their characters need at their speed. That time is simulated: with a time
scale of 60 a minute of the network passes in a second of the host. Everything that measures the
network (the journal, speed of service, acknowledgement timeouts) reads this clock, never the
host's, so the same traffic gives the same figures at any scale.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from typing import Protocol

from router.errors import ClockError


class Clock(Protocol):
    """Simulated time: ``now()`` in seconds since the UNIX epoch, ``sleep()`` in simulated seconds."""

    def now(self) -> float:
        """The network's time now."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of the network's time."""
        ...


class ScaledClock:
    """The host's clock run ``scale`` times faster from ``origin``: the host's time of day then.

    ``origin`` (UNIX time; None: now) is where the network's clock and the host's read the same.
    Two clocks given the same one agree whenever they were made: the centres of one network, each a
    process started at its own moment, keep one network time (else each runs ahead of those started
    after it by the time scale times the difference: at 200, a second of start-up is 200 s).
    """

    def __init__(self, scale: float = 1.0, origin: float | None = None) -> None:
        if scale <= 0:
            raise ClockError(f"time scale must be positive, not {scale}", scale=scale)
        self.scale = scale
        host = time.time()
        self.origin = host if origin is None else origin
        """The host's time of day at which this clock read the same (`not_before` may move it on since)."""
        self._epoch = self.origin
        # Elapsed time is the monotonic clock's (the time of day may be set back meanwhile), counted
        # from the origin: the host seconds since it are already behind us.
        self._start = time.monotonic() - (host - self._epoch)

    def now(self) -> float:
        """Simulated seconds: the origin's time of day plus the host's time elapsed since, scaled."""
        return self._epoch + (time.monotonic() - self._start) * self.scale

    def not_before(self, at: float) -> None:
        """Run on from ``at`` if the clock is behind it: network time never goes back.

        A router restarted on its journal after running faster than the host's clock would start
        again at the host's time of day, behind its own last transmissions: receipts would be
        overdue by minus minutes, and what came last would sort first (`last_serials`, which a
        restart numbers on from).
        """
        behind = at - self.now()
        if behind > 0:
            self._epoch += behind

    async def sleep(self, seconds: float) -> None:
        """Sleep the host's share of ``seconds``."""
        await asyncio.sleep(max(0.0, seconds) / self.scale)


class ManualClock:
    """A clock that moves only when a test says so: ``await clock.advance(seconds)``.

    Sleepers wake in the order of their deadlines as the clock passes them, each given a turn of
    the event loop, so a test sees exactly what a line does at each instant.
    """

    def __init__(self, start: float = 1_000_000_000.0) -> None:
        self._now = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def now(self) -> float:
        """The time the test has advanced to."""
        return self._now

    async def sleep(self, seconds: float) -> None:
        """Wait until the test advances the clock past now + ``seconds``."""
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        wake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._order), wake))
        await wake

    async def advance(self, seconds: float) -> None:
        """Move time forward, waking each sleeper at its own deadline along the way."""
        until = self._now + seconds
        while self._sleepers and self._sleepers[0][0] <= until:
            deadline, _, wake = heapq.heappop(self._sleepers)
            self._now = max(self._now, deadline)
            if not wake.done():
                wake.set_result(None)
            await settle()
        self._now = until
        await settle()


async def settle(turns: int = 20) -> None:
    """Give the event loop a few turns, so that tasks woken now run to their next wait."""
    for _ in range(turns):
        await asyncio.sleep(0)
