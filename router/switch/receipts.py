"""The receipt every copy out waits for: its deadline, the resends for want of it, and giving up.

A copy not receipted in time goes again with the ZFD pilot (ACP 127 §427); after `max_resends`
unanswered resends it goes to the intercept position (`no-receipt`), with an alarm, so that a lost
copy never holds its place in the post's window for good.
"""

from __future__ import annotations

import heapq
import json
from typing import TYPE_CHECKING

from router.bus import topics
from router.journal.writes import GivenUp

if TYPE_CHECKING:
    from collections.abc import Iterator

    from router.switch.actions import Actions, JournalReads
    from router.switch.cables import RecentCables


class Receipts:
    """The copies awaiting a receipt, by deadline, and the copies sent again for want of one."""

    def __init__(  # noqa: PLR0913 (the switch's parts)
        self,
        journal: JournalReads,
        cables: RecentCables,
        actions: Actions,
        *,
        ack_timeout: float,
        receipt_timeout: float,
        max_resends: int,
    ) -> None:
        self.ack_timeout = ack_timeout
        """Network seconds a FLASH, ECP or NIACT copy waits for its receipt before it goes again."""
        self.receipt_timeout = receipt_timeout
        """Network seconds any other copy waits for its receipt before it goes again."""
        self.max_resends = max_resends
        """Resends for want of a receipt before the copy goes to the intercept position."""
        self.awaiting: list[tuple[float, int, str]] = []
        """(deadline, delivery id, post) of copies waiting for their receipt; an entry whose
        deadline is no longer the delivery's in `deadlines` is stale (receipted, or sent again)."""
        self.deadlines: dict[int, float] = {}
        """Each copy sent and not receipted: its receipt's deadline (at most one per window place)."""
        self.resends: dict[int, int] = {}
        """Copies sent again for want of a receipt, and how many times."""
        self._journal = journal
        self._cables = cables
        self._actions = actions

    def expect(self, post: str, delivery_id: int, now: float, *, needs_receipt: bool) -> None:
        """The copy is out: it waits for its receipt (a later copy of it replaces the wait).

        FLASH, ECP and NIACT copies must be receipted (DOMAIN, Precedence) and wait `ack_timeout`;
        the others wait `receipt_timeout`: the receipt is what frees a place in the post's window,
        so a copy the post never saw (dropped while the post was away) must not hold it for good.
        """
        deadline = now + (self.ack_timeout if needs_receipt else self.receipt_timeout)
        self.deadlines[delivery_id] = deadline
        heapq.heappush(self.awaiting, (deadline, delivery_id, post))
        if len(self.awaiting) > 2 * len(self.deadlines) + 64:
            # Receipted copies leave stale entries: rebuilt, the heap stays within twice the copies awaited.
            posts = {d: p for _, d, p in self.awaiting}
            self.awaiting = [(due, d, posts[d]) for d, due in self.deadlines.items()]
            heapq.heapify(self.awaiting)

    def due(self) -> float | None:
        """When the first receipt awaited is due, if any is."""
        return self.awaiting[0][0] if self.awaiting else None

    def receipted(self, delivery_id: int) -> None:
        """The post receipted a copy: it no longer waits, nor counts its resends."""
        self.deadlines.pop(delivery_id, None)
        self.resends.pop(delivery_id, None)

    def forget(self, delivery_id: int) -> None:
        """The copy goes again: its receipt is awaited anew once it is out."""
        self.deadlines.pop(delivery_id, None)

    def overdue(self, now: float) -> Iterator[tuple[int, str]]:
        """(delivery id, post) of each copy whose receipt is due by ``now``, no longer awaited."""
        while self.awaiting and self.awaiting[0][0] <= now:
            deadline, delivery_id, post = heapq.heappop(self.awaiting)
            if self.deadlines.get(delivery_id) != deadline:
                continue  # receipted meanwhile, or sent again under a later deadline
            del self.deadlines[delivery_id]
            yield delivery_id, post

    def resend(self, post: str, delivery_id: int) -> bool:
        """Whether an overdue copy goes again (counted); too many times, it is given up instead."""
        resends = self.resends.get(delivery_id, 0)
        if resends >= self.max_resends:
            self._give_up(post, delivery_id, resends)
            return False
        self.resends[delivery_id] = resends + 1
        self._actions.event(
            "retransmitted", post=post, delivery=delivery_id, cause="ack-timeout", resend=resends + 1
        )
        return True

    def _give_up(self, post: str, delivery_id: int, resends: int) -> None:
        """A copy sent 1 + ``resends`` times without a receipt: to the intercept position, with an alarm."""
        self.resends.pop(delivery_id, None)
        consigned = self._journal.consignment(delivery_id)
        _, message_id = self._cables.get(consigned.cable_id)
        record = {
            "message_id": message_id,
            "journal_id": consigned.cable_id,
            "addressee": post,
            "reason": "no-receipt",
            "post": post,
            "delivery": delivery_id,
        }
        self._actions.writes.append(GivenUp(delivery_id, consigned.cable_id, post, "no-receipt"))
        self._actions.send(topics.INTERCEPTED, json.dumps(record).encode())
        self._actions.event("intercepted", **record)
        self._actions.event(
            "alarm",
            alarm="no-receipt",
            post=post,
            delivery=delivery_id,
            message_id=message_id,
            sent=resends + 1,
            precedence=consigned.precedence.value,
        )
