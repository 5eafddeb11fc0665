"""The routing service: intake off the bus, journal, route, per-post queues, delivery, acknowledgements.

The order of things for one cable is the switch's (DOMAIN: a store-and-forward switch accepts a
whole message, journals it, decides the outgoing channel for each RI): commit to the journal,
acknowledge to the broker, parse, route, journal the decision, queue on each post's line, transmit
at the line's speed (pre-empted by higher precedence), and count the post's acknowledgement. Every
cable ends routed, a duplicate, or rejected, and the journal shows which.

The pure parts are elsewhere: `router.network.line` decides what a line sends and when,
`router.network.channel` what a
copy looks like; this module is their I/O: the bus, the journal, the clock.

One loop does the switching, a burst at a time (`_switch`): it takes every message waiting, handles
them and runs the lines in one journal transaction, commits, and only then acknowledges the
messages to the broker and publishes what the burst produced. A crash before the commit loses
nothing (the broker sends the messages again); a copy is never out before the journal says so. The
publishes are pipelined: their PUBACKs are awaited together, not one after another.
"""

from __future__ import annotations

import asyncio
import heapq
import json
from collections import Counter, deque
from contextlib import suppress
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import structlog

from router.bus import topics
from router.bus.protocol import BusError
from router.bus.topics import Kind
from router.cable.parser import MAX_CABLE_BYTES, parse_cable
from router.errors import CableParseError
from router.network.channel import (
    cancellation,
    copy_size,
    heading,
    message_part,
    read_acknowledgement,
    read_zfx,
)
from router.network.clock import Clock, ScaledClock
from router.network.line import Cause, Consignment, Line, LineRules, Transmission
from router.routing.decide import decide
from router.switch.memory import give_back_memory

if TYPE_CHECKING:
    from router.bus.protocol import Bus, Message
    from router.cable.models import Cable
    from router.journal.store import Journal, OpenDelivery
    from router.routing.table import RoutingTable

STOP_WITHIN = 2.0
"""Seconds the router's tasks have to finish once it is told to stop."""
BURST = 64
"""Messages handled in one transaction at most."""
IN_FLIGHT = 1024
"""QoS 1 publishes awaiting their PUBACK at once; beyond, the switch waits (backpressure)."""
RECENT_CABLES = 512
"""Cables kept in memory for their copies: those just routed. The rest are read from the journal."""
DETAIL_EVENTS = frozenset({"received", "queued", "delivered", "acknowledged"})
"""A cable's arrival and each copy's own events: many a cable, and their facts are in the journal's
tables, so written as events, printed and published only when `log_copies` is set."""


