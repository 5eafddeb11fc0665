"""The routing service's edge: the bus, the journal's transaction and the clock around the switch's core.

The order of things for one cable is the switch's (DOMAIN: a store-and-forward switch accepts a
whole message, journals it, decides the outgoing channel for each RI): commit to the journal,
acknowledge to the broker, parse, route, journal the decision, queue on each post's line, transmit
at the line's speed (pre-empted by higher precedence), and count the post's acknowledgement. Every
cable ends routed, a duplicate, or rejected, and the journal shows which.

The decisions are the core's (`router.switch.core.Switch`), which returns them as values; this
module does them. One loop does the switching, a burst at a time (`_switch`): it takes every
message waiting, has the core handle them and run the lines in one journal transaction, applying
each decision's writes as it comes, commits, and only then acknowledges the messages to the broker
and publishes what the burst produced. A crash before the commit loses nothing (the broker sends
the messages again); a copy is never out before the journal says so. The publishes are pipelined:
their PUBACKs are awaited together, not one after another.

A journal that cannot be written (another process holding its lock, a full disk, a read-only file)
is weather, not death: the switch keeps the burst, takes nothing more, and tries it again until the
journal takes it (`router.switch.faults.Weather.written`, which says how).
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter, deque
from contextlib import suppress
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Protocol

import structlog

from router.bus import topics
from router.cable.parser import MAX_CABLE_BYTES
from router.errors import BusError, SubscriptionRefusedError
from router.log import held_lines, log_entry
from router.network.clock import Clock, ScaledClock
from router.network.line import LineRules
from router.switch.actions import Actions, Send, Timing
from router.switch.arrivals import Arrivals
from router.switch.core import Limits, Switch
from router.switch.faults import Weather
from router.switch.restart import Restart

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from structlog.typing import FilteringBoundLogger

    from router.bus.protocol import Bus, Message
    from router.journal.store import Journal
    from router.network.line import Line
    from router.routing.table import RoutingTable
    from router.switch.arrivals import Taken
    from router.switch.centre import Place
    from router.switch.faults import JournalFault

STOP_WITHIN = 2.0
"""Seconds the router's tasks have to finish once it is told to stop."""
BURST = 64
"""Messages handled in one transaction at most."""
IN_FLIGHT = 1024
"""QoS 1 publishes awaiting their PUBACK at once; beyond, the switch waits (backpressure)."""
ONE_OFF_TASKS = frozenset({"resend-after-restart"})
"""Tasks of a run that end when their work is done; the others last as long as the run."""


