"""Every post's line as the switch runs it: queueing, transmissions, copies out and receipt deadlines.

`router.network.line` decides what one line sends and when; this module keeps the lines, turns
what they do into journal rows, copies and log entries (`Actions`), and watches the receipt every
copy waits for: not receipted in time, it goes again with the ZFD pilot (ACP 127 §427), and after
`max_resends` unanswered resends it goes to the intercept position (`no-receipt`) and frees its
place in the window, so that a lost copy never stalls the line.
"""

from __future__ import annotations

import heapq
import json
from collections import Counter
from typing import TYPE_CHECKING, Literal, TypeVar

from router.bus import topics
from router.journal.writes import GivenUp, SentAtOnce, Transmitted, Transmitting
from router.network.channel import cancellation, copy_size, heading
from router.network.line import SUSPECT, Cause, Consignment, Line, LineRules, Transmission

if TYPE_CHECKING:
    from router.routing.table import RoutingTable
    from router.switch.actions import Actions, JournalReads
    from router.switch.cables import RecentCables

Ending = Literal["delivered", "busted", "cut"]
Row = TypeVar("Row", Transmitting, SentAtOnce)


def journal_row(kind: type[Row], post: str, transmission: Transmission) -> Row:
    """A transmission's journal row: delivery id to ended_at (the end as planned)."""
    queued = transmission.queued
    return kind(
        queued.delivery_id,
        post,
        transmission.channel,
        transmission.serial,
        queued.cause,
        queued.size,
        transmission.started,
        transmission.ends,
    )


