"""Every post's line as the switch runs it: queueing, transmissions, copies out and their resends.

`router.network.line` decides what one line sends and when; this module keeps the lines and turns
what they do into journal rows, copies and log entries (`Actions`). The receipt every copy out
waits for is `router.switch.receipts`'s: not receipted in time, the copy goes again here with the
ZFD pilot (ACP 127 §427), or to the intercept position, which frees its place in the window, so
that a lost copy never stalls the line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, TypeVar

from router.journal.writes import SentAtOnce, TransmissionRow, Transmitted, Transmitting
from router.network.channel import FRAMING, ZFG, ZFR, cancellation, with_tracer_instruction
from router.network.line import SUSPECT, Cause, Consignment, Line, LineRules, Transmission, code_for
from router.switch.actions import Timing
from router.switch.diversions import Diversions
from router.switch.outlet import Outlet
from router.switch.receipts import Receipts
from router.switch.services import Services

if TYPE_CHECKING:
    from router.routing.table import RoutingTable
    from router.switch.actions import Actions, JournalReads
    from router.switch.cables import RecentCables

_made = tuple.__new__  # a named tuple without its Python-level constructor (`router.routing.decide`)

Ending = Literal["delivered", "busted", "cut"]
# Bound, not restricted to the two: mypyc reads a value-restricted TypeVar as Any (benchmarks/compiled.py).
Row = TypeVar("Row", bound=TransmissionRow)


def journal_row(kind: type[Row], post: str, transmission: Transmission) -> Row:
    """A transmission's journal row: delivery id to ended_at (the end as planned)."""
    queued = transmission.queued
    return _made(
        kind,
        (
            queued.delivery_id,
            post,
            transmission.channel,
            transmission.serial,
            queued.cause,
            queued.size,
            transmission.started,
            transmission.ends,
        ),
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
        divert_after: float,
        check_after: float,
        outlet: Outlet | None = None,
    ) -> None:
        self.table = table
        self.outlet = outlet or Outlet(table)
        """What each line is, where its traffic goes and what its copies look like."""
        self.rules = rules
        self.lines: dict[str, Line] = {}
        self.active: set[str] = set()
        """Posts whose line may have something to do: a transmission on it, or copies waiting."""
        self.receipts = Receipts(
            journal,
            cables,
            actions,
            ack_timeout=ack_timeout,
            receipt_timeout=receipt_timeout,
            max_resends=max_resends,
        )
        """The copies out awaiting their receipt, and their resends for want of one."""
        self.services = Services(actions, check_after, self.outlet.topic)
        """Service messages waiting for their lines, and each line's silence (§412, §424d)."""
        self.diversions = Diversions(table, divert_after)
        """Lines down, and the urgent traffic going by an alternative route meanwhile (§307)."""
        self._serials = serials
        self._journal = journal
        self._cables = cables
        self._actions = actions

    def line(self, post: str) -> Line:
        """The post's line, made on first use from its profile (its last serial from the journal)."""
        line = self.lines.get(post)
        if line is None:
            profile, designator = self.outlet.profile(post)
            line = Line(
                post,
                profile.baud,
                profile.window,
                self.rules,
                serial=self._serials.get(post, 0),
                code=profile.code or code_for(profile.baud),  # once: each copy's size asks for it
                designator=designator,
            )
            self.lines[post] = line
        return line

    def queue(self, post: str, consignment: Consignment, now: float, cause: Cause = "first") -> None:
        """Put a delivery on its post's line, or its alternative route (§307); what it busts ends at once."""
        alternate = self.diversions.wanted(post, consignment.precedence, self.lines)
        if alternate is None:
            self._put(post, post, consignment, now, cause)
            return
        # It takes its place there by precedence and arrival like the alternate's own traffic (§308d).
        self._put(alternate, post, consignment, now, "alternate" if cause == "first" else cause)
        self.diversions.went(delivery := consignment.delivery_id, post)
        self._actions.event("diverted", post=post, via=alternate, delivery=delivery)

    def _put(self, by: str, post: str, consignment: Consignment, now: float, cause: Cause) -> None:
        """Queue a copy for ``post`` on ``by``'s line: FL2 calls ``post`` either way (§308c: no pilot)."""
        line = self.line(by)
        size = self._size(post, line, consignment, cause)
        busted = line.put(consignment, size, now, cause, addressee="" if by == post else post)
        self.active.add(by)
        if busted is not None:
            self._end(by, busted, "busted", now)

    def _size(self, post: str, line: Line, consignment: Consignment, cause: Cause) -> int:
        """Characters the copy takes on the line: what it sends, framing and line ends included.

        Its heading (FL1, FL2, a pilot), the message part (worked out once per cable and code),
        ZFG when it answers a tracer, and the framing of every transmission (`FRAMING`).
        """
        head = self.outlet.heading_characters(post, line, consignment, suspect=cause in SUSPECT)
        tracer = len(f" {ZFG}") if cause == "request" else 0
        return head + self._cables.characters(consignment.cable_id, line.line_code) + tracer + FRAMING

    def due(self) -> float | None:
        """When a line's transmission ends or a receipt is due, whichever is first."""
        lines = self.lines
        dues = [due for post in self.active if (due := lines[post].due()) is not None]
        if (receipt := self.receipts.due()) is not None:
            dues.append(receipt)
        dues.extend(due for due in (self.diversions.due(), self.services.due()) if due is not None)
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
        if self.services.pending(post):
            self.services.send(post, line, now)
        started = False
        while True:
            if line.needs_refill():
                self._refill(post, line)
            transmission = line.start(now)
            if transmission is None:
                break
            started = True
            if transmission.ends > now:
                writes.append(journal_row(Transmitting, post, transmission))
                break
            line.finish(now)  # an unthrottled line: the last character is already there
            writes.append(journal_row(SentAtOnce, post, transmission))
            self._delivered(post, transmission, now)
        if started:
            self.services.heard(post, now)  # once for all it sent at ``now``
        if line.current is None:
            # Idle, down, or its window full: the next queueing, line-up or receipt wakes it.
            self.active.discard(post)

    def _refill(self, post: str, line: Line) -> None:
        """Take a backlog's next deliveries back from the journal into the line's memory."""
        held = {queued.delivery_id for queued in line.waiting} | line.in_flight.keys()
        held |= self.diversions.gone_round(post)  # out by an alternative route (§307)
        room = line.held - len(line.waiting)
        taken = []
        for consigned, since in self._journal.waiting(post, held, room):
            consignment = Consignment(*consigned)
            taken.append((consignment, self._size(post, line, consignment, "first"), since))
        line.refill(taken, exhausted=len(taken) < room)

    def end(self, post: str, transmission: Transmission, now: float) -> None:
        """A transmission cut by its line going down: its serial is spent, the copy goes again.

        It could not be cancelled before the next transmission (the line was gone): it is cancelled
        by a ZFR service message as soon as the line is back (§424d).
        """
        self._end(post, transmission, "cut", now)
        self.services.cut.setdefault(post, []).append(transmission.transmission_id)

    def service(self, post: str, text: str) -> None:
        """Send a service message to ``post`` ahead of its traffic, once its line is up and idle."""
        self.line(post)
        self.services.add(post, text)
        self.active.add(post)

    def _end(self, post: str, transmission: Transmission, outcome: Ending, now: float) -> None:
        """A transmission is over: delivered (the copy goes out), busted or cut (the serial is spent)."""
        queued = transmission.queued
        ended = Transmitted(post, transmission.serial, queued.delivery_id, outcome, now)
        self.services.heard(post, now)
        if outcome == "delivered":
            self._actions.writes.append(ended)
            self._delivered(post, transmission, now)
            return
        tid = transmission.transmission_id
        if outcome == "busted":
            # The post saw the transmission begin: the cancellation accounts for its serial.
            self._actions.send(self.outlet.topic(post), cancellation(tid))
        self._actions.writes.append(ended)
        fields = {"post": post, "delivery": queued.delivery_id, "transmission": tid}
        self._actions.event(outcome, precedence=queued.precedence.value, **fields)

    def _delivered(self, post: str, transmission: Transmission, now: float) -> None:
        """The copy's last character is at the post: it goes out, and waits for its receipt if it must."""
        queued = transmission.queued
        tid = transmission.transmission_id
        part, message_id = self._cables.get(queued.cable_id)
        if queued.cause == "request":
            part = with_tracer_instruction(part)  # a duplicate answering a tracer (§438b)
        copy = self.outlet.copy(post, tid, queued, part, suspect=queued.cause in SUSPECT)
        self._actions.send(self.outlet.topic(post), copy, self._cables.properties(queued.cable_id))
        self.receipts.expect(post, queued.delivery_id, now, needs_receipt=queued.needs_receipt)
        if (timings := self._actions.timings) is not None:
            timings.append(Timing(queued.precedence.value, now - queued.since, now - transmission.started))
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

    def check_receipts(self, now: float) -> None:
        """Copies not receipted in time go again with ZFD; too many times, to the intercept position."""
        for delivery_id, post in self.receipts.overdue(now):
            if not self._journal.is_open(delivery_id):
                self.receipts.resends.pop(delivery_id, None)
                continue
            line = self.line(post)
            if line.holds(delivery_id):
                continue  # going again already (a ZFX asked for it): its own receipt is awaited then
            line.release(delivery_id)  # the resend takes a place again when it starts
            self.active.add(post)
            owner = self.diversions.owner(delivery_id, post)  # the post it is for (§307)
            if self.receipts.resend(owner, delivery_id):
                self.again(post, delivery_id, now, "ack-timeout")
            else:
                self.diversions.settle(delivery_id, post)  # intercepted: out that way no more

    def line_up(self, post: str, now: float) -> None:
        """The line is back: copies sent before the outage and not receipted go again, with ZFD.

        The outage may have taken the copies or their receipts: a switch does not know which, so
        it sends them again as suspected duplicates (§427), freeing their places in the window;
        a post that has them files them (§428a).
        """
        line = self.line(post)
        line.up = True
        self.active.add(post)
        if self.diversions.came_up(post):  # §309: the alternative route is no longer required
            self._actions.event("alternate-route-ended", post=post, via=self.diversions.alternate(post))
        for tid in self.services.cut.pop(post, []):
            self.service(post, f"{ZFR} {tid}")  # at once, ahead of the traffic (§424d)
        for delivery_id in line.unreceipted():
            if line.holds(delivery_id) or not self._journal.is_open(delivery_id):
                continue
            line.release(delivery_id)
            self.receipts.forget(delivery_id)
            self._actions.event("retransmitted", post=post, delivery=delivery_id, cause="line-up")
            self.again(post, delivery_id, now, "line-up")

    def again(self, post: str, delivery_id: int, now: float, cause: Cause) -> None:
        """Queue a delivery again, as the journal holds it: for its own post, whichever line it went by."""
        post = self.diversions.settle(delivery_id, post)
        self.queue(post, Consignment(*self._journal.consignment(delivery_id)), now, cause)
