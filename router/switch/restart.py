"""The switch's restart: what it takes up from the journal, and the resend of copies not receipted.

At a start, and again when its core was rebuilt after a journal fault, the switch takes its lines
back from the journal: what was never delivered is queued again, what was delivered and not
receipted waits ``resend_after`` seconds for its receipt before it goes again.
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from router.journal.reads import OpenDelivery
    from router.journal.store import Journal
    from router.network.clock import Clock
    from router.switch.actions import Actions
    from router.switch.faults import Weather


class Restart:
    """The lines taken back from the journal, at a start or in a rebuilt core, and the resend after."""

    def __init__(  # noqa: PLR0913 (the edge's parts)
        self,
        journal: Journal,
        weather: Weather,
        clock: Clock,
        perform: Callable[[Actions], None],
        wake: asyncio.Event,
        *,
        resend_after: float,
    ) -> None:
        self.journal = journal
        self.weather = weather
        self.clock = clock
        self.resend_after = resend_after
        """Host seconds a restarted router waits for receipts before sending again."""
        self._perform = perform
        self._wake = wake
        self._generation = 0
        """How many times the core was rebuilt: a resend scheduled by an older core is dropped."""
        self._later: set[asyncio.Task[None]] = set()
        """Resends scheduled by a rebuild of the core: cancelled with the switch."""

    def start(self, *, rebuilt: bool) -> list[OpenDelivery]:  # noqa: ARG002 (a start restores anyway)
        """The start's work, in its transaction: the lines from the journal, the cables not yet routed."""
        delivered = self._restore()
        # Cables journalled but not yet routed when the router stopped (killed between the
        # two): the broker may not send them again, so they are taken up from the journal.
        for cable_id, topic, raw in self.journal.unfinished():
            self._perform(self.weather.switch.resume(cable_id, topic, raw, self.clock.now()))
        return delivered

    def _restore(self) -> list[OpenDelivery]:
        """Queue again what was never delivered; hold back what was delivered but not receipted.

        A transmission in progress when the router stopped was cut with it, and is cancelled by ZFR
        as its line comes back with the switch (§424d). Receipts sent while
        the router was down wait at the broker in our session: the copies already delivered go
        again only if none has come by ``resend_after`` seconds.
        """
        cut = self.journal.interrupted()
        delivered = [d for d in self.journal.open_deliveries() if d.delivered]
        self._perform(self.weather.switch.restore(self.journal.backlog(), delivered, cut))
        return delivered

    async def resend_later(self, delivered: list[OpenDelivery], generation: int = 0) -> None:
        """After ``resend_after``, queue again what is still not receipted; the switch sends it.

        Written as the switch's bursts are (through a journal fault too); not done if the core was
        rebuilt meanwhile (a journal fault), which scheduled its own.
        """
        await asyncio.sleep(self.resend_after)
        if generation == self._generation:
            await self.weather.written(partial(self._resend, delivered))
            self._wake.set()

    def _resend(self, delivered: list[OpenDelivery], *, rebuilt: bool) -> None:
        """The resend's work, in its transaction; a rebuilt core's own resend supersedes it."""
        if rebuilt:
            self.restored()  # which schedules the resend of the rebuilt core
        else:
            self._perform(self.weather.switch.resend(delivered, self.clock.now()))

    def restored(self) -> None:
        """A core rebuilt from the journal takes up its lines as at a start, and schedules its resend."""
        self._generation += 1  # a resend scheduled by the core thrown away is not done
        delivered = self._restore()
        if delivered:
            task = asyncio.create_task(
                self.resend_later(delivered, self._generation), name="resend-after-journal-fault"
            )
            self._later.add(task)
            task.add_done_callback(self._later.discard)

    def cancel(self) -> None:
        """Cancel the resends scheduled by rebuilt cores: they end with the switch."""
        for task in self._later:
            task.cancel()