class Lines:
    """The lines to the posts, the ones with something to do, and the copies awaiting a receipt."""

    def __init__(  # noqa: PLR0913 (the switch's parts)
        self,
        table: RoutingTable,
        journal: JournalReads,
        cables: RecentCables,
        actions: Actions,
        *,
        rules: LineRules,
        serials: dict[str, int],
        ack_timeout: float,
        receipt_timeout: float,
        max_resends: int,
    ) -> None:
        self.table = table
        self.rules = rules
        self.ack_timeout = ack_timeout
        """Network seconds a FLASH, ECP or NIACT copy waits for its receipt before it goes again."""
        self.receipt_timeout = receipt_timeout
        """Network seconds any other copy waits for its receipt before it goes again."""
        self.max_resends = max_resends
        """Resends for want of a receipt before the copy goes to the intercept position."""
        self.lines: dict[str, Line] = {}
        self.active: set[str] = set()
        """Posts whose line may have something to do: a transmission on it, or copies waiting."""
        self.awaiting: list[tuple[float, int, str]] = []
        """(deadline, delivery id, post) of copies waiting for their receipt; an entry whose
        deadline is no longer the delivery's in `deadlines` is stale (receipted, or sent again)."""
        self.deadlines: dict[int, float] = {}
        """Each copy sent and not receipted: its receipt's deadline (at most one per window place)."""
        self.resends: dict[int, int] = {}
        """Copies sent again for want of a receipt, and how many times."""
        self._serials = serials
        self._journal = journal
        self._cables = cables
        self._actions = actions

    def line(self, post: str) -> Line:
        """The post's line, made on first use from the table (its last serial from the journal)."""
        line = self.lines.get(post)
        if line is None:
            station = self.table.posts.get(post) or self.table.relayed_station(post)
            profile = station.line if station is not None else self.table.defaults.line
            line = Line(post, profile.baud, profile.window, self.rules, serial=self._serials.get(post, 0))
            self.lines[post] = line
        return line

    def queue(self, post: str, consignment: Consignment, now: float, cause: Cause = "first") -> None:
        """Put a delivery on its post's line; a transmission it busts ends at once."""
        part, _ = self._cables.get(consignment.cable_id)
        size = copy_size(post, consignment.precedence, part, suspect=cause in SUSPECT)
        busted = self.line(post).put(consignment, size, now, cause)
        self.active.add(post)
        if busted is not None:
            self._end(post, busted, "busted", now)

    def due(self) -> float | None:
        """When a line's transmission ends or a receipt is due, whichever is first."""
        lines = self.lines
        dues = [due for post in self.active if (due := lines[post].due()) is not None]
        if self.awaiting:
            dues.append(self.awaiting[0][0])
        return min(dues) if dues else None

    def run(self, now: float) -> None:
        """Every line with something to do: end what has ended, start what may start."""
        for post in list(self.active):
            self._run(post, self.lines[post], now)

    def _run(self, post: str, line: Line, now: float) -> None:
        finished = line.finish(now)
        if finished is not None:
            self._end(post, finished, "delivered", now)
        writes = self._actions.writes
        while True:
            if line.needs_refill():
                self._refill(post, line)
            transmission = line.start(now)
            if transmission is None:
                break
            if transmission.ends > now:
                writes.append(journal_row(Transmitting, post, transmission))
                break
            line.finish(now)  # an unthrottled line: the last character is already there
            writes.append(journal_row(SentAtOnce, post, transmission))
            self._delivered(post, transmission, now)
        if line.current is None:
            # Idle, down, or its window full: the next queueing, line-up or receipt wakes it.
            self.active.discard(post)

    def _refill(self, post: str, line: Line) -> None:
        """Take a backlog's next deliveries back from the journal into the line's memory."""
        held = {queued.delivery_id for queued in line.waiting} | line.in_flight
        room = line.held - len(line.waiting)
        taken = []
        for consigned, since in self._journal.waiting(post, held, room):
            part, _ = self._cables.get(consigned.cable_id)
            taken.append((Consignment(*consigned), copy_size(post, consigned.precedence, part), since))
        line.refill(taken, exhausted=len(taken) < room)

    def end(self, post: str, transmission: Transmission, now: float) -> None:
        """A transmission cut by its line going down: its serial is spent, the copy goes again."""
        self._end(post, transmission, "cut", now)

    def _end(self, post: str, transmission: Transmission, outcome: Ending, now: float) -> None:
        """A transmission is over: delivered (the copy goes out), busted or cut (the serial is spent)."""
        queued = transmission.queued
        ended = Transmitted(post, transmission.serial, queued.delivery_id, outcome, now)
        if outcome == "delivered":
            self._actions.writes.append(ended)
            self._delivered(post, transmission, now)
            return
        tid = transmission.transmission_id
        if outcome == "busted":
            # The post saw the transmission begin: the cancellation accounts for its serial.
            self._actions.send(topics.copies(post), cancellation(tid))
        self._actions.writes.append(ended)
        fields = {"post": post, "delivery": queued.delivery_id, "transmission": tid}
        self._actions.event(outcome, precedence=queued.precedence.value, **fields)

    def _delivered(self, post: str, transmission: Transmission, now: float) -> None:
        """The copy's last character is at the post: it goes out, and waits for its receipt if it must."""
        queued = transmission.queued
        tid = transmission.transmission_id
        part, message_id = self._cables.get(queued.cable_id)
        prosign = queued.precedence.letter * 2
        suspect = queued.cause in SUSPECT
        self._actions.send(topics.copies(post), heading(tid, post, prosign, suspect=suspect) + part)
        self._await(
            post,
            queued.delivery_id,
            now + (self.ack_timeout if queued.needs_receipt else self.receipt_timeout),
        )
        if self._actions.log_copies:
            self._actions.event(
                "delivered",
                message_id=message_id,
                post=post,
                delivery=queued.delivery_id,
                transmission=tid,
                precedence=queued.precedence.value,
                cause=queued.cause,
                latency_s=round(now - queued.since, 3),
            )
        else:
            self._actions.counts["delivered"] += 1

    def _await(self, post: str, delivery_id: int, deadline: float) -> None:
        """The copy waits for its receipt until ``deadline`` (a later copy of it replaces the wait)."""
        self.deadlines[delivery_id] = deadline
        heapq.heappush(self.awaiting, (deadline, delivery_id, post))
        if len(self.awaiting) > 2 * len(self.deadlines) + 64:
            # Receipted copies leave stale entries: rebuilt, the heap stays within twice the copies awaited.
            posts = {d: p for _, d, p in self.awaiting}
            self.awaiting = [(due, d, posts[d]) for d, due in self.deadlines.items()]
            heapq.heapify(self.awaiting)

    def receipted(self, delivery_id: int) -> None:
        """The post receipted a copy: it no longer waits, nor counts its resends."""
        self.deadlines.pop(delivery_id, None)
        self.resends.pop(delivery_id, None)

    def check_receipts(self, now: float) -> None:
        """Copies not receipted in time go again with ZFD; too many times, to the intercept position.

        FLASH, ECP and NIACT copies must be receipted (DOMAIN, Precedence) and wait `ack_timeout`;
        the others wait `receipt_timeout`: the receipt is what frees a place in the post's window,
        so a copy the post never saw (dropped while the post was away) must not hold it for good.
        """
        while self.awaiting and self.awaiting[0][0] <= now:
            deadline, delivery_id, post = heapq.heappop(self.awaiting)
            if self.deadlines.get(delivery_id) != deadline:
                continue  # receipted meanwhile, or sent again under a later deadline
            del self.deadlines[delivery_id]
            if not self._journal.is_open(delivery_id):
                self.resends.pop(delivery_id, None)
                continue
            line = self.line(post)
            if line.holds(delivery_id):
                continue  # going again already (a ZFX asked for it): its own receipt is awaited then
            line.release(delivery_id)  # the resend takes a place again when it starts
            self.active.add(post)
            resends = self.resends.get(delivery_id, 0)
            if resends >= self.max_resends:
                self._give_up(post, delivery_id, resends)
                continue
            self.resends[delivery_id] = resends + 1
            self._actions.event(
                "retransmitted", post=post, delivery=delivery_id, cause="ack-timeout", resend=resends + 1
            )
            self.again(post, delivery_id, now, "ack-timeout")

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

    def line_up(self, post: str, now: float) -> None:
        """The line is back: copies sent before the outage and not receipted go again, with ZFD.

        The outage may have taken the copies or their receipts: a switch does not know which, so
        it sends them again as suspected duplicates (§427), freeing their places in the window;
        a post that has them files them (§428a).
        """
        line = self.line(post)
        line.up = True
        self.active.add(post)
        for delivery_id in line.unreceipted():
            if line.holds(delivery_id) or not self._journal.is_open(delivery_id):
                continue
            line.release(delivery_id)
            self.deadlines.pop(delivery_id, None)
            self._actions.event("retransmitted", post=post, delivery=delivery_id, cause="line-up")
            self.again(post, delivery_id, now, "line-up")

    def again(self, post: str, delivery_id: int, now: float, cause: Cause) -> None:
        """Queue a delivery again, as the journal holds it."""
        self.queue(post, Consignment(*self._journal.consignment(delivery_id)), now, cause)

    def busiest(self, limit: int) -> dict[str, object]:
        """The ``limit`` lines with most traffic in full (``queues``), the others summed (``other_lines``).

        What router/status carries: its size stays bounded whatever the number of lines.
        """
        depths = self.depths()
        load = {post: sum(v for v in d.values() if type(v) is int) for post, d in depths.items()}
        ranked = sorted(depths, key=lambda post: (-load[post], post))
        shown, rest = ranked[:limit], ranked[limit:]
        waiting: Counter[str] = Counter()
        for post in rest:
            waiting.update({k: v for k, v in depths[post].items() if type(v) is int and k != "in_flight"})
        other = {
            "lines": len(rest),
            "down": sum(1 for post in rest if depths[post]["up"] is False),
            "in_flight": sum(len(self.lines[post].in_flight) for post in rest),
            "waiting": dict(waiting),
        }
        return {"queues": {post: depths[post] for post in sorted(shown)}, "other_lines": other}

    def depths(self) -> dict[str, dict[str, object]]:
        """Per post with traffic: waiting by precedence, in flight, the line's state and serial."""
        depths: dict[str, dict[str, object]] = {}
        for post, line in sorted(self.lines.items()):
            if line.waiting or line.in_flight or not line.up:
                sending = line.current.transmission_id if line.current else None
                depths[post] = {**line.depths(), "up": line.up, "sending": sending}
        return depths