class Router:
    """One switch: ``await Router(bus, journal, table).run(stop)`` until ``stop`` is set."""

    def __init__(  # noqa: PLR0913 (keyword-only options)
        self,
        bus: Bus,
        journal: Journal,
        table: RoutingTable,
        *,
        clock: Clock | None = None,
        rules: LineRules | None = None,
        max_bytes: int = MAX_CABLE_BYTES,
        publish_log: bool = True,
        log_copies: bool = False,
        status_every: float = 1.0,
        resend_after: float = 2.0,
        ack_timeout: float = 300.0,
    ) -> None:
        self.bus = bus
        self.journal = journal
        self.table = table
        self.clock = clock or ScaledClock()
        self.rules = rules or LineRules()
        self.max_bytes = max_bytes
        self.publish_log = publish_log
        self.log_copies = log_copies
        """Also print and publish each copy's events (queued, delivered, acknowledged)."""
        self.status_every = status_every
        self.resend_after = resend_after
        """Host seconds a restarted router waits for receipts before sending again."""
        self.ack_timeout = ack_timeout
        """Network seconds a FLASH or NIACT copy waits for its receipt before it goes again."""
        self.counts: Counter[str] = Counter()
        """Routing-log events since the start, by name: what the status reports rates from."""
        self.lines: dict[str, Line] = {}
        self._active: set[str] = set()
        """Posts whose line may have something to do: a transmission on it, or copies waiting."""
        self.ready = asyncio.Event()
        """Set once the router is subscribed and taking cables."""
        self._serials = journal.last_serials()
        self._on_line: dict[str, int] = {}
        """Journal id of the transmission in progress on each post's line."""
        self._awaiting: list[tuple[float, int, str]] = []
        """(deadline, delivery id, post) of FLASH and NIACT copies waiting for their receipt."""
        self._inbox: asyncio.Queue[Message] = asyncio.Queue(BURST * 8)
        self._outbox: list[tuple[str, bytes, int, bool]] = []
        """What the burst being handled will publish once it is committed."""
        self._recent: dict[int, tuple[bytes, str | None]] = {}
        self._unconfirmed: deque[asyncio.Future[None]] = deque()
        """Sends not yet acknowledged by the broker, oldest first."""
        self._wake = asyncio.Event()
        self._log = structlog.get_logger("router")

    async def run(self, stop: asyncio.Event) -> None:
        """Rebuild the lines from the journal, then take cables and receipts until ``stop``."""
        with self.journal.transaction():
            delivered = self._restore()
            # Cables journalled but not yet routed when the router stopped (killed between the
            # two): the broker may not send them again, so they are taken up from the journal.
            for cable_id, topic, raw in self.journal.unfinished():
                self._event("resumed", journal_id=cable_id, topic=topic)
                self._process(cable_id, topic, raw)
        await self._flush([])
        self._wake.set()  # the switch's first turn sends what the lines hold
        for topic in topics.SUBSCRIBED:
            await self.bus.subscribe(topic, qos=1)
        self.ready.set()
        self._event("listening", intake=topics.INTAKE, acknowledgements=topics.RECEIPTS)
        tasks: set[asyncio.Task[object]] = {
            asyncio.create_task(self._read(), name="read"),
            asyncio.create_task(self._switch(), name="switch"),
            asyncio.create_task(self._status(), name="status"),
        }
        if delivered:
            tasks.add(asyncio.create_task(self._resend_later(delivered), name="resend-after-restart"))
        stopping = asyncio.create_task(stop.wait(), name="stop")
        done, _ = await asyncio.wait({*tasks, stopping}, return_when=asyncio.FIRST_COMPLETED)
        # Stop (or a failure): cancel everything. Not a TaskGroup, whose exit waits without end:
        # aiomqtt's message iterator, cancelled while a message is being handed over, may only let
        # go once the connection closes, which the caller does next. What was taken is journalled.
        stopping.cancel()
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks, timeout=STOP_WITHIN)
        if self._unconfirmed:
            await asyncio.wait(self._unconfirmed, timeout=STOP_WITHIN)
        for task in done - {stopping}:
            if not task.cancelled() and (error := task.exception()) is not None:
                raise error

    def _restore(self) -> list[OpenDelivery]:
        """Queue again what was never delivered; hold back what was delivered but not receipted.

        The never delivered are only counted per line, as a backlog left in the journal: each line
        takes its best ones back as it goes, however long the backlog. A transmission in progress
        when the router stopped was cut with it. Receipts sent while the router was down wait at
        the broker in our session: the copies already delivered go again only if none has come
        by ``resend_after`` seconds.
        """
        self.journal.interrupted()
        queued = 0
        for (post, precedence), count in self.journal.backlog().items():
            self._line(post).spilled[precedence] += count
            self._active.add(post)
            queued += count
        delivered = [d for d in self.journal.open_deliveries() if d.delivered]
        if queued or delivered:
            self._event("restored", queued=queued, delivered_unacknowledged=len(delivered))
        return delivered

    def _line(self, post: str) -> Line:
        line = self.lines.get(post)
        if line is None:
            station = self.table.posts.get(post) or self.table.relayed_station(post)
            profile = station.line if station is not None else self.table.defaults.line
            line = Line(post, profile.baud, profile.window, self.rules, serial=self._serials.get(post, 0))
            self.lines[post] = line
        return line

    def _cable(self, cable_id: int) -> tuple[bytes, str | None]:
        """What every copy of a cable carries, and its message id.

        From memory if the cable was just routed, else from the journal.
        """
        recent = self._recent.get(cable_id)
        if recent is None:
            recent = self._remember(cable_id, *self.journal.cable(cable_id))
        return recent

    def _remember(self, cable_id: int, raw: bytes, message_id: str | None) -> tuple[bytes, str | None]:
        if len(self._recent) >= RECENT_CABLES:
            del self._recent[next(iter(self._recent))]
        recent = self._recent[cable_id] = (message_part(raw), message_id)
        return recent

    def _queue(self, post: str, consignment: Consignment, cause: Cause = "first") -> None:
        """Put a delivery on its post's line; a transmission it busts ends at once."""
        part, _ = self._cable(consignment.cable_id)
        size = copy_size(post, consignment.precedence, part)
        busted = self._line(post).put(consignment, size, self.clock.now(), cause)
        self._active.add(post)
        if busted is not None:
            self._end(post, busted, "busted")

    async def _resend_later(self, delivered: list[OpenDelivery]) -> None:
        await asyncio.sleep(self.resend_after)
        with self.journal.transaction():
            again = [d for d in delivered if self.journal.is_open(d.id)]
            for delivery in again:
                consignment = Consignment(delivery.id, delivery.cable_id, delivery.precedence, delivery.niact)
                self._queue(delivery.post, consignment, "restart")
            self._event(
                "resending", deliveries=len(again), acknowledged_meanwhile=len(delivered) - len(again)
            )
        self._wake.set()

    # --- the switch: bursts of messages, one transaction each

    async def _read(self) -> None:
        """Pass every message received to the switch (the queue's bound holds the broker back)."""
        async for message in self.bus.messages():
            await self._inbox.put(message)
            self._wake.set()

    async def _switch(self) -> None:
        while True:
            messages = await self._next()
            self.counts["bursts"] += 1
            with self.journal.transaction():
                for message in messages:
                    self._handle(message)
                now = self.clock.now()
                self._check_receipts(now)
                for post in list(self._active):
                    self._run_line(post, self.lines[post], now)
            await self._flush(messages)

    async def _next(self) -> list[Message]:
        """The messages waiting (at least one), or none when a line or a timeout is due first."""
        if self._inbox.empty() and not self._wake.is_set():
            await self._wait()
        self._wake.clear()
        messages: list[Message] = []
        while len(messages) < BURST and not self._inbox.empty():
            messages.append(self._inbox.get_nowait())
        return messages

    async def _wait(self) -> None:
        """Until a message comes, something wakes the switch, or the next line or receipt is due."""
        now = self.clock.now()
        dues = [due for post in self._active if (due := self.lines[post].due()) is not None]
        if self._awaiting:
            dues.append(self._awaiting[0][0])
        if not dues:
            await self._wake.wait()
            return
        waker = asyncio.create_task(self._wake.wait())
        sleeper = asyncio.create_task(self.clock.sleep(min(dues) - now))
        try:
            await asyncio.wait({waker, sleeper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waker.cancel()
            sleeper.cancel()

    async def _flush(self, messages: list[Message]) -> None:
        """After the commit: acknowledge the burst's messages, then send what it produced.

        The sends are pipelined: handed to the broker in order at once, their PUBACKs awaited
        together; past `IN_FLIGHT` unacknowledged, the switch waits for the oldest (backpressure).
        """
        for message in messages:
            await self.bus.ack(message)
        outbox, self._outbox = self._outbox, []
        for topic, payload, qos, retain in outbox:
            future = self.bus.send(topic, payload, qos=qos, retain=retain)
            if not future.done():
                self._unconfirmed.append(future)
        while len(self._unconfirmed) > IN_FLIGHT:
            await self._unconfirmed.popleft()
        while self._unconfirmed and self._unconfirmed[0].done():
            self._unconfirmed.popleft().result()

    def _handle(self, message: Message) -> None:
        read = topics.read_topic(message.topic)
        if read is None:
            return
        kind, post = read
        if kind is Kind.CABLE:
            self._receive(message)
        elif kind is Kind.RECEIPT:
            self._receipt(post, message)
        elif kind is Kind.SERVICE:
            self._service_message(post, message)
        elif kind is Kind.LINE_CONTROL:
            self._line_control(post, message)
        else:
            self._retransmit(post, message)

    # --- cables

    def _receive(self, message: Message) -> None:
        # The journal first; the broker hears of it after the commit: a crash in between makes
        # the broker deliver the cable again, and the duplicate check keeps it from going twice.
        cable_id = self.journal.receive(message.topic, message.payload)
        self._event("received", journal_id=cable_id, topic=message.topic, size=len(message.payload))
        self._process(cable_id, message.topic, message.payload)

    def _process(self, cable_id: int, topic: str, raw: bytes) -> None:
        """Parse a journalled cable, then reject it, file it as a duplicate, or route it."""
        try:
            cable = parse_cable(raw, max_bytes=self.max_bytes, text_fields=False)
        except CableParseError as error:
            detail = {
                "line": error.line,
                "column": error.column,
                "reason": error.reason,
                "journal_id": cable_id,
            }
            if error.field:
                detail["field"] = error.field
            self.journal.reject(cable_id, detail)
            self._outbox.append((topics.REJECTED, json.dumps(detail).encode(), 1, False))
            self._event("rejected", topic=topic, **detail)
            return
        self._route(cable_id, cable, raw)

    def _route(self, cable_id: int, cable: Cable, raw: bytes) -> None:
        decision = decide(cable, self.table)
        ids = self.journal.route(
            cable_id, cable.message_id, decision.deliveries, decision.intercepts, decision.set_aside(cable)
        )
        if ids is None:
            # A message id already routed (the journal's unique index says so): not sent twice.
            original = self.journal.is_duplicate(cable.message_id)
            self.journal.mark_duplicate(cable_id, cable.message_id, original or 0)
            self._event("duplicate", message_id=cable.message_id, journal_id=cable_id, original=original)
            return
        self._remember(cable_id, raw, cable.message_id)
        self._event(
            "routed",
            message_id=cable.message_id,
            precedence=cable.precedence.value if cable.precedence else None,
            deliveries=len(ids),
            intercepts=len(decision.intercepts),
        )
        for intercept in decision.intercepts:
            record = {
                "message_id": cable.message_id,
                "journal_id": cable_id,
                "addressee": intercept.addressee,
                "reason": intercept.reason,
                "post": intercept.post,
            }
            self._outbox.append((topics.INTERCEPTED, json.dumps(record).encode(), 1, False))
            self._event("intercepted", **record)
        for delivery_id, delivery in zip(ids, decision.deliveries, strict=True):
            self._queue(
                delivery.post, Consignment(delivery_id, cable_id, delivery.precedence, delivery.niact)
            )
            self._event(
                "queued",
                message_id=cable.message_id,
                post=delivery.post,
                precedence=delivery.precedence.value,
                delivery=delivery_id,
            )

    # --- lines

    def _run_line(self, post: str, line: Line, now: float) -> None:
        finished = line.finish(now)
        if finished is not None:
            self._end(post, finished, "delivered")
        while True:
            if line.needs_refill():
                self._refill(post, line)
            transmission = line.start(now)
            if transmission is None:
                break
            if transmission.ends > now:
                self._on_line[post] = self.journal.transmitting(post, transmission)
                break
            line.finish(now)  # an unthrottled line: the last character is already there
            self.journal.sent_at_once(post, transmission)
            self._delivered(post, transmission, now)
        if line.current is None:
            # Idle, down, or its window full: the next queueing, line-up or receipt wakes it.
            self._active.discard(post)

    def _refill(self, post: str, line: Line) -> None:
        """Take a backlog's next deliveries back from the journal into the line's memory."""
        held = {queued.delivery_id for queued in line.waiting} | line.in_flight
        room = line.held - len(line.waiting)
        taken = []
        for consignment, since in self.journal.waiting(post, held, room):
            part, _ = self._cable(consignment.cable_id)
            taken.append((consignment, copy_size(post, consignment.precedence, part), since))
        line.refill(taken, exhausted=len(taken) < room)

    def _end(self, post: str, transmission: Transmission, outcome: str) -> None:
        """A transmission is over: delivered (the copy goes out), busted or cut (the serial is spent)."""
        queued = transmission.queued
        now = self.clock.now()
        row = self._on_line.pop(post)
        tid = transmission.transmission_id
        if outcome == "delivered":
            self.journal.transmitted(row, queued.delivery_id, "delivered", now)
            self._delivered(post, transmission, now)
            return
        fields = {"post": post, "delivery": queued.delivery_id, "transmission": tid}
        if outcome == "busted":
            # The post saw the transmission begin: the cancellation accounts for its serial.
            self._outbox.append((topics.copies(post), cancellation(tid), 1, False))
        self.journal.transmitted(row, queued.delivery_id, "busted" if outcome == "busted" else "cut", now)
        self._event(outcome, precedence=queued.precedence.value, **fields)

    def _delivered(self, post: str, transmission: Transmission, now: float) -> None:
        """The copy's last character is at the post: it goes out, and waits for its receipt if it must."""
        queued = transmission.queued
        tid = transmission.transmission_id
        part, message_id = self._cable(queued.cable_id)
        self._outbox.append(
            (topics.copies(post), heading(tid, post, queued.precedence.letter * 2) + part, 1, False)
        )
        if queued.needs_receipt:
            heapq.heappush(self._awaiting, (now + self.ack_timeout, queued.delivery_id, post))
        if self.log_copies:
            self._event(
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
            self.counts["delivered"] += 1

    def _check_receipts(self, now: float) -> None:
        """FLASH and NIACT copies not receipted in time go again (DOMAIN, Precedence)."""
        while self._awaiting and self._awaiting[0][0] <= now:
            _, delivery_id, post = heapq.heappop(self._awaiting)
            if not self.journal.is_open(delivery_id):
                continue
            self._event("retransmitted", post=post, delivery=delivery_id, cause="ack-timeout")
            self._queue(post, self.journal.consignment(delivery_id), "ack-timeout")

    # --- what the posts send

    def _receipt(self, post: str, message: Message) -> None:
        transmission = read_acknowledgement(message.payload)
        found = self.journal.transmission(post, *transmission) if transmission else None
        if found is None:
            payload = message.payload[:40].decode("utf-8", "replace")
            self._event("bad-acknowledgement", post=post, payload=payload)
            return
        delivery_id, _ = found
        if self._line(post).acknowledged(delivery_id):
            self._active.add(post)
        tid = message.payload.decode("ascii", "replace")
        if self.journal.acknowledged(delivery_id, post):
            self._event("acknowledged", post=post, delivery=delivery_id, transmission=tid)
        else:
            # A second copy of a delivery already receipted: the post filed it (ZFD), not shown.
            self._event("duplicate-filed", post=post, delivery=delivery_id, transmission=tid)

    def _service_message(self, post: str, message: Message) -> None:
        """A post reports serials it never received (ZFX): answer each from the journal."""
        missing = read_zfx(message.payload)
        self._event("gap", post=post, serials=[f"{channel}{serial:04d}" for channel, serial in missing])
        for channel, serial in missing:
            tid = f"{channel}{serial:04d}"
            found = self.journal.transmission(post, channel, serial)
            if found is None:
                self._event("gap-unknown", post=post, transmission=tid)
                continue
            delivery_id, outcome = found
            if outcome != "delivered":
                # Busted or cut: that serial carried no message, which went (or goes) again anyway.
                self._outbox.append((topics.copies(post), cancellation(tid), 1, False))
                self._event("gap-cancelled", post=post, transmission=tid)
                continue
            self._event("retransmitted", post=post, delivery=delivery_id, cause="zfx")
            self._queue(post, self.journal.consignment(delivery_id), "zfx")

    def _line_control(self, post: str, message: Message) -> None:
        """``down`` or ``up`` on router/line/<RI>: an outage begins or ends."""
        command = message.payload.decode("ascii", "replace").strip().lower()
        line = self._line(post)
        if command == "down" and line.up:
            cut = line.down()
            self._event("line-down", post=post)
            if cut is not None:
                self._end(post, cut, "cut")
        elif command == "up" and not line.up:
            line.up = True
            self._active.add(post)
            self._event("line-up", post=post, waiting=len(line.waiting))
        elif command not in {"up", "down"}:
            self._event("bad-line-command", post=post, command=command[:20])

    def _retransmit(self, post: str, message: Message) -> None:
        """A message id on router/retransmit/<RI>: the post's copy goes again, from the journal.

        The switch's journal copy is there for this (DOMAIN: any message can be retransmitted on
        request). A post that has the message already files the new copy as a duplicate.
        """
        message_id = message.payload.decode("ascii", "replace").strip()
        delivery_id = self.journal.copy_of(message_id, post)
        if delivery_id is None:
            self._event("bad-retransmit-request", post=post, message_id=message_id[:40])
            return
        self._event("retransmitted", post=post, delivery=delivery_id, message_id=message_id, cause="request")
        self._queue(post, self.journal.consignment(delivery_id), "request")

    # --- what the router tells

    async def _status(self) -> None:
        """Every ``status_every`` seconds, a retained `router/status`: lines, queue depths, rates."""
        before: Counter[str] = Counter()
        while True:
            now = Counter(self.counts)
            rates = {name: round((now[name] - before[name]) / self.status_every, 2) for name in now}
            before = now
            status = {
                "at": datetime.fromtimestamp(self.clock.now(), UTC).isoformat(timespec="seconds"),
                "queues": self.depths(),
                "rates_per_s": rates,
                "totals": dict(now),
            }
            with suppress(BusError):  # a lost broker is the switch's to report
                await self.bus.publish(topics.STATUS, json.dumps(status).encode(), qos=0, retain=True)
            give_back_memory()
            await asyncio.sleep(self.status_every)  # a timer of the host, not of the network

    def depths(self) -> dict[str, dict[str, object]]:
        """Per post with traffic: waiting by precedence, in flight, the line's state and serial."""
        depths: dict[str, dict[str, object]] = {}
        for post, line in sorted(self.lines.items()):
            if line.waiting or line.in_flight or not line.up:
                sending = line.current.transmission_id if line.current else None
                depths[post] = {**line.depths(), "up": line.up, "sending": sending}
        return depths

    def _event(self, event: str, **fields: object) -> None:
        """One entry of the routing log: the journal's events, the log and `router/log`.

        Each copy's own events (queued, delivered, acknowledged) are only counted unless
        `log_copies` is set: at thousands a second they would cost more than the switching, and
        the journal's deliveries and transmissions tables record each copy's times anyway.
        """
        self.counts[event] += 1
        if event in DETAIL_EVENTS and not self.log_copies:
            return  # the journal's cables, deliveries and transmissions hold these facts already
        # One JSON text for the journal's events and `router/log` alike (the name in it as well).
        entry = json.dumps({"event": event, **fields}, default=str)
        self.journal.log(event, entry)
        self._log.info(event, **fields)
        if self.publish_log:
            self._outbox.append((topics.LOG, entry.encode(), 0, False))
