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
journal takes it (`Router._written`, which says how).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter, deque
from contextlib import suppress
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, TypeVar

import structlog

from router.bus import topics
from router.cable.parser import MAX_CABLE_BYTES
from router.errors import BusError, JournalUnwritableError
from router.network.clock import Clock, ScaledClock
from router.network.line import LineRules
from router.switch.actions import Actions, Send
from router.switch.core import Limits, Switch
from router.switch.view import JournalView

if TYPE_CHECKING:
    from collections.abc import Callable

    from router.bus.protocol import Bus, Message
    from router.journal.reads import OpenDelivery
    from router.journal.store import Journal
    from router.network.line import Line
    from router.routing.table import RoutingTable

Done = TypeVar("Done")

STOP_WITHIN = 2.0
"""Seconds the router's tasks have to finish once it is told to stop."""
BURST = 64
"""Messages handled in one transaction at most."""
IN_FLIGHT = 1024
"""QoS 1 publishes awaiting their PUBACK at once; beyond, the switch waits (backpressure)."""
ONE_OFF_TASKS = frozenset({"resend-after-restart"})
"""Tasks of a run that end when their work is done; the others last as long as the run."""
RETRY_FIRST = 0.1
"""Host seconds the switch first waits for a journal it could not write; doubled each time up to
``journal_retry_max``."""


