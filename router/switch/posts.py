"""What the posts send the switch: receipts, gap reports (ZFX), line control and retransmit requests.

Each is keyed by a name from outside (the topic's RI) and may be forged: the core checks the RI
against the routing table before anything here runs, a ZFX is answered for at most
`max_gap_serials` serials, and gap reports and retransmit requests are rate-limited per post
(`Buckets`, in network time).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING

from router.journal.writes import Acknowledged
from router.network.channel import (
    DUPLICATE_RECEIVED,
    ZFQ,
    ZFR,
    ZFT,
    ZFU,
    ZIC,
    ZID,
    read_acknowledgement,
    read_signal,
    read_zfx,
)

if TYPE_CHECKING:
    from router.switch.actions import Actions, JournalReads
    from router.switch.lines import Lines


BUCKETS = 4096
"""Posts whose request rate is tracked at once; the longest idle are forgotten first (their buckets full)."""


class Buckets:
    """A token bucket per post, in network time: ``burst`` requests at once, ``per_minute`` after."""

    __slots__ = ("_buckets", "burst", "per_second")

    def __init__(self, burst: int, per_minute: float) -> None:
        self.burst = burst
        self.per_second = per_minute / 60
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        """Post: (tokens, when counted), least recently used first."""

    def take(self, post: str, now: float) -> bool:
        """Whether ``post`` may make a request now (and it is counted)."""
        tokens, then = self._buckets.pop(post, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + max(0.0, now - then) * self.per_second)
        allowed = tokens >= 1
        self._buckets[post] = (tokens - 1 if allowed else tokens, now)
        if len(self._buckets) > BUCKETS:
            self._buckets.popitem(last=False)
        return allowed


class Posts:
    """The switch's answers to its posts, decided from the lines and the journal."""

    def __init__(  # noqa: PLR0913 (the switch's parts, the limits by name)
        self,
        journal: JournalReads,
        lines: Lines,
        actions: Actions,
        *,
        max_gap_serials: int = 16,
        requests_burst: int = 20,
        requests_per_minute: float = 30.0,
    ) -> None:
        self._journal = journal
        self._lines = lines
        self._actions = actions
        self.max_gap_serials = max_gap_serials
        """Serials one ZFX is answered for: a forged one asking for thousands gets the first few."""
        self._requests = Buckets(requests_burst, requests_per_minute)

    def receipt(self, post: str, payload: bytes) -> None:
        """``R Z HFR0042`` on cables/ack/<RI>: the copy is receipted, its place in the window free."""
        transmission = read_acknowledgement(payload)
        line = self._lines.lines.get(post)
        # A copy in flight is found in its line's memory, and is open; any other, in the journal.
        in_flight = line.in_flight_under(*transmission) if line is not None and transmission else None
        if in_flight is not None:
            delivery_id = in_flight
        elif transmission and (found := self._journal.transmission(post, *transmission)) is not None:
            delivery_id = found[0]
        else:
            self._actions.event(
                "bad-acknowledgement", post=post, payload=payload[:40].decode("utf-8", "replace")
            )
            return
        if self._lines.line(post).acknowledged(delivery_id):
            self._lines.active.add(post)
        tid = payload.decode("ascii", "replace")
        if in_flight is not None or self._journal.is_open(delivery_id):
            self._lines.receipts.receipted(delivery_id)
            # A copy that went by an alternative route is receipted by the station relaying it (§308).
            owner = self._lines.diversions.settle(delivery_id, post)
            self._actions.writes.append(Acknowledged(delivery_id, owner))
            self._actions.event("acknowledged", post=post, delivery=delivery_id, transmission=tid)
        elif self._journal.given_up(delivery_id):
            # Intercepted for want of a receipt, and receipted after all: the operator should know.
            self._actions.event("late-receipt", post=post, delivery=delivery_id, transmission=tid)
        else:
            # A second copy of a delivery already receipted: the post filed it (ZFD), not shown.
            self._actions.event("duplicate-filed", post=post, delivery=delivery_id, transmission=tid)

    def _allowed(self, kind: str, post: str, now: float) -> bool:
        """Whether a gap report or retransmit request from ``post`` is within its rate; logged if not."""
        if self._requests.take(post, now):
            return True
        self._actions.event("rate-limited", post=post, request=kind)
        return False

    def service_message(self, post: str, payload: bytes, now: float) -> None:
        """A post reports serials it never received (ZFX): answer each from the journal.

        At most `max_gap_serials` distinct serials are answered (a channel's real gap is a few
        transmissions); the others are logged, not answered: the post asks again, or its
        receipt timeout sends the copy again anyway.
        """
        if not self._allowed("zfx", post, now):
            return
        if DUPLICATE_RECEIVED.encode() in payload:
            # §428a-b: the post filed an exact duplicate of ours. The switch's handling is on
            # record (journal, trace) for an operator to examine: logged, not answered.
            text = payload.decode("ascii", "replace").partition("SVC ")[2].split("\n", 1)[0]
            self._actions.event("duplicate-notified", post=post, text=text[:120])
            return
        if self._housekeeping(post, payload, now):
            return
        reported = list(dict.fromkeys(read_zfx(payload)))
        missing = reported[: self.max_gap_serials]
        self._actions.event(
            "gap", post=post, serials=[f"{channel}{serial:04d}" for channel, serial in missing]
        )
        if len(reported) > len(missing):
            self._actions.event("gap-truncated", post=post, reported=len(reported), answered=len(missing))
        for channel, serial in missing:
            tid = f"{channel}{serial:04d}"
            found = self._journal.transmission(post, channel, serial)
            if found is None:
                self._actions.event("gap-unknown", post=post, transmission=tid)
                continue
            delivery_id, outcome = found
            if outcome != "delivered":
                # Busted, cut or a service message: that number carried no message, which went (or
                # goes) again anyway. It is cancelled by service message under a new number: a
                # cancelled number never appears again (§424b, §424d, §433b).
                self._lines.service(post, f"{ZFR} {tid}")
                self._actions.event("gap-cancelled", post=post, transmission=tid)
                continue
            self._actions.event("retransmitted", post=post, delivery=delivery_id, cause="zfx")
            self._lines.again(post, delivery_id, now, "zfx")

    def _housekeeping(self, post: str, payload: bytes, now: float) -> bool:
        """A post's number comparison or discrepancy report (§412-§432); False if it is none of them.

        ZIC answers the switch's channel check; ZID is a post's end-of-day comparison (§413b); ZFQ,
        ZFU and ZFT report two messages under one number, one under two, one without (§429-§432):
        logged for the record each asks the station to make. For a ZFU the switch also sees whether
        it sent anything under the higher number, and sends that again under a new one (§430d).
        """
        if (answer := read_signal(payload, ZIC)) is not None:
            self._compared(post, answer)
            return True
        if (summary := read_signal(payload, ZID)) is not None:
            line = self._lines.line(post)
            sent = f"{line.channel}{line.last_of_series:04d}" if line.last_of_series else None
            received = summary[0][:12] if summary else ""
            awaiting = [word[:12] for word in summary[3:19]] if summary[1:3] == ["AWAITING", "ZDK"] else []
            agreed = sent == received
            self._actions.event(
                "end-of-day", post=post, sent=sent, received=received, agreed=agreed, awaiting=awaiting
            )
            return True
        for signal in (ZFQ, ZFU, ZFT):
            if (words := read_signal(payload, signal)) is not None:
                self._actions.event("discrepancy", post=post, signal=signal, text=" ".join(words)[:120])
                if signal == ZFU and len(words) > 1:
                    self._blanked(post, words[1], now)
                return True
        return False

    def _blanked(self, post: str, tid: str, now: float) -> None:
        """The higher number of a ZFU: a copy sent under it was lost, and goes again (§430d)."""
        channel, serial = tid[:3], tid[3:]
        found = self._journal.transmission(post, channel, int(serial)) if serial.isdigit() else None
        if found is not None and found[1] == "delivered":
            self._actions.event("retransmitted", post=post, delivery=found[0], cause="zfx")
            self._lines.again(post, found[0], now, "zfx")

    def _compared(self, post: str, answer: list[str]) -> None:
        """A post's ZIC: the last number it received, against the one the switch's ZID quoted (§412c-d).

        Logged, matching or not: when they differ the post has reported the open numbers by ZFX,
        which the switch answers (§412d: the sending station ascertains the status of traffic).
        """
        quoted = self._lines.services.checked.pop(post, None)
        received = answer[0][:12] if answer else ""
        self._actions.event(
            "channel-check", post=post, sent=quoted, received=received, agreed=quoted == received
        )

    def line_control(self, post: str, payload: bytes, now: float) -> None:
        """``down`` or ``up`` on router/line/<RI>: an outage begins or ends."""
        command = payload.decode("ascii", "replace").strip().lower()
        line = self._lines.line(post)
        if command == "down" and line.up:
            cut = line.down()
            self._lines.diversions.went_down(post, now)
            self._actions.event("line-down", post=post)
            if cut is not None:
                self._lines.end(post, cut, now)
        elif command == "up" and not line.up:
            self._actions.event("line-up", post=post, waiting=len(line.waiting))
            self._lines.line_up(post, now)
        elif command not in {"up", "down"}:
            self._actions.event("bad-line-command", post=post, command=command[:20])

    def retransmit(self, post: str, payload: bytes, now: float) -> None:
        """A message id on router/retransmit/<RI>: the post's copy goes again, from the journal.

        The switch's journal copy is there for this (DOMAIN: any message can be retransmitted on
        request). A post that has the message already files the new copy as a duplicate.
        """
        if not self._allowed("retransmit", post, now):
            return
        message_id = payload.decode("ascii", "replace").strip()[:80]
        delivery_id = self._journal.copy_of(message_id, post)
        if delivery_id is None:
            self._actions.event("bad-retransmit-request", post=post, message_id=message_id[:40])
            return
        self._actions.event(
            "retransmitted", post=post, delivery=delivery_id, message_id=message_id, cause="request"
        )
        self._lines.again(post, delivery_id, now, "request")
