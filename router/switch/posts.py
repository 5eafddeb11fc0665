"""What the posts send the switch: receipts, gap reports (ZFX), line control and retransmit requests."""

from __future__ import annotations

from typing import TYPE_CHECKING

from router.bus import topics
from router.journal.writes import Acknowledged
from router.network.channel import cancellation, read_acknowledgement, read_zfx

if TYPE_CHECKING:
    from router.switch.actions import Actions, JournalReads
    from router.switch.lines import Lines


class Posts:
    """The switch's answers to its posts, decided from the lines and the journal."""

    def __init__(self, journal: JournalReads, lines: Lines, actions: Actions) -> None:
        self._journal = journal
        self._lines = lines
        self._actions = actions

    def receipt(self, post: str, payload: bytes) -> None:
        """``R Z HFR0042`` on cables/ack/<RI>: the copy is receipted, its place in the window free."""
        transmission = read_acknowledgement(payload)
        found = self._journal.transmission(post, *transmission) if transmission else None
        if found is None:
            self._actions.event(
                "bad-acknowledgement", post=post, payload=payload[:40].decode("utf-8", "replace")
            )
            return
        delivery_id, _ = found
        if self._lines.line(post).acknowledged(delivery_id):
            self._lines.active.add(post)
        tid = payload.decode("ascii", "replace")
        if self._journal.is_open(delivery_id):
            self._actions.writes.append(Acknowledged(delivery_id, post))
            self._actions.event("acknowledged", post=post, delivery=delivery_id, transmission=tid)
        else:
            # A second copy of a delivery already receipted: the post filed it (ZFD), not shown.
            self._actions.event("duplicate-filed", post=post, delivery=delivery_id, transmission=tid)

    def service_message(self, post: str, payload: bytes, now: float) -> None:
        """A post reports serials it never received (ZFX): answer each from the journal."""
        missing = read_zfx(payload)
        self._actions.event(
            "gap", post=post, serials=[f"{channel}{serial:04d}" for channel, serial in missing]
        )
        for channel, serial in missing:
            tid = f"{channel}{serial:04d}"
            found = self._journal.transmission(post, channel, serial)
            if found is None:
                self._actions.event("gap-unknown", post=post, transmission=tid)
                continue
            delivery_id, outcome = found
            if outcome != "delivered":
                # Busted or cut: that serial carried no message, which went (or goes) again anyway.
                self._actions.send(topics.copies(post), cancellation(tid))
                self._actions.event("gap-cancelled", post=post, transmission=tid)
                continue
            self._actions.event("retransmitted", post=post, delivery=delivery_id, cause="zfx")
            self._lines.again(post, delivery_id, now, "zfx")

    def line_control(self, post: str, payload: bytes, now: float) -> None:
        """``down`` or ``up`` on router/line/<RI>: an outage begins or ends."""
        command = payload.decode("ascii", "replace").strip().lower()
        line = self._lines.line(post)
        if command == "down" and line.up:
            cut = line.down()
            self._actions.event("line-down", post=post)
            if cut is not None:
                self._lines.end(post, cut, now)
        elif command == "up" and not line.up:
            line.up = True
            self._lines.active.add(post)
            self._actions.event("line-up", post=post, waiting=len(line.waiting))
        elif command not in {"up", "down"}:
            self._actions.event("bad-line-command", post=post, command=command[:20])

    def retransmit(self, post: str, payload: bytes, now: float) -> None:
        """A message id on router/retransmit/<RI>: the post's copy goes again, from the journal.

        The switch's journal copy is there for this (DOMAIN: any message can be retransmitted on
        request). A post that has the message already files the new copy as a duplicate.
        """
        message_id = payload.decode("ascii", "replace").strip()
        delivery_id = self._journal.copy_of(message_id, post)
        if delivery_id is None:
            self._actions.event("bad-retransmit-request", post=post, message_id=message_id[:40])
            return
        self._actions.event(
            "retransmitted", post=post, delivery=delivery_id, message_id=message_id, cause="request"
        )
        self._lines.again(post, delivery_id, now, "request")
