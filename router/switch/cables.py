"""The cables just routed, kept in memory for their copies; the others are read from the journal."""

from __future__ import annotations

from typing import TYPE_CHECKING

from router.network.channel import message_part

if TYPE_CHECKING:
    from router.switch.actions import JournalReads

RECENT_CABLES = 512
"""Cables kept in memory for their copies: those just routed. The rest are read from the journal."""


class RecentCables:
    """What every copy of a cable carries (its message part), and its message id, by journal id."""

    __slots__ = ("_journal", "_recent")

    def __init__(self, journal: JournalReads) -> None:
        self._journal = journal
        self._recent: dict[int, tuple[bytes, str | None]] = {}

    def get(self, cable_id: int) -> tuple[bytes, str | None]:
        """From memory if the cable was just routed, else from the journal."""
        recent = self._recent.get(cable_id)
        if recent is None:
            recent = self.remember(cable_id, *self._journal.cable(cable_id))
        return recent

    def remember(self, cable_id: int, raw: bytes, message_id: str | None) -> tuple[bytes, str | None]:
        """Keep a cable's message part (the oldest kept goes when memory is full)."""
        if len(self._recent) >= RECENT_CABLES:
            del self._recent[next(iter(self._recent))]
        recent = self._recent[cable_id] = (message_part(raw), message_id)
        return recent
