"""Every post's line as the switch runs it: queueing, transmissions, copies out and their resends.

`router.network.line` decides what one line sends and when; this module keeps the lines and turns
what they do into journal rows, copies and log entries (`Actions`). The receipt every copy out
waits for is `router.switch.receipts`'s: not receipted in time, the copy goes again here with the
ZFD pilot (ACP 127 §427), or to the intercept position, which frees its place in the window, so
that a lost copy never stalls the line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, TypeVar

from router.bus import topics
from router.journal.writes import SentAtOnce, ServiceSent, Transmitted, Transmitting
from router.network.channel import (
    FRAMING,
    ZFG,
    ZFR,
    cancellation,
    heading,
    line_characters,
    service_message,
    with_tracer_instruction,
)
from router.network.line import SUSPECT, Cause, Consignment, Line, LineCode, LineRules, Transmission
from router.switch.receipts import Receipts

if TYPE_CHECKING:
    from router.cable.models import Precedence
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
        self.services: dict[str, list[str]] = {}
        """Service messages waiting for their post's line to be up and idle: their text."""
        self.cut: dict[str, list[str]] = {}
        """Transmissions cut by a line going down, per post: cancelled by ZFR when it is back (§424d)."""
        self._headings: dict[tuple[str, Precedence, bool, LineCode], int] = {}
        """Characters of a copy's heading on a line, by post, precedence, pilot and code."""
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
            line = Line(
                post,
                profile.baud,
                profile.window,
                self.rules,
                serial=self._serials.get(post, 0),
                code=profile.code,
            )
            self.lines[post] = line
        return line

    def queue(self, post: str, consignment: Consignment, now: float, cause: Cause = "first") -> None:
        """Put a delivery on its post's line; a transmission it busts ends at once."""
        line = self.line(post)
        size = self._size(post, line, consignment, cause)
        busted = line.put(consignment, size, now, cause)
        self.active.add(post)
        if busted is not None:
            self._end(post, busted, "busted", now)

    def _size(self, post: str, line: Line, consignment: Consignment, cause: Cause) -> int:
        """Characters the copy takes on the line: what it sends, framing and line ends included.

        Its heading (FL1, FL2, a pilot), the message part (worked out once per cable and code),
        ZFG when it answers a tracer, and the framing of every transmission (`FRAMING`).
        """
        code = line.line_code
        suspect = cause in SUSPECT
        key = (post, consignment.precedence, suspect, code)
        head = self._headings.get(key)
        if head is None:
            prosign = consignment.precedence.letter * 2
            head = line_characters(heading(f"{line.channel}0000", post, prosign, suspect=suspect), code)
            self._headings[key] = head
        tracer = len(f" {ZFG}") if cause == "request" else 0
        return head + self._cables.characters(consignment.cable_id, code) + tracer + FRAMING

    def due(self) -> float | None:
        """When a line's transmission ends or a receipt is due, whichever is first."""
        lines = self.lines
        dues = [due for post in self.active if (due := lines[post].due()) is not None]
        if (receipt := self.receipts.due()) is not None:
            dues.append(receipt)
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
        if self.services.get(post):
            self._send_services(post, line, now)
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
            consignment = Consignment(*consigned)
            taken.append((consignment, self._size(post, line, consignment, "first"), since))
        line.refill(taken, exhausted=len(taken) < room)

    def end(self, post: str, transmission: Transmission, now: float) -> None:
        """A transmission cut by its line going down: its serial is spent, the copy goes again.

        It could not be cancelled before the next transmission (the line was gone): it is cancelled
        by a ZFR service message as soon as the line is back (§424d).
        """
        self._end(post, transmission, "cut", now)
        self.cut.setdefault(post, []).append(transmission.transmission_id)

    def service(self, post: str, text: str) -> None:
        """Send a service message to ``post`` ahead of its traffic, once its line is up and idle."""
        self.line(post)
        self.services.setdefault(post, []).append(text)
        self.active.add(post)

    def _send_services(self, post: str, line: Line, now: float) -> None:
        """The service messages waiting for the line, each under a number of its own, before any copy.

        Sent between transmissions and taking no line time: a few dozen characters (a
        simplification of the line's timing, not of its numbering).
        """
        waiting = self.services[post]
        while waiting and (tid := line.number()) is not None:
            text = waiting.pop(0)
            payload = service_message(tid, post, text, now)
            self._actions.send(topics.copies(post), payload)
            cause = "zfr" if text.startswith(ZFR) else "duplicate"
            self._actions.writes.append(
                ServiceSent(post, line.channel, line.serial, cause, text, len(payload), now)
            )
            self._actions.event("service-message", post=post, transmission=tid, text=text)

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
        if queued.cause == "request":
            part = with_tracer_instruction(part)  # a duplicate answering a tracer (§438b)
        prosign = queued.precedence.letter * 2
        suspect = queued.cause in SUSPECT
        self._actions.send(topics.copies(post), heading(tid, post, prosign, suspect=suspect) + part)
        self.receipts.expect(post, queued.delivery_id, now, needs_receipt=queued.needs_receipt)
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
            if self.receipts.resend(post, delivery_id):
                self.again(post, delivery_id, now, "ack-timeout")

    def line_up(self, post: str, now: float) -> None:
        """The line is back: copies sent before the outage and not receipted go again, with ZFD.

        The outage may have taken the copies or their receipts: a switch does not know which, so
        it sends them again as suspected duplicates (§427), freeing their places in the window;
        a post that has them files them (§428a).
        """
        line = self.line(post)
        line.up = True
        self.active.add(post)
        for tid in self.cut.pop(post, []):
            self.service(post, f"{ZFR} {tid}")  # at once, ahead of the traffic (§424d)
        for delivery_id in line.unreceipted():
            if line.holds(delivery_id) or not self._journal.is_open(delivery_id):
                continue
            line.release(delivery_id)
            self.receipts.forget(delivery_id)
            self._actions.event("retransmitted", post=post, delivery=delivery_id, cause="line-up")
            self.again(post, delivery_id, now, "line-up")

    def again(self, post: str, delivery_id: int, now: float, cause: Cause) -> None:
        """Queue a delivery again, as the journal holds it."""
        self.queue(post, Consignment(*self._journal.consignment(delivery_id)), now, cause)
