"""`router demo`: a scenario's network running by itself, from the broker to the speed-of-service report.

The default scenario (config/scenarios/demo.toml): five posts of the State network on lines of
different speeds (Nairobi on a 75-baud line, London with an outage), generated traffic in the real
corpus's mix with a FLASH in the middle, the router between them, every post checking its serials
and receipting, all on a private broker. At the end (the duration, or Ctrl-C) the report is written
from the journal.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from router.bus import topics
from router.bus.broker import free_port
from router.bus.mqtt import MqttBus
from router.bus.security import OBSERVER, OPERATOR, PUBLISHER, ROUTER, post_user
from router.journal.store import Journal
from router.network.clock import ScaledClock
from router.readout.plots import write_html
from router.readout.report import read_report
from router.readout.watch import follow
from router.settings import Settings, load_settings
from router.sim.ledger import PostTally
from router.sim.post import PostStation, serve_post
from router.sim.traffic import generate
from router.switch.serve import broker_for, switch_for

if TYPE_CHECKING:
    from collections.abc import Coroutine

    from router.readout.watch import OnUpdate
    from router.routing.table import RoutingTable
    from router.sim.scenario import Scenario

CLIENT_PREFIX = "demo"
"""The demo's MQTT client ids: demo-router, demo-post-<RI>, demo-watch, demo-publisher, demo-operator."""


@dataclass(frozen=True, slots=True)
class DemoOptions:
    """One demo run: the scenario and its network, and where the run writes."""

    journal: Path
    out: Path
    scenario: Scenario
    table: RoutingTable
    time_scale: float = 60.0
    drain: bool = False
    """After the traffic, run on until every copy is receipted (posts on lines that are up)."""
    broker: str | None = None

    @property
    def posts(self) -> tuple[str, ...]:
        """The simulated posts: the scenario's, else every post of the network."""
        return self.scenario.posts or tuple(self.table.posts)


@dataclass(slots=True)
class DemoResult:
    """Where the journal and the report are, and what each post saw."""

    journal: Path
    report: Path
    published: int = 0
    tallies: dict[str, PostTally] = field(default_factory=dict)
    stopped_early: bool = False


