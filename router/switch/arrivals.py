"""The messages the switch has taken off the bus, until the broker hears they are safe.

Most go straight into the switch's next burst. A big cable (`BIG_CABLE` bytes or more) is read and
decided first on a thread of its own (`router.switch.intake.prepare`, which is pure) and joins a
later burst with what was found: meanwhile the switch goes on with the traffic behind it, as a
switching centre's intake went on reading its other lines while one long message came in, so a
FLASH does not wait for a megabyte of addressee lines to be read. Python's threads share one CPU
at a time, but the switch's loop gets its turns. At most `PREPARING` are read that way at once;
past that a big cable is read in its burst like any other: a flood of big cables is slow, never
unbounded in memory.

The broker hears of the messages in the order they came (MQTT 3.1.1 §4.6: PUBACKs in the order of
the PUBLISHes): a message taken after a big cable still being read is acknowledged once both are
in the journal.
"""

from __future__ import annotations

import asyncio
import sys
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TYPE_CHECKING

from router.bus.topics import Kind, read_topic
from router.switch.intake import Prepared, prepare

if TYPE_CHECKING:
    from router.bus.protocol import Message
    from router.routing.table import RoutingTable

BIG_CABLE = 64 * 1024
"""Bytes from which a cable is read off the switch's loop: past the corpus's usual sizes (median
3 KB), where reading and deciding start to cost the traffic behind it milliseconds."""
PREPARING = 4
"""Big cables read off the loop at once at most."""
SWITCH_INTERVAL = 0.0002
"""Seconds the reading thread may keep the interpreter while the loop waits for it (Python's default,
5 ms, is paid at every journal statement the loop makes meanwhile: a FLASH took 80 ms, 8 with this)."""

Taken = tuple["Message", Prepared | None]
"""A message for a burst, with what was found when it was read ahead (None: read in the burst)."""


class Arrivals:
    """Messages taken, in arrival order, until acknowledged; big cables read ahead meanwhile."""

    def __init__(self, table: RoutingTable, *, max_bytes: int, wake: asyncio.Event) -> None:
        self.table = table
        self.max_bytes = max_bytes
        self._wake = wake
        """Set when a big cable has been read: the switch takes it into its next burst."""
        self._taken: deque[Message] = deque()
        """Messages taken and not yet acknowledged, oldest first."""
        self._ahead: set[int] = set()
        """Messages (by identity) being read ahead, or read and not yet in a committed burst."""
        self._ready: list[Taken] = []
        self._reader: ThreadPoolExecutor | None = None
        self._reading = 0
        """Big cables being read now."""
        self._interval = sys.getswitchinterval()
        """The interpreter's switch interval when no big cable is being read."""

    def take(self, message: Message) -> Taken | None:
        """A message off the inbox: for this burst, or None when it is being read ahead."""
        self._taken.append(message)
        if not self._big(message):
            return message, None
        if self._reader is None:
            self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="router-intake")
        self._ahead.add(id(message))
        if not self._reading:
            self._interval = sys.getswitchinterval()
            sys.setswitchinterval(SWITCH_INTERVAL)
        self._reading += 1
        reading = asyncio.get_running_loop().run_in_executor(
            self._reader, partial(prepare, message.payload, self.table, max_bytes=self.max_bytes)
        )
        reading.add_done_callback(partial(self._read, message))
        return None

    def ready(self) -> list[Taken]:
        """The big cables read since the last call, in the order they came."""
        ready, self._ready = self._ready, []
        return ready

    def committed(self, burst: list[Taken]) -> list[Message]:
        """``burst`` is in the journal: the messages now safe to acknowledge, in the order they came."""
        for message, _ in burst:
            self._ahead.discard(id(message))
        safe: list[Message] = []
        taken = self._taken
        while taken and id(taken[0]) not in self._ahead:
            safe.append(taken.popleft())
        return safe

    def close(self) -> None:
        """Stop reading ahead: what is unread stays unacknowledged, for the broker to send again."""
        if self._reader is not None:
            self._reader.shutdown(wait=False, cancel_futures=True)

    def _big(self, message: Message) -> bool:
        """Whether ``message`` is a cable worth reading off the loop (and there is room to)."""
        if not BIG_CABLE <= len(message.payload) <= self.max_bytes or len(self._ahead) >= PREPARING:
            return False
        read = read_topic(message.topic)
        return read is not None and read[0] is Kind.CABLE

    def _read(self, message: Message, reading: asyncio.Future[Prepared]) -> None:
        """A big cable has been read: into the next burst (if reading failed, it is read in the burst)."""
        self._reading -= 1
        if not self._reading:
            sys.setswitchinterval(self._interval)
        if reading.cancelled():
            return
        failed = reading.exception() is not None
        # Read again in its burst, where what went wrong ends the run as any bug of the switch does.
        self._ready.append((message, None if failed else reading.result()))
        self._wake.set()
