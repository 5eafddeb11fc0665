"""The routing service: intake off the bus, journal, route, per-post queues, delivery, acknowledgements.

The order of things for one cable is the switch's (DOMAIN: a store-and-forward switch accepts a
whole message, journals it, decides the outgoing channel for each RI): commit to the journal,
acknowledge to the broker, parse, route, journal the decision, queue on each post's line, transmit
at the line's speed (pre-empted by higher precedence), and count the post's acknowledgement. Every
cable ends routed, a duplicate, or rejected, and the journal shows which.

The pure parts are elsewhere: `router.line` decides what a line sends and when, `router.channel`
what a copy looks like; this module is their I/O: the bus, the journal and the clock.
"""

from __future__ import annotations

import asyncio
import heapq
import json
from collections import Counter
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import structlog

from router.channel import cancellation, read_acknowledgement, read_zfx, single_call
from router.clock import Clock, ScaledClock
from router.errors import CableParseError
from router.line import Cause, Consignment, Line, LineRules, Transmission
from router.parser import MAX_CABLE_BYTES, parse_cable
from router.routing import decide

if TYPE_CHECKING:
    from router.bus import Bus, Message
    from router.journal import Journal, OpenDelivery
    from router.models import Cable
    from router.table import RoutingTable

INTAKE = "cables/in/#"
ACKS = "cables/ack/+"
SERVICE = "cables/svc/+"
"""Service messages from the posts: ZFX, the serials a post never received."""
LINES = "router/line/+"
"""Line control: ``down`` or ``up`` on router/line/<RI> (`router line down RUEHFR`)."""
OUT = "cables/out/"
REJECTED = "cables/rejected"
INTERCEPTED = "cables/intercept"
LOG = "router/log"
STATUS = "router/status"
STOP_WITHIN = 2.0
"""Seconds the router's tasks have to finish once it is told to stop."""


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
        self.status_every = status_every
        self.resend_after = resend_after
        """Host seconds a restarted router waits for acknowledgements before sending again."""
        self.ack_timeout = ack_timeout
        """Network seconds a FLASH or NIACT copy waits for its acknowledgement before it goes again."""
        self.counts: Counter[str] = Counter()
        """Routing-log events since the start, by name: what the status reports rates from."""
        self.lines: dict[str, Line] = {}
        self.ready = asyncio.Event()
        """Set once the router is subscribed and taking cables."""
        self._serials = journal.last_serials()
        self._on_line: dict[str, int] = {}
        """Journal id of the transmission in progress on each post's line."""
        self._awaiting: list[tuple[float, int, str]] = []
        """(deadline, delivery id, post) of FLASH and NIACT copies waiting for acknowledgement."""
        self._wake = asyncio.Event()
        self._log = structlog.get_logger("router")

    async def run(self, stop: asyncio.Event) -> None:
        """Rebuild the lines from the journal, then take cables and acknowledgements until ``stop``."""
        queued, delivered = self._restore()
        if queued or delivered:
            await self._event("restored", queued=queued, delivered_unacknowledged=len(delivered))
        # Cables journalled but not yet routed when the router stopped (killed between the two):
        # the broker may not send them again, so they are taken up from the journal.
        for cable_id, topic, raw in self.journal.unfinished():
            await self._event("resumed", journal_id=cable_id, topic=topic)
            await self._process(cable_id, topic, raw)
        for topic in (ACKS, SERVICE, LINES, INTAKE):
            await self.bus.subscribe(topic, qos=1)
        self.ready.set()
        await self._event("listening", intake=INTAKE, acknowledgements=ACKS)
        tasks: set[asyncio.Task[object]] = {
            asyncio.create_task(self._intake(), name="intake"),
            asyncio.create_task(self._dispatch(), name="dispatch"),
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
        for task in done - {stopping}:
            if not task.cancelled() and (error := task.exception()) is not None:
                raise error

    def _restore(self) -> tuple[int, list[OpenDelivery]]:
        """Queue again what was never delivered; hold back what was delivered but not acknowledged.

        A transmission in progress when the router stopped was cut with it. Acknowledgements sent
        while the router was down wait at the broker in our session: the copies already delivered
        go again only if none has come by ``resend_after`` seconds.
        """
        self.journal.interrupted()
        queued, delivered = 0, []
        for open_delivery in self.journal.open_deliveries():
            if open_delivery.delivered:
                delivered.append(open_delivery)
                continue
            consignment = Consignment(open_delivery.id, open_delivery.cable_id, open_delivery.precedence)
            self._queue(open_delivery.post, consignment)
            queued += 1
        return queued, delivered

    def _line(self, post: str) -> Line:
        line = self.lines.get(post)
        if line is None:
            station = self.table.posts.get(post) or self.table.relayed_station(post)
            profile = station.line if station is not None else self.table.defaults.line
            line = Line(post, profile.baud, profile.window, self.rules, serial=self._serials.get(post, 0))
            self.lines[post] = line
        return line

    def _queue(
        self, post: str, consignment: Consignment, *, cause: Cause = "first", raw: bytes | None = None
    ) -> Transmission | None:
        """Put a delivery on its post's line; return the transmission it busts, if any."""
        raw = self.journal.raw(consignment.cable_id) if raw is None else raw
        size = len(single_call(raw, "XXX0000", post, consignment.precedence.letter * 2))
        busted = self._line(post).put(consignment, size, self.clock.now(), cause)
        self._wake.set()
        return busted

    async def _send_again(
        self, post: str, consignment: Consignment, cause: Cause, raw: bytes | None = None
    ) -> None:
        """Queue a delivery, and end the transmission it busts."""
        busted = self._queue(post, consignment, cause=cause, raw=raw)
        if busted is not None:
            await self._end(post, busted, "busted")

    async def _resend_later(self, delivered: list[OpenDelivery]) -> None:
        await asyncio.sleep(self.resend_after)
        again = [d for d in delivered if self.journal.is_open(d.id)]
        for delivery in again:
            await self._send_again(
                delivery.post, Consignment(delivery.id, delivery.cable_id, delivery.precedence), "restart"
            )
        await self._event(
            "resending", deliveries=len(again), acknowledged_meanwhile=len(delivered) - len(again)
        )

    async def _intake(self) -> None:
        async for message in self.bus.messages():
            topic = message.topic
            if topic.startswith("cables/ack/"):
                await self._acknowledged(message)
            elif topic.startswith("cables/in/"):
                await self._receive(message)
            elif topic.startswith("cables/svc/"):
                await self._service_message(message)
            elif topic.startswith("router/line/"):
                await self._line_control(message)

    async def _receive(self, message: Message) -> None:
        # The journal first, then the broker's acknowledgement: a crash between the two makes
        # the broker deliver the cable again, and the duplicate check keeps it from going twice.
        cable_id = self.journal.receive(message.topic, message.payload)
        await self.bus.ack(message)
        await self._event("received", journal_id=cable_id, topic=message.topic, size=len(message.payload))
        await self._process(cable_id, message.topic, message.payload)

    async def _process(self, cable_id: int, topic: str, raw: bytes) -> None:
        """Parse a journalled cable, then reject it, file it as a duplicate, or route it."""
        try:
            cable = parse_cable(raw, max_bytes=self.max_bytes)
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
            await self.bus.publish(REJECTED, json.dumps(detail).encode(), qos=1)
            await self._event("rejected", topic=topic, **detail)
            return
        original = self.journal.is_duplicate(cable.message_id)
        if original is not None:
            self.journal.mark_duplicate(cable_id, cable.message_id, original)
            await self._event(
                "duplicate", message_id=cable.message_id, journal_id=cable_id, original=original
            )
            return
        await self._route(cable_id, cable, raw)

    async def _route(self, cable_id: int, cable: Cable, raw: bytes) -> None:
        decision = decide(cable, self.table)
        ids = self.journal.route(cable_id, cable.message_id, decision.deliveries, decision.intercepts)
        precedence = cable.precedence.value if cable.precedence else None
        await self._event(
            "routed",
            message_id=cable.message_id,
            precedence=precedence,
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
            await self.bus.publish(INTERCEPTED, json.dumps(record).encode(), qos=1)
            await self._event("intercepted", **record)
        for delivery_id, delivery in zip(ids, decision.deliveries, strict=True):
            consignment = Consignment(delivery_id, cable_id, delivery.precedence)
            await self._send_again(delivery.post, consignment, "first", raw)
            await self._event(
                "queued",
                message_id=cable.message_id,
                post=delivery.post,
                precedence=delivery.precedence.value,
                delivery=delivery_id,
            )

    async def _dispatch(self) -> None:
        """Run the lines: end what has finished, start what may start, then wait for the next moment."""
        while True:
            self._wake.clear()
            now = self.clock.now()
            await self._check_acknowledgements(now)
            for post, line in list(self.lines.items()):
                await self._run_line(post, line, now)
            dues = [due for line in self.lines.values() if (due := line.due()) is not None]
            if self._awaiting:
                dues.append(self._awaiting[0][0])
            await self._wait(min(dues) - now if dues else None)

    async def _run_line(self, post: str, line: Line, now: float) -> None:
        finished = line.finish(now)
        if finished is not None:
            await self._end(post, finished, "delivered")
        while (transmission := line.start(now)) is not None:
            self._on_line[post] = self.journal.transmitting(post, transmission)
            if transmission.ends > now:
                break
            line.finish(now)  # an unthrottled line: the last character is already there
            await self._end(post, transmission, "delivered")

    async def _wait(self, seconds: float | None) -> None:
        """Until something is queued or acknowledged, or ``seconds`` of network time have passed."""
        if seconds is None:
            await self._wake.wait()
            return
        waiters = {asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(self.clock.sleep(seconds))}
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def _end(self, post: str, transmission: Transmission, outcome: str) -> None:
        """A transmission is over: delivered (publish the copy), busted or cut (the serial is spent)."""
        queued = transmission.queued
        now = self.clock.now()
        row = self._on_line.pop(post)
        tid = transmission.transmission_id
        fields = {
            "post": post,
            "delivery": queued.delivery_id,
            "transmission": tid,
            "precedence": queued.precedence.value,
        }
        if outcome == "delivered":
            # The journal first: killed before the publish, a restart finds the copy delivered but
            # not receipted and sends it again; the other way round, a copy the post already has
            # would go again under a new serial.
            self.journal.transmitted(row, queued.delivery_id, "delivered", now)
            raw = self.journal.raw(queued.cable_id)
            copy = single_call(raw, tid, post, queued.precedence.letter * 2)
            await self.bus.publish(OUT + post, copy, qos=1)
            if self.journal.needs_ack(queued.delivery_id):
                heapq.heappush(self._awaiting, (now + self.ack_timeout, queued.delivery_id, post))
            await self._event(
                "delivered",
                message_id=self.journal.message_id(queued.cable_id),
                cause=queued.cause,
                latency_s=round(now - queued.since, 3),
                **fields,
            )
            return
        if outcome == "busted":
            # The post saw the transmission begin: the cancellation accounts for its serial.
            await self.bus.publish(OUT + post, cancellation(tid), qos=1)
        self.journal.transmitted(row, queued.delivery_id, "busted" if outcome == "busted" else "cut", now)
        await self._event(outcome, **fields)

    async def _check_acknowledgements(self, now: float) -> None:
        """FLASH and NIACT copies unacknowledged past the timeout go again (DOMAIN, Precedence)."""
        while self._awaiting and self._awaiting[0][0] <= now:
            _, delivery_id, post = heapq.heappop(self._awaiting)
            if not self.journal.is_open(delivery_id):
                continue
            await self._event("retransmitted", post=post, delivery=delivery_id, cause="ack-timeout")
            await self._send_again(post, self.journal.consignment(delivery_id), "ack-timeout")

    async def _acknowledged(self, message: Message) -> None:
        await self._receipt(message)
        # After the journal: a receipt taken but not recorded comes again from the broker.
        await self.bus.ack(message)

    async def _receipt(self, message: Message) -> None:
        post = message.topic.rsplit("/", 1)[1]
        acknowledged = read_acknowledgement(message.payload)
        found = self.journal.transmission(post, *acknowledged) if acknowledged else None
        if found is None:
            await self._event(
                "bad-acknowledgement", post=post, payload=message.payload[:40].decode("utf-8", "replace")
            )
            return
        delivery_id, _ = found
        line = self._line(post)
        if line.acknowledged(delivery_id):
            self._wake.set()
        if self.journal.acknowledged(delivery_id, post):
            await self._event(
                "acknowledged", post=post, delivery=delivery_id, transmission=message.payload.decode()
            )
        else:
            # A second copy of a delivery already acknowledged: the post filed it (ZFD), not shown.
            await self._event(
                "duplicate-filed", post=post, delivery=delivery_id, transmission=message.payload.decode()
            )

    async def _service_message(self, message: Message) -> None:
        """A post reports serials it never received (ZFX): answer each from the journal."""
        post = message.topic.rsplit("/", 1)[1]
        missing = read_zfx(message.payload)
        await self._event("gap", post=post, serials=[f"{channel}{serial:04d}" for channel, serial in missing])
        await self.bus.ack(message)
        for channel, serial in missing:
            found = self.journal.transmission(post, channel, serial)
            if found is None:
                await self._event("gap-unknown", post=post, transmission=f"{channel}{serial:04d}")
                continue
            delivery_id, outcome = found
            if outcome != "delivered":
                # Busted or cut: that serial carried no message, which went (or goes) again anyway.
                await self.bus.publish(OUT + post, cancellation(f"{channel}{serial:04d}"), qos=1)
                await self._event("gap-cancelled", post=post, transmission=f"{channel}{serial:04d}")
                continue
            await self._event("retransmitted", post=post, delivery=delivery_id, cause="zfx")
            await self._send_again(post, self.journal.consignment(delivery_id), "zfx")

    async def _line_control(self, message: Message) -> None:
        """``down`` or ``up`` on router/line/<RI>: an outage begins or ends."""
        await self.bus.ack(message)
        post = message.topic.rsplit("/", 1)[1]
        command = message.payload.decode("ascii", "replace").strip().lower()
        line = self._line(post)
        if command == "down" and line.up:
            cut = line.down()
            await self._event("line-down", post=post)
            if cut is not None:
                await self._end(post, cut, "cut")
        elif command == "up" and not line.up:
            line.up = True
            await self._event("line-up", post=post, waiting=len(line.waiting))
        elif command not in {"up", "down"}:
            await self._event("bad-line-command", post=post, command=command[:20])
        self._wake.set()

    async def _status(self) -> None:
        """Every ``status_every`` seconds, a retained `router/status`: line states, queue depths, rates."""
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
            await self.bus.publish(STATUS, json.dumps(status).encode(), qos=0, retain=True)
            await asyncio.sleep(self.status_every)  # a timer of the host, not of the network

    def depths(self) -> dict[str, dict[str, object]]:
        """Per post with traffic: waiting by precedence, in flight, the line's state and serial."""
        depths: dict[str, dict[str, object]] = {}
        for post, line in sorted(self.lines.items()):
            if line.waiting or line.in_flight or not line.up:
                sending = line.current.transmission_id if line.current else None
                depths[post] = {**line.depths(), "up": line.up, "sending": sending}
        return depths

    async def _event(self, event: str, **fields: object) -> None:
        """One entry of the routing log: the journal, the structured log, and `router/log`."""
        self.counts[event] += 1
        self.journal.log(event, fields)
        self._log.info(event, **fields)
        if self.publish_log:
            await self.bus.publish(LOG, json.dumps({"event": event, **fields}, default=str).encode(), qos=0)