class Pipeline:
    """QoS 1 sends handed to the broker at once, their PUBACKs awaited together (up to `IN_FLIGHT`)."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self._unconfirmed: deque[asyncio.Future[None]] = deque()
        """Sends not yet acknowledged by the broker, oldest first."""

    async def send(self, outbox: list[Send]) -> None:
        """Send in order; past `IN_FLIGHT` unacknowledged, wait for the oldest (backpressure)."""
        unconfirmed = self._unconfirmed
        for topic, payload, qos, retain in outbox:
            future = self.bus.send(topic, payload, qos=qos, retain=retain)
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


class JournalFault:
    """A journal the switch could not write: where, why, since when, and the attempts since."""

    __slots__ = ("attempts", "path", "reason", "since")

    def __init__(self, path: str, reason: str, since: float) -> None:
        self.path = path
        self.reason = reason
        self.since = since
        """`time.monotonic()` at the first failed attempt."""
        self.attempts = 1

    def status(self) -> dict[str, object]:
        """The fault as `router/status` shows it."""
        return {
            "writable": False,
            "path": self.path,
            "reason": self.reason,
            "unwritable_s": round(time.monotonic() - self.since, 1),
            "attempts_failed": self.attempts,
        }

    def recovered(self) -> dict[str, object]:
        """The fields of the `journal-writable` event that ends it."""
        fields = self.status()
        del fields["writable"]
        return fields


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
    ) -> None:
        self.bus = bus
        self.journal = journal
        self.clock = clock or ScaledClock()
        self.status_every = status_every
        self.resend_after = resend_after
        """Host seconds a restarted router waits for receipts before sending again."""
        self.ready = asyncio.Event()
        """Set once the router is subscribed and taking cables."""
        self.journal_retry_max = journal_retry_max
        """Longest wait, host seconds, between two attempts to write a journal that would not be."""
        self.fault: JournalFault | None = None
        """The journal fault being waited out, while there is one."""
        self._actions = partial(Actions, log_copies=log_copies, publish_log=publish_log)
        self._core = partial(
            Switch,
            table,
            rules=rules or LineRules(),
            max_bytes=max_bytes,
            ack_timeout=ack_timeout,
            limits=limits,
        )
        self.switch = self._switch_from_journal(Counter())
        self._stale = False
        """The core decided more than the journal kept (a burst rolled back): rebuilt before going on."""
        self._generation = 0
        """How many times the core was rebuilt: a resend scheduled by an older core is dropped."""
        self._later: set[asyncio.Task[None]] = set()
        """Resends scheduled by a rebuild of the core: cancelled with the switch."""
        self._inbox: asyncio.Queue[Message] = asyncio.Queue(BURST * 8)
        self._pipeline = Pipeline(bus)
        self._wake = asyncio.Event()
        self._log = structlog.get_logger("router")

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
        delivered = await self._written(self._start, stop)
        if delivered is None:  # stopped while the journal could not be written
            return
        await self._flush([])
        self._wake.set()  # the switch's first turn sends what the lines hold
        for topic in topics.SUBSCRIBED:
            await self.bus.subscribe(topic, qos=1)
        self.ready.set()
        self.switch.actions.event("listening", intake=topics.INTAKE, acknowledgements=topics.RECEIPTS)
        self._perform(self.switch.actions)
        tasks: set[asyncio.Task[object]] = {
            asyncio.create_task(self._read(), name="read"),
            asyncio.create_task(self._switch(), name="switch"),
            asyncio.create_task(self._status(), name="status"),
        }
        if delivered:
            tasks.add(asyncio.create_task(self._resend_later(delivered), name="resend-after-restart"))
        stopping = asyncio.create_task(stop.wait(), name="stop")
        done = await self._until_stop_or_failure(tasks, stopping)
        # Stop (or a failure): cancel everything. Not a TaskGroup, whose exit waits without end:
        # aiomqtt's message iterator, cancelled while a message is being handed over, may only let
        # go once the connection closes, which the caller does next. What was taken is journalled.
        stopping.cancel()
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks, timeout=STOP_WITHIN)
        await self._pipeline.drain(STOP_WITHIN)
        for task in done - {stopping}:
            if not task.cancelled() and (error := task.exception()) is not None:
                raise error

    async def _until_stop_or_failure(
        self, tasks: set[asyncio.Task[object]], stopping: asyncio.Task[bool]
    ) -> set[asyncio.Task[object]]:
        """Wait for ``stop``, a task that fails, or a long-lived one that ends; say which did.

        A one-off task (the resend after a restart) that ends normally is done, not a reason to stop:
        the router goes on with the others. Whatever ends the run is logged with its reason.
        """
        pending: set[asyncio.Task[object]] = {*tasks, stopping}
        while True:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            ending = {task for task in done if task is stopping or self._ends_run(task)}
            if ending:
                return done
            tasks.difference_update(done)

    def _ends_run(self, task: asyncio.Task[object]) -> bool:
        """Whether a finished task ends the run: a failure, or a long-lived task that stopped."""
        name = task.get_name()
        if task.cancelled():
            self._log.error("task-ended", task=name, reason="cancelled")
            return True
        error = task.exception()
        if error is not None:
            self._log.error("task-failed", task=name, reason=f"{type(error).__name__}: {error}")
            return True
        if name in ONE_OFF_TASKS:
            return False
        self._log.error("task-ended", task=name, reason="returned")
        return True

    def _start(self, *, rebuilt: bool) -> list[OpenDelivery]:  # noqa: ARG002 (a start restores anyway)
        """The start's work, in its transaction: the lines from the journal, the cables not yet routed."""
        delivered = self._restore()
        # Cables journalled but not yet routed when the router stopped (killed between the
        # two): the broker may not send them again, so they are taken up from the journal.
        for cable_id, topic, raw in self.journal.unfinished():
            self._perform(self.switch.resume(cable_id, topic, raw, self.clock.now()))
        return delivered

    def _restore(self) -> list[OpenDelivery]:
        """Queue again what was never delivered; hold back what was delivered but not receipted.

        A transmission in progress when the router stopped was cut with it. Receipts sent while
        the router was down wait at the broker in our session: the copies already delivered go
        again only if none has come by ``resend_after`` seconds.
        """
        self.journal.interrupted()
        delivered = [d for d in self.journal.open_deliveries() if d.delivered]
        self._perform(self.switch.restore(self.journal.backlog(), delivered))
        return delivered

    async def _resend_later(self, delivered: list[OpenDelivery], generation: int = 0) -> None:
        """After ``resend_after``, queue again what is still not receipted; the switch sends it.

        Written as the switch's bursts are (through a journal fault too); not done if the core was
        rebuilt meanwhile (a journal fault), which scheduled its own.
        """
        await asyncio.sleep(self.resend_after)
        if generation == self._generation:
            await self._written(partial(self._resend, delivered))
            self._wake.set()

    def _resend(self, delivered: list[OpenDelivery], *, rebuilt: bool) -> None:
        """The resend's work, in its transaction; a rebuilt core's own resend supersedes it."""
        if rebuilt:
            self._restored()  # which schedules the resend of the rebuilt core
        else:
            self._perform(self.switch.resend(delivered, self.clock.now()))

    def _switch_from_journal(self, counts: Counter[str]) -> Switch:
        """A new core, its serials and ids from the journal, carrying on the routing log's ``counts``."""
        actions = self._actions()
        actions.counts = counts
        return self._core(
            JournalView(self.journal, actions.writes),
            actions,
            serials=self.journal.last_serials(),
            last_ids=self.journal.last_ids(),
        )

    def _perform(self, actions: Actions) -> None:
        """Do what the core decided, but publish: journal writes now, log entries now."""
        if actions.writes:
            self.journal.apply(actions.writes)
            actions.writes.clear()
        if actions.logs:
            for event, fields in actions.logs:
                self._log.info(event, **fields)
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
                await self._written(partial(self._burst, messages))
                await self._flush(messages)
        finally:
            for task in self._later:
                task.cancel()

    def _burst(self, messages: list[Message], *, rebuilt: bool) -> None:
        """The burst's work, in its transaction: the messages, then the lines' turn."""
        if rebuilt:
            self._restored()
        switch, clock = self.switch, self.clock
        for message in messages:
            self._perform(switch.handle(message.topic, message.payload, clock.now(), retained=message.retain))
        self._perform(switch.tick(clock.now()))

    def _restored(self) -> None:
        """A core rebuilt from the journal takes up its lines as at a start, and schedules its resend."""
        self._generation += 1  # a resend scheduled by the core thrown away is not done
        delivered = self._restore()
        if delivered:
            task = asyncio.create_task(
                self._resend_later(delivered, self._generation), name="resend-after-journal-fault"
            )
            self._later.add(task)
            task.add_done_callback(self._later.discard)

    async def _written(self, work: Callable[..., Done], stop: asyncio.Event | None = None) -> Done | None:
        """Do ``work`` in one transaction, committed; while the journal will not take it, wait and again.

        A journal fault (`JournalUnwritableError`: locked past the busy timeout, disk full,
        read-only) is weather. The transaction was rolled back, so:

        - Nothing of the burst is acknowledged or published: its messages are kept here and
          handled again, since the broker does not send an unacknowledged message again on the
          same connection. Intake stops meanwhile: the switch takes nothing more from the inbox,
          whose bound then holds the broker back (which keeps the cables: not acknowledged).
        - The core may have decided more than the journal kept (the fault came after the lock was
          taken: a full disk at the commit). Its memory (lines, serials, next ids, deadlines) is
          then ahead of the journal, and undoing decisions one by one would be a second copy of
          the core's logic. So it is thrown away and rebuilt from the journal as at a start
          (``work(rebuilt=True)`` restores), inside the next attempt's transaction: a transmission
          in progress is cut and goes again, copies delivered and not receipted go again after
          ``resend_after`` unless receipted meanwhile. A lock held by another process fails at
          ``BEGIN IMMEDIATE``, before the core decided anything: nothing to rebuild.
        - One `journal-unwritable` event (path, reason) per outage, each attempt counted
          (``journal-attempts-failed`` in the status); attempts 0.1 s apart, doubling up to
          ``journal_retry_max``, for as long as the router runs (or until ``stop``: None then);
          `journal-writable` in the transaction that commits.

        The lines do not go on meanwhile: no copy goes out before the journal says it was delivered.
        """
        delay = RETRY_FIRST
        while True:
            try:
                done = self._attempt(work)
            except JournalUnwritableError as error:
                self._unwritable(error)
            else:
                self.fault = None
                return done
            if stop is None:
                await asyncio.sleep(delay)
            else:
                with suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                if stop.is_set():
                    return None
            delay = min(delay * 2, self.journal_retry_max)

    def _attempt(self, work: Callable[..., Done]) -> Done:
        """``work`` in one transaction; the core is rebuilt first if the last attempt left it stale."""
        counts = Counter(self.counts)
        began = False
        try:
            with self.journal.transaction():
                began = True
                rebuilt = self._stale
                if rebuilt:
                    self.switch = self._switch_from_journal(self.counts)
                if self.fault is not None:
                    self.switch.actions.event("journal-writable", **self.fault.recovered())
                done = work(rebuilt=rebuilt)
        except JournalUnwritableError:
            # What the core decided is not in the journal: none of it is sent or counted. (Its log
            # entries went to the process's log as it decided, as they always do: written after
            # the commit they would stand between it and the sends, where a kill costs copies.)
            actions = self.switch.actions
            actions.writes.clear()
            actions.sends.clear()
            actions.logs.clear()
            actions.counts = counts
            self._stale = self._stale or began
            raise
        self._stale = False
        return done

    def _unwritable(self, error: JournalUnwritableError) -> None:
        """Count the failed attempt; the first of an outage is logged and published, once."""
        self.counts["journal-attempts-failed"] += 1
        if self.fault is not None:
            self.fault.attempts += 1
            self.fault.reason = error.reason  # the status says the latest
            return
        self.fault = JournalFault(error.path, error.reason, time.monotonic())
        self._log.warning("journal-unwritable", path=error.path, reason=error.reason)
        if self.switch.actions.publish_log:
            entry = json.dumps({"event": "journal-unwritable", "path": error.path, "reason": error.reason})
            with suppress(BusError):  # a lost broker is the switch's to report, at its next flush
                self.bus.send(topics.LOG, entry.encode(), qos=0)

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

    async def _flush(self, messages: list[Message]) -> None:
        """After the commit: acknowledge the burst's messages, then send what it produced.

        The sends are pipelined: handed to the broker in order at once, their PUBACKs awaited
        together; past `IN_FLIGHT` unacknowledged, the switch waits for the oldest (backpressure).
        """
        for message in messages:
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
                await self.bus.publish(topics.STATUS, json.dumps(status).encode(), qos=0, retain=True)
            await asyncio.sleep(self.status_every)  # a timer of the host, not of the network
