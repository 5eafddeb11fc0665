"""The journal's weather: a unit of work in one committed transaction, journal faults waited out.

A journal that cannot be written (another process holding its lock, a full disk, a read-only file)
is weather, not death: the switch keeps its work, takes nothing more, and tries it again until the
journal takes it (`Weather.written`, which says how). When a rolled-back burst left the core ahead
of the journal, the core is rebuilt from the journal before the work goes on.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from contextlib import suppress
from typing import TYPE_CHECKING, TypeVar

import structlog

from router.bus import topics
from router.errors import BusError, JournalUnwritableError
from router.switch.view import JournalView

if TYPE_CHECKING:
    from collections.abc import Callable

    from router.bus.protocol import Bus
    from router.journal.store import Journal
    from router.switch.actions import Actions
    from router.switch.core import Switch

Done = TypeVar("Done")

RETRY_FIRST = 0.1
"""Host seconds the switch first waits for a journal it could not write; doubled each time up to
``journal_retry_max``."""


class JournalFault:
    """A journal the switch could not write: where, why, since when, and the attempts since."""

    __slots__ = ("attempts", "path", "reason", "since")

    def __init__(self, path: str, reason: str, since: float) -> None:
        self.path = path
        self.reason = reason
        self.since = since
        """`time.monotonic()` at the first failed attempt."""
        self.attempts = 1

    def status(self) -> dict[str, object]:
        """The fault as `router/status` shows it."""
        return {
            "writable": False,
            "path": self.path,
            "reason": self.reason,
            "unwritable_s": round(time.monotonic() - self.since, 1),
            "attempts_failed": self.attempts,
        }

    def recovered(self) -> dict[str, object]:
        """The fields of the `journal-writable` event that ends it."""
        fields = self.status()
        del fields["writable"]
        return fields


class Weather:
    """Work done in committed journal transactions, faults waited out, the core rebuilt when stale."""

    def __init__(
        self,
        journal: Journal,
        bus: Bus,
        actions: Callable[[], Actions],
        core: Callable[..., Switch],
        *,
        retry_max: float,
    ) -> None:
        self.journal = journal
        self.bus = bus
        self.retry_max = retry_max
        """Longest wait, host seconds, between two attempts to write a journal that would not be."""
        self.fault: JournalFault | None = None
        """The journal fault being waited out, while there is one."""
        self._actions = actions
        self._core = core
        self.switch = self._switch_from_journal(Counter())
        self._stale = False
        """The core decided more than the journal kept (a burst rolled back): rebuilt before going on."""
        self._log = structlog.get_logger("router")

    def _switch_from_journal(self, counts: Counter[str]) -> Switch:
        """A new core, its serials and ids from the journal, carrying on the routing log's ``counts``."""
        actions = self._actions()
        actions.counts = counts
        return self._core(
            JournalView(self.journal, actions.writes),
            actions,
            serials=self.journal.last_serials(),
            last_ids=self.journal.last_ids(),
        )

    async def written(self, work: Callable[..., Done], stop: asyncio.Event | None = None) -> Done | None:
        """Do ``work`` in one transaction, committed; while the journal will not take it, wait and again.

        A journal fault (`JournalUnwritableError`: locked past the busy timeout, disk full,
        read-only) is weather. The transaction was rolled back, so:

        - Nothing of the burst is acknowledged or published: its messages are kept here and
          handled again, since the broker does not send an unacknowledged message again on the
          same connection. Intake stops meanwhile: the switch takes nothing more from the inbox,
          whose bound then holds the broker back (which keeps the cables: not acknowledged).
        - The core may have decided more than the journal kept (the fault came after the lock was
          taken: a full disk at the commit). Its memory (lines, serials, next ids, deadlines) is
          then ahead of the journal, and undoing decisions one by one would be a second copy of
          the core's logic. So it is thrown away and rebuilt from the journal as at a start
          (``work(rebuilt=True)`` restores), inside the next attempt's transaction: a transmission
          in progress is cut and goes again, copies delivered and not receipted go again after
          ``resend_after`` unless receipted meanwhile. A lock held by another process fails at
          ``BEGIN IMMEDIATE``, before the core decided anything: nothing to rebuild.
        - One `journal-unwritable` event (path, reason) per outage, each attempt counted
          (``journal-attempts-failed`` in the status); attempts 0.1 s apart, doubling up to
          ``journal_retry_max``, for as long as the router runs (or until ``stop``: None then);
          `journal-writable` in the transaction that commits.

        The lines do not go on meanwhile: no copy goes out before the journal says it was delivered.
        """
        delay = RETRY_FIRST
        while True:
            try:
                done = self._attempt(work)
            except JournalUnwritableError as error:
                self._unwritable(error)
            else:
                self.fault = None
                return done
            if stop is None:
                await asyncio.sleep(delay)
            else:
                with suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                if stop.is_set():
                    return None
            delay = min(delay * 2, self.retry_max)

    def _attempt(self, work: Callable[..., Done]) -> Done:
        """``work`` in one transaction; the core is rebuilt first if the last attempt left it stale."""
        counts = Counter(self.switch.actions.counts)
        began = False
        recovered: dict[str, object] | None = None
        try:
            with self.journal.transaction():
                began = True
                rebuilt = self._stale
                if rebuilt:
                    self.switch = self._switch_from_journal(self.switch.actions.counts)
                if self.fault is not None:
                    recovered = self.fault.recovered()
                    self.switch.actions.event("journal-writable", **recovered)
                    # The process log hears of it once the commit has held: a full disk fails each
                    # retry at its writes or commit, after this was decided.
                    self.switch.actions.logs.pop()
                done = work(rebuilt=rebuilt)
        except JournalUnwritableError:
            # What the core decided is not in the journal: none of it is sent or counted. (Its log
            # entries went to the process's log as it decided, as they always do: written after
            # the commit they would stand between it and the sends, where a kill costs copies.)
            actions = self.switch.actions
            actions.writes.clear()
            actions.sends.clear()
            actions.logs.clear()
            actions.counts = counts
            self._stale = self._stale or began
            raise
        self._stale = False
        if recovered is not None:
            self._log.info("journal-writable", **recovered)
        return done

    def _unwritable(self, error: JournalUnwritableError) -> None:
        """Count the failed attempt; the first of an outage is logged and published, once."""
        self.switch.actions.counts["journal-attempts-failed"] += 1
        if self.fault is not None:
            self.fault.attempts += 1
            self.fault.reason = error.reason  # the status says the latest
            return
        self.fault = JournalFault(error.path, error.reason, time.monotonic())
        self._log.warning("journal-unwritable", path=error.path, reason=error.reason)
        if self.switch.actions.publish_log:
            entry = json.dumps({"event": "journal-unwritable", "path": error.path, "reason": error.reason})
            with suppress(BusError):  # a lost broker is the switch's to report, at its next flush
                self.bus.send(topics.LOG, entry.encode(), qos=0)
