"""The journal as the switch's core reads it: every write it has decided is applied before a read.

The core's writes are values (`router.journal.writes`), applied by the edge right after each
decision. A decision may read the journal after deciding a write (a second receipt for the same
delivery in one message, a cable after its duplicate in one burst): the view applies what is
pending first, so that a read sees everything decided before it, as the database would.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from router.journal.reads import Consigned
    from router.journal.store import Journal
    from router.journal.writes import Write


class JournalView:
    """The `JournalReads` the edge gives the core: the journal's reads, after the pending writes."""

    __slots__ = ("_journal", "_pending")

    def __init__(self, journal: Journal, pending: list[Write]) -> None:
        self._journal = journal
        self._pending = pending

    def _apply(self) -> Journal:
        if self._pending:
            self._journal.apply(self._pending)
            self._pending.clear()
        return self._journal

    def cable(self, cable_id: int) -> tuple[bytes, str | None]:
        """The cable as received, and the message id it was routed under."""
        return self._apply().cable(cable_id)

    def kept_properties(self, cable_id: int) -> bytes:
        """The MQTT 5 properties a cable's copies carry on (none: empty)."""
        return self._apply().kept_properties(cable_id)

    def identification(self, cable_id: int) -> tuple[bytes, str] | None:
        """The FL3/FL4 lines and message id the switch gave a cable without FL3."""
        return self._apply().identification(cable_id)

    def is_duplicate(self, message_id: str) -> int | None:
        """The journal id of a cable already routed under ``message_id``."""
        return self._apply().is_duplicate(message_id)

    def relayed_before(self, message_id: str, received: str) -> int | None:
        """At a centre: the cable that brought ``message_id`` off a trunk for the same RIs."""
        return self._apply().relayed_before(message_id, received)

    def trunk_ris(self, delivery_id: int) -> tuple[str, ...]:
        """The RIs of a trunk copy's FL2."""
        return self._apply().trunk_ris(delivery_id)

    def transmission(self, post: str, channel: str, serial: int) -> tuple[int, str] | None:
        """The delivery last sent to ``post`` under a channel serial, and how it ended."""
        return self._apply().transmission(post, channel, serial)

    def is_open(self, delivery_id: int) -> bool:
        """Whether a delivery still waits for its post's receipt."""
        return self._apply().is_open(delivery_id)

    def consignment(self, delivery_id: int) -> Consigned:
        """A delivery's cable and precedence."""
        return self._apply().consignment(delivery_id)

    def given_up(self, delivery_id: int) -> bool:
        """Whether the switch gave up on a delivery for want of a receipt."""
        return self._apply().given_up(delivery_id)

    def copy_of(self, message_id: str, post: str) -> int | None:
        """The delivery that carried ``message_id`` to ``post``."""
        return self._apply().copy_of(message_id, post)

    def waiting(self, post: str, besides: set[int], limit: int) -> list[tuple[Consigned, float]]:
        """Up to ``limit`` deliveries queued for ``post`` besides those given, best first."""
        return self._apply().waiting(post, besides, limit)

    def received_before(self, topic: str, raw: bytes) -> int | None:
        """The journal id of a cable received before on ``topic`` with exactly these bytes."""
        return self._apply().received_before(topic, raw)