def default_paths(now: datetime | None = None) -> tuple[Path, Path]:
    """A fresh directory per run, so that no run overwrites another: demo-runs/<UTC time>/."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    run = Path("demo-runs") / stamp
    return run / "journal.sqlite", run / "report"


DEMO_SETTINGS: dict[str, object] = {
    "client_id": f"{CLIENT_PREFIX}-router",
    "status_every": 0.5,  # the live view redraws twice a second
    "log_copies": True,  # a few cables a minute: every copy's events are worth seeing
}
"""How the demo's router differs from `router run`'s, beside its own broker, journal and clock."""


def fixed_settings(options: DemoOptions) -> dict[str, object]:
    """What the demo sets itself: `DEMO_SETTINGS` and the run's own broker, journal and time scale.

    These win over config/router.toml and ROUTER_* variables (the demo is a network by itself: a
    private broker on a free port, a fresh journal and its log); the rest (line rules, receipts, cable
    size, MQTT version) come from them as for `router run`.
    """
    return {
        **DEMO_SETTINGS,
        "broker": options.broker,
        "embedded_port": free_port(),
        "journal": options.journal,
        "log_file": options.journal.with_suffix(".log"),
        "time_scale": options.time_scale,
    }


async def run_demo(
    options: DemoOptions,
    stop: asyncio.Event,
    *,
    on_event: OnUpdate | None = None,
    settings: Settings | None = None,
) -> DemoResult:
    """Run the network until the traffic is over (and drained, if asked) or ``stop`` is set.

    ``settings`` are the router's (loaded with `fixed_settings` when not given); ``on_event`` is fed what
    `router watch` shows.
    """
    settings = settings or load_settings(fixed=fixed_settings(options))
    clock = ScaledClock(settings.time_scale)
    options.journal.parent.mkdir(parents=True, exist_ok=True)
    journal = Journal(settings.journal, clock=clock.now)
    result = DemoResult(options.journal, options.out / "index.html")
    result.tallies = {ri: PostTally() for ri in options.posts}
    try:
        async with broker_for(settings, options.posts) as (address, mqtt5), AsyncExitStack() as stack:

            async def connected(client_id: str, user: str, *, manual_ack: bool = False) -> MqttBus:
                # Each client logs in as its own role: the broker holds the demo to the same rules.
                login = address if user == ROUTER else settings.broker_address(user)
                bus = MqttBus(login, client_id=client_id, manual_ack=manual_ack, mqtt5=mqtt5)
                return await stack.enter_async_context(bus)

            router_bus = await connected(settings.client_id, ROUTER, manual_ack=True)
            router = switch_for(router_bus, settings, journal, options.table, clock)
            router_stop = asyncio.Event()
            tasks = {asyncio.create_task(router.run(router_stop), name="router")}
            await asyncio.wait_for(router.ready.wait(), 10)
            for ri in options.posts:
                bus = await connected(f"{CLIENT_PREFIX}-post-{ri}", post_user(ri), manual_ack=True)
                await bus.subscribe(topics.copies(ri), qos=1)
                station = PostStation(ri)
                tasks.add(asyncio.create_task(serve_post(bus, station, result.tallies[ri].count), name=ri))
            if on_event is not None:
                watcher = await connected(f"{CLIENT_PREFIX}-watch", OBSERVER)
                tasks.add(asyncio.create_task(follow(watcher, on_event), name="watch"))
            publisher, operator = [await connected(f"{CLIENT_PREFIX}-{u}", u) for u in (PUBLISHER, OPERATOR)]
            network = _Network(options, clock, publisher, operator, result)
            failure = await _until_done_or_stopped(network.run(journal), stop, result)
            router_stop.set()
            for task in tasks:
                if task.get_name() != "router":
                    task.cancel()
            await asyncio.wait(tasks, timeout=5)
    finally:
        journal.close()
    if failure is not None:
        raise failure  # the traffic or a fault failed: the run is not what was asked for
    write_html(read_report(options.journal), options.out)
    return result


async def _until_done_or_stopped(
    traffic: Coroutine[Any, Any, None], stop: asyncio.Event, result: DemoResult
) -> BaseException | None:
    """Run the traffic until it is over or ``stop`` is set; what made it fail, if it did."""
    finished = asyncio.create_task(traffic, name="traffic")
    stopping = asyncio.create_task(stop.wait(), name="stop")
    await asyncio.wait({finished, stopping}, return_when=asyncio.FIRST_COMPLETED)
    result.stopped_early = not finished.done()
    failure = finished.exception() if finished.done() and not finished.cancelled() else None
    for task in (finished, stopping):
        task.cancel()
    return failure


@dataclass(slots=True)
class _Network:
    """The scenario's traffic and faults, on the network's clock."""

    options: DemoOptions
    clock: ScaledClock
    publisher: MqttBus
    operator: MqttBus
    """Takes lines down and up: the faults (the publisher may write only the intake)."""
    result: DemoResult

    async def run(self, journal: Journal) -> None:
        start = self.clock.now()
        faults = asyncio.create_task(self._faults(start))
        await self._traffic(start)
        await self._until(start + self.options.scenario.duration)
        await faults
        if self.options.drain:
            while _unreceipted(journal):  # noqa: ASYNC110 (another task's journal, read in place)
                await asyncio.sleep(0.1)

    async def _traffic(self, start: float) -> None:
        scenario = self.options.scenario
        count = scenario.cable_count()
        cables = generate(
            self.options.table,
            count=count,
            seed=scenario.seed,
            start=datetime.fromtimestamp(start, UTC),
            rate=scenario.rate / 60,
            posts=self.options.posts,
            flash_at=sorted({min(count - 1, int(share * count)) for share in scenario.flash_at}),
        )
        for cable in cables:
            await self._until(start + cable.offset)
            await self.publisher.publish(topics.intake(cable.name), cable.raw, qos=1)
            self.result.published += 1

    async def _faults(self, start: float) -> None:
        for fault in self.options.scenario.faults:
            await self._until(start + fault.at)
            await self.operator.publish(topics.line_control(fault.line), fault.state.encode(), qos=1)

    async def _until(self, moment: float) -> None:
        await self.clock.sleep(moment - self.clock.now())


def _unreceipted(journal: Journal) -> int:
    counts = journal.counts()
    return counts.get("deliveries_queued", 0) + counts.get("deliveries_delivered", 0)