class Pipeline:
    """QoS 1 sends handed to the broker at once, their PUBACKs awaited together (up to `IN_FLIGHT`)."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self._unconfirmed: deque[asyncio.Future[None]] = deque()
        """Sends not yet acknowledged by the broker, oldest first."""

    async def send(self, outbox: list[Send]) -> None:
        """Send in order; past `IN_FLIGHT` unacknowledged, wait for the oldest (backpressure)."""
        unconfirmed = self._unconfirmed
        for topic, payload, qos, retain, properties in outbox:
            future = self.bus.send(topic, payload, qos=qos, retain=retain, properties=properties)
            if not future.done():
                unconfirmed.append(future)
        while len(unconfirmed) > IN_FLIGHT:
            await unconfirmed.popleft()
        while unconfirmed and unconfirmed[0].done():
            unconfirmed.popleft().result()

    async def drain(self, within: float) -> None:
        """Give the sends not yet acknowledged ``within`` seconds to be."""
        if self._unconfirmed:
            await asyncio.wait(self._unconfirmed, timeout=within)


# --- the run's tasks: the router stops with the first of them to fail


async def _until_stop_or_failure(
    tasks: set[asyncio.Task[object]], stopping: asyncio.Task[bool], log: FilteringBoundLogger
) -> set[asyncio.Task[object]]:
    """Wait for ``stop``, a task that fails, or a long-lived one that ends; say which did.

    A one-off task (the resend after a restart) that ends normally is done, not a reason to stop:
    the router goes on with the others. Whatever ends the run is logged with its reason.
    """
    pending: set[asyncio.Task[object]] = {*tasks, stopping}
    while True:
        done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        ending = {task for task in done if task is stopping or _ends_run(task, log)}
        if ending:
            return done
        tasks.difference_update(done)


def _ends_run(task: asyncio.Task[object], log: FilteringBoundLogger) -> bool:
    """Whether a finished task ends the run: a failure, or a long-lived task that stopped."""
    name = task.get_name()
    if task.cancelled():
        log.error("task-ended", task=name, reason="cancelled")
        return True
    error = task.exception()
    if error is not None:
        log.error("task-failed", task=name, reason=f"{type(error).__name__}: {error}")
        return True
    if name in ONE_OFF_TASKS:
        return False
    log.error("task-ended", task=name, reason="returned")
    return True


async def subscribe_all(
    bus: Bus, filters: Iterable[str], narrower: Mapping[str, tuple[str, ...]], log: FilteringBoundLogger
) -> None:
    """Subscribe to each filter; one the broker refuses, to each of the filters it stands for instead.

    ``narrower``: for a centre, its own posts' topics in place of a wide filter (`topics.one_by_one`):
    NATS refuses a filter wider than the user's grants. Refused without a narrower set, or refused
    those too, the error stands: the connection is retried as any other loss.
    """
    for topic in filters:
        try:
            await bus.subscribe(topic, qos=1, ahead=topics.heard_ahead(topic))
        except SubscriptionRefusedError:
            if topic not in narrower:
                raise
            for each in narrower[topic]:
                await bus.subscribe(each, qos=1, ahead=topics.heard_ahead(each))
            log.info("subscribed-one-by-one", refused=topic, filters=len(narrower[topic]))


class Figures(Protocol):
    """What is told of each burst the switch commits (`router.switch.metrics.Metrics`)."""

    def burst(self, commit_seconds: float, timings: list[Timing]) -> None:
        """The burst's commit took ``commit_seconds`` (host); ``timings``: its copies delivered."""


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
        limits: Limits | None = None,
        journal_retry_max: float = 5.0,
        centre: Place | None = None,
        figures: Figures | None = None,
    ) -> None:
        """``centre``: run as that centre of a network (`router.switch.centre`), on its topics.

        ``figures``: told of every burst, its commit time and its copies' timings (the metrics).
        """
        self.bus = bus
        self.figures = figures
        self.journal = journal
        self.clock = clock or ScaledClock()
        self.status_every = status_every
        self.ready = asyncio.Event()
        """Set once the router is subscribed and taking cables."""
        self.weather = Weather(
            journal,
            bus,
            partial(
                Actions,
                log_copies=log_copies,
                publish_log=publish_log,
                centre=centre.name if centre is not None else None,
                timings=figures is not None,
            ),
            partial(
                Switch,
                table,
                rules=rules or LineRules(),
                max_bytes=max_bytes,
                ack_timeout=ack_timeout,
                limits=limits,
                centre=centre,
            ),
            retry_max=journal_retry_max,
        )
        """The journal's weather: each unit of work committed, faults waited out, the core rebuilt."""
        self.subscriptions = topics.SUBSCRIBED if centre is None else topics.centre_subscriptions(centre.name)
        self._narrower = (
            {} if centre is None else topics.one_by_one(centre.network.served(centre.name, table.posts))
        )
        """For a wide filter the broker may refuse a centre, its own posts' topics instead."""
        """The topic filters the switch listens to: the single switch's, or its centre's."""
        self.status_topic = topics.status(centre.name if centre is not None else None)
        self._inbox: asyncio.Queue[Message] = asyncio.Queue(BURST * 8)
        self._pipeline = Pipeline(bus)
        self._wake = asyncio.Event()
        self._arrivals = Arrivals(table, max_bytes=max_bytes, wake=self._wake)
        """Messages taken and not yet acknowledged; big cables read ahead off the switch's loop."""
        self._log = structlog.get_logger("router")
        self.restart = Restart(
            journal, self.weather, self.clock, self._perform, self._wake, resend_after=resend_after
        )
        """What the switch takes up from the journal at a start or in a rebuilt core, and the resend after."""

    @property
    def switch(self) -> Switch:
        """The switch's core: rebuilt from the journal after a rolled-back burst."""
        return self.weather.switch

    @property
    def fault(self) -> JournalFault | None:
        """The journal fault being waited out, while there is one."""
        return self.weather.fault

    @property
    def lines(self) -> dict[str, Line]:
        """Every post's line that has been used."""
        return self.switch.by_post

    @property
    def counts(self) -> Counter[str]:
        """Routing-log events since the start, by name: what the status reports rates from."""
        return self.switch.actions.counts

    def depths(self) -> dict[str, dict[str, object]]:
        """Per post with traffic: waiting by precedence, in flight, the line's state and serial."""
        return self.switch.depths()

    async def run(self, stop: asyncio.Event) -> None:
        """Rebuild the lines from the journal, then take cables and receipts until ``stop``."""
        delivered = await self.weather.written(self.restart.start, stop)
        if delivered is None:  # stopped while the journal could not be written
            return
        await self._flush([])
        self._wake.set()  # the switch's first turn sends what the lines hold
        await subscribe_all(self.bus, self.subscriptions, self._narrower, self._log)
        self.ready.set()
        self.switch.actions.event(
            "listening", intake=self.subscriptions[-1], acknowledgements=topics.RECEIPTS
        )
        self._perform(self.switch.actions)
        tasks: set[asyncio.Task[object]] = {
            asyncio.create_task(self._read(), name="read"),
            asyncio.create_task(self._switch(), name="switch"),
            asyncio.create_task(self._status(), name="status"),
        }
        if delivered:
            tasks.add(asyncio.create_task(self.restart.resend_later(delivered), name="resend-after-restart"))
        stopping = asyncio.create_task(stop.wait(), name="stop")
        done = await _until_stop_or_failure(tasks, stopping, self._log)
        # Stop (or a failure): cancel everything, each task given STOP_WITHIN to go. Not a TaskGroup,
        # whose exit waits without end for a task that does not let go (a bus's message iterator
        # may only end when its connection closes, which the caller does next). What was taken is
        # journalled.
        stopping.cancel()
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks, timeout=STOP_WITHIN)
        self._arrivals.close()
        await self._pipeline.drain(STOP_WITHIN)
        for task in done - {stopping}:
            if not task.cancelled() and (error := task.exception()) is not None:
                raise error

    def _perform(self, actions: Actions) -> None:
        """Do what the core decided, but publish: journal writes now, log entries now."""
        if actions.writes:
            self.journal.apply(actions.writes)
            actions.writes.clear()
        if actions.logs:
            for event, fields, entry in actions.logs:
                log_entry(self._log, event, fields, entry)
            actions.logs.clear()

    # --- the switch: bursts of messages, one transaction each

    async def _read(self) -> None:
        """Pass every message received to the switch (the queue's bound holds the broker back)."""
        async for message in self.bus.messages():
            await self._inbox.put(message)
            self._wake.set()

    async def _switch(self) -> None:
        try:
            while True:
                messages = await self._next()
                self.counts["bursts"] += 1
                await self.weather.written(partial(self._burst, messages))
                if self.figures is not None:
                    timings = self.switch.actions.timings or []
                    self.figures.burst(self.journal.commit_seconds, timings)
                    timings.clear()
                await self._flush(messages)
        finally:
            self.restart.cancel()

    def _burst(self, messages: list[Taken], *, rebuilt: bool) -> None:
        """The burst's work, in its transaction: the messages, then the lines' turn."""
        if rebuilt:
            self.restart.restored()
        switch, clock = self.switch, self.clock
        with held_lines():  # the burst's routing log written at once, at its end
            for message, prepared in messages:
                self._perform(
                    switch.handle(
                        message.topic,
                        message.payload,
                        clock.now(),
                        retained=message.retain,
                        prepared=prepared,
                        properties=message.properties,
                        redelivered=message.redelivered,
                    )
                )
            self._perform(switch.tick(clock.now()))

    async def _next(self) -> list[Taken]:
        """The messages waiting, big cables read ahead first; none when a line or a timeout is due first.

        A big cable is not in the burst it was taken in: it is read off the loop (`Arrivals`) and
        comes in a later one, the traffic behind it going on meanwhile.
        """
        if self._inbox.empty() and not self._wake.is_set():
            await self._wait()
        self._wake.clear()
        messages = self._arrivals.ready()
        while len(messages) < BURST and not self._inbox.empty():
            taken = self._arrivals.take(self._inbox.get_nowait())
            if taken is not None:
                messages.append(taken)
        return messages

    async def _wait(self) -> None:
        """Until a message comes, something wakes the switch, or the next line or receipt is due."""
        now = self.clock.now()
        due = self.switch.due()
        if due is None:
            await self._wake.wait()
            return
        waker = asyncio.create_task(self._wake.wait())
        sleeper = asyncio.create_task(self.clock.sleep(due - now))
        try:
            await asyncio.wait({waker, sleeper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waker.cancel()
            sleeper.cancel()

    async def _flush(self, messages: list[Taken]) -> None:
        """After the commit: acknowledge what is safe, in the order it came, then send what it produced.

        The sends are pipelined: handed to the broker in order at once, their PUBACKs awaited
        together; past `IN_FLIGHT` unacknowledged, the switch waits for the oldest (backpressure).
        """
        for message in self._arrivals.committed(messages):
            await self.bus.ack(message)
        actions = self.switch.actions
        outbox, actions.sends = actions.sends, []
        await self._pipeline.send(outbox)

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
                **self.switch.status_queues(),
                "rates_per_s": rates,
                "totals": dict(now),
                "journal": {"writable": True} if self.fault is None else self.fault.status(),
            }
            with suppress(BusError):  # a lost broker is the switch's to report
                await self.bus.publish(self.status_topic, json.dumps(status).encode(), qos=0, retain=True)
            await asyncio.sleep(self.status_every)  # a timer of the host, not of the network
