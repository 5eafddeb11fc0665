"""The routing service: intake off the bus, journal, route, per-post queues, delivery, acknowledgements.

The order of things for one cable is the switch's (DOMAIN: a store-and-forward switch accepts a
whole message, journals it, decides the outgoing channel for each RI): commit to the journal,
acknowledge to the broker, parse, route, journal the decision, queue, send, and count the post's
acknowledgement. Every cable ends routed, a duplicate, or rejected, and the journal shows which.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import structlog

from router.errors import CableParseError
from router.parser import MAX_CABLE_BYTES, parse_cable
from router.queues import Queued, Queues
from router.routing import decide

if TYPE_CHECKING:
    from router.bus import Bus, Message
    from router.journal import Journal, OpenDelivery
    from router.models import Cable, Precedence
    from router.table import RoutingTable

INTAKE = "cables/in/#"
ACKS = "cables/ack/+"
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
        max_bytes: int = MAX_CABLE_BYTES,
        publish_log: bool = True,
        status_every: float = 1.0,
        resend_after: float = 2.0,
    ) -> None:
        self.bus = bus
        self.journal = journal
        self.table = table
        self.max_bytes = max_bytes
        self.publish_log = publish_log
        self.status_every = status_every
        self.resend_after = resend_after
        self.counts: Counter[str] = Counter()
        """Routing-log events since the start, by name: what the status reports rates from."""
        self.queues = Queues()
        self.ready = asyncio.Event()
        self._sent_at: dict[int, float] = {}
        """Set once the router is subscribed and taking cables."""
        self._wake = asyncio.Event()
        self._log = structlog.get_logger("router")

    async def run(self, stop: asyncio.Event) -> None:
        """Rebuild the queues from the journal, then take cables and acknowledgements until ``stop``."""
        queued, sent = self._restore()
        if queued or sent:
            await self._event("restored", queued=queued, sent_unacknowledged=len(sent))
        # Cables journalled but not yet routed when the router stopped (killed between the two):
        # the broker may not send them again, so they are taken up from the journal.
        for cable_id, topic, raw in self.journal.unfinished():
            await self._event("resumed", journal_id=cable_id, topic=topic)
            await self._process(cable_id, topic, raw, time.monotonic())
        await self.bus.subscribe(ACKS, qos=1)
        await self.bus.subscribe(INTAKE, qos=1)
        self.ready.set()
        await self._event("listening", intake=INTAKE, acknowledgements=ACKS)
        tasks: set[asyncio.Task[object]] = {
            asyncio.create_task(self._intake(), name="intake"),
            asyncio.create_task(self._dispatch(), name="dispatch"),
            asyncio.create_task(self._status(), name="status"),
        }
        if sent:
            tasks.add(asyncio.create_task(self._resend_later(sent), name="resend-after-restart"))
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
        """Queue again what never went out; hold back what went out but was not acknowledged.

        Acknowledgements sent while the router was down wait at the broker in our session: the
        copies already sent go out again only if none has come by ``resend_after`` seconds.
        """
        queued, sent = 0, []
        for open_delivery in self.journal.open_deliveries():
            if open_delivery.sent:
                sent.append(open_delivery)
                continue
            self._queue(
                open_delivery.post, open_delivery.id, open_delivery.cable_id, open_delivery.precedence
            )
            queued += 1
        return queued, sent

    def _queue(self, post: str, delivery_id: int, cable_id: int, precedence: Precedence) -> None:
        self.queues.put(post, self._window(post), delivery_id, cable_id, precedence, time.monotonic())
        self._wake.set()

    async def _resend_later(self, sent: list[OpenDelivery]) -> None:
        await asyncio.sleep(self.resend_after)
        again = [d for d in sent if self.journal.is_open(d.id)]
        for delivery in again:
            self._queue(delivery.post, delivery.id, delivery.cable_id, delivery.precedence)
        await self._event("resending", deliveries=len(again), acknowledged_meanwhile=len(sent) - len(again))

    def _window(self, ri: str) -> int:
        post = self.table.posts.get(ri) or self.table.relayed_station(ri)
        return post.line.window if post is not None else self.table.defaults.line.window

    async def _intake(self) -> None:
        async for message in self.bus.messages():
            if message.topic.startswith("cables/ack/"):
                await self._acknowledged(message)
            elif message.topic.startswith("cables/in/"):
                await self._receive(message)

    async def _receive(self, message: Message) -> None:
        # The journal first, then the broker's acknowledgement: a crash between the two makes
        # the broker deliver the cable again, and the duplicate check keeps it from going twice.
        started = time.monotonic()
        cable_id = self.journal.receive(message.topic, message.payload)
        await self.bus.ack(message)
        await self._event("received", journal_id=cable_id, topic=message.topic, size=len(message.payload))
        await self._process(cable_id, message.topic, message.payload, started)

    async def _process(self, cable_id: int, topic: str, raw: bytes, started: float) -> None:
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
        await self._route(cable_id, cable, started)

    async def _route(self, cable_id: int, cable: Cable, started: float) -> None:
        decision = decide(cable, self.table)
        ids = self.journal.route(cable_id, cable.message_id, decision.deliveries, decision.intercepts)
        precedence = cable.precedence.value if cable.precedence else None
        await self._event(
            "routed",
            message_id=cable.message_id,
            precedence=precedence,
            deliveries=len(ids),
            intercepts=len(decision.intercepts),
            latency_ms=round(1000 * (time.monotonic() - started), 3),
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
            self._queue(delivery.post, delivery_id, cable_id, delivery.precedence)
            await self._event(
                "queued",
                message_id=cable.message_id,
                post=delivery.post,
                precedence=delivery.precedence.value,
            )

    async def _dispatch(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            for post, queue in list(self.queues.posts.items()):
                while queue.ready():
                    await self._send(post, queue.take())

    async def _send(self, post: str, queued: Queued) -> None:
        envelope = {
            "delivery": queued.delivery_id,
            "post": post,
            "precedence": queued.precedence.value,
            "message_id": self.journal.message_id(queued.cable_id),
            "cable": self.journal.raw(queued.cable_id).decode("utf-8", "replace"),
        }
        await self.bus.publish(OUT + post, json.dumps(envelope).encode(), qos=1)
        self.journal.sent(queued.delivery_id)
        now = time.monotonic()
        self._sent_at[queued.delivery_id] = now
        await self._event(
            "delivered",
            message_id=envelope["message_id"],
            post=post,
            precedence=queued.precedence.value,
            delivery=queued.delivery_id,
            latency_ms=round(1000 * (now - queued.since), 3),
        )

    async def _acknowledged(self, message: Message) -> None:
        await self.bus.ack(message)
        post = message.topic.rsplit("/", 1)[1]
        try:
            delivery_id = int(message.payload)
        except ValueError:
            await self._event(
                "bad-acknowledgement", post=post, payload=message.payload[:40].decode("utf-8", "replace")
            )
            return
        if self.journal.acknowledged(delivery_id, post):
            queue = self.queues.posts.get(post)
            if queue is not None and queue.done(delivery_id):
                self._wake.set()
            sent_at = self._sent_at.pop(delivery_id, None)
            latency = round(1000 * (time.monotonic() - sent_at), 3) if sent_at is not None else None
            await self._event("acknowledged", post=post, delivery=delivery_id, latency_ms=latency)

    async def _status(self) -> None:
        """Every ``status_every`` seconds, a retained `router/status`: queue depths and rates."""
        before: Counter[str] = Counter()
        while True:
            now = Counter(self.counts)
            rates = {name: round((now[name] - before[name]) / self.status_every, 2) for name in now}
            before = now
            status = {
                "at": datetime.now(UTC).isoformat(timespec="seconds"),
                "queues": self.queues.depths(),
                "rates_per_s": rates,
                "totals": dict(now),
            }
            await self.bus.publish(STATUS, json.dumps(status).encode(), qos=0, retain=True)
            await asyncio.sleep(self.status_every)  # a timer, not a wait for something

    async def _event(self, event: str, **fields: object) -> None:
        """One entry of the routing log: the journal, the structured log, and `router/log`."""
        self.counts[event] += 1
        self.journal.log(event, fields)
        self._log.info(event, **fields)
        if self.publish_log:
            await self.bus.publish(LOG, json.dumps({"event": event, **fields}, default=str).encode(), qos=0)
