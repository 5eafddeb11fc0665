"""`router demo --network`: a network of switching centres running by itself, one process a centre.

The default scenario (config/scenarios/network.toml): the five centres of config/network.toml,
each a `router run --centre NAME` process with its own journal in the run's folder, eleven posts
behind them, generated traffic filed at each cable's originating centre with a FLASH half-way,
and BELTSVILLE's trunk to DETRICK down long enough (past `divert_after`) for its FLASH and
IMMEDIATE traffic to take the doctrine's alternate (§307). All on a private broker with the
roles' logins, as `router demo` runs the single switch. At the end (the traffic delivered, or
Ctrl-C) the centres are stopped cleanly and each centre's report is written from its journal.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import AsyncExitStack, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from router.bus import topics
from router.bus.broker import free_port
from router.bus.mqtt import MqttBus
from router.bus.security import OBSERVER, OPERATOR, PUBLISHER, post_user
from router.journal.queries import read_only
from router.network.clock import ScaledClock
from router.readout.network_report import page_folder, write_network_report
from router.readout.watch import follow
from router.settings import Settings, load_settings
from router.sim.centres import CentreCommand, centre_processes
from router.sim.ledger import Accounts, Ledger, journal_accounts, plan_filing
from router.sim.post import PostStation, serve_post
from router.sim.traffic import generate
from router.switch.serve import broker_for

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from pathlib import Path

    from router.readout.watch import OnUpdate
    from router.routing.network import Network
    from router.routing.table import RoutingTable
    from router.sim.centres import CentreProcess
    from router.sim.ledger import Filed
    from router.sim.post import Reading
    from router.sim.scenario import Scenario

CLIENT_PREFIX = "demo-net"
"""The demo's own MQTT client ids: demo-net-post-<RI>, demo-net-watch, demo-net-publisher, ..."""
CENTRE_SETTINGS = {"STATUS_EVERY": "0.5", "LOG_COPIES": "true"}
"""How the demo's centres differ from `router run --centre`'s: the live view redraws twice a second,
and at a few cables a minute every copy's events are worth seeing (as `router demo`'s router)."""
DRAIN_NETWORK_SECONDS = 3600.0
"""After the traffic, network seconds the demo waits for the last copies to reach their posts."""
DRAIN_AT_LEAST = 30.0
"""... and host seconds at least: at a high time scale the host's own pace is what bounds it."""
RECEIPTS_WITHIN = 10.0
"""Host seconds the demo then waits for the centres to journal the last receipts."""


@dataclass(frozen=True, slots=True)
class NetworkDemoOptions:
    """One run of a network: the scenario, its table and centres (and their files), where it writes."""

    run: Path
    """The run's folder: a folder per centre (its journal and routing log), the broker's."""
    out: Path
    scenario: Scenario
    table: RoutingTable
    network: Network
    routing_path: Path
    network_path: Path
    time_scale: float = 60.0

    @property
    def posts(self) -> tuple[str, ...]:
        """The simulated posts: the scenario's, else every post of the table."""
        return self.scenario.posts or tuple(self.table.posts)

    def journals(self) -> dict[str, Path]:
        """Each centre's journal, in its own folder of the run."""
        return {name: self.run / name / "journal.sqlite" for name in self.network.centres}


@dataclass(slots=True)
class NetworkDemoResult:
    """Where the journals and reports are, what the posts saw, and what the centres' journals say."""

    journals: dict[str, Path]
    ledger: Ledger = field(default_factory=Ledger)
    published: int = 0
    flash: tuple[str, ...] = ()
    """The message ids of the cables forced to FLASH, once filed."""
    reports: dict[str, Path] = field(default_factory=dict)
    accounts: Accounts = field(default_factory=Accounts)
    exits: dict[str, int] = field(default_factory=dict)
    """Each centre's exit status after its SIGTERM: 0 is a clean stop."""
    stopped_early: bool = False
    settled: asyncio.Event = field(default_factory=asyncio.Event)
    """Set whenever every copy owed so far has been shown at its post."""


def network_settings(options: NetworkDemoOptions) -> dict[str, object]:
    """The demo process's own settings: its private broker (a free port, state in the run's folder)."""
    return {
        "broker": None,
        "embedded_port": free_port(),
        "broker_state": options.run / "broker",
        "journal": options.run / "broker.sqlite",  # never opened: the broker's folder is named above
        "log_file": options.run / "demo.log",
        "time_scale": options.time_scale,
    }


async def run_network_demo(
    options: NetworkDemoOptions,
    stop: asyncio.Event,
    *,
    on_event: OnUpdate | None = None,
    settings: Settings | None = None,
) -> NetworkDemoResult:
    """Run the network until its traffic has reached the posts (or the drain's bound), or ``stop``.

    ``on_event`` is fed what `router watch` shows (every centre's status and the shared log).
    """
    settings = settings or load_settings(fixed=network_settings(options))
    result = NetworkDemoResult(options.journals())
    options.run.mkdir(parents=True, exist_ok=True)
    async with broker_for(settings, options.posts) as (address, mqtt5), AsyncExitStack() as stack:

        async def connected(user: str, client_id: str, *, manual_ack: bool = False) -> MqttBus:
            bus = MqttBus(
                settings.broker_address(user), client_id=client_id, manual_ack=manual_ack, mqtt5=mqtt5
            )
            return await stack.enter_async_context(bus)

        tasks: set[asyncio.Task[None]] = set()
        # One network time: the centres' clocks and the one the traffic is dated on share an origin.
        clock = ScaledClock(settings.time_scale)
        try:
            for ri in options.posts:  # listening before any centre can send them a copy
                bus = await connected(post_user(ri), f"{CLIENT_PREFIX}-post-{ri}", manual_ack=True)
                await bus.subscribe(topics.copies(ri), qos=1)
                counted = _counter(result.ledger, ri, result.settled)
                tasks.add(asyncio.create_task(serve_post(bus, PostStation(ri), counted), name=f"post-{ri}"))
            if on_event is not None:
                watcher = await connected(OBSERVER, f"{CLIENT_PREFIX}-watch")
                tasks.add(asyncio.create_task(follow(watcher, on_event), name="watch"))
            command = CentreCommand(
                options.run,
                options.network_path,
                options.routing_path,
                str(address),
                settings.keyring.folder,
                settings.time_scale,
                clock.origin,
                CENTRE_SETTINGS,
            )
            async with centre_processes(command, options.network.centres, result.exits) as centres:
                publisher = await connected(PUBLISHER, f"{CLIENT_PREFIX}-publisher")
                operator = await connected(OPERATOR, f"{CLIENT_PREFIX}-operator")
                traffic = _Traffic(options, clock, publisher, operator, result)
                result.stopped_early = await _until_done_or_stopped(traffic, stop, centres)
        finally:
            await _cancelled(tasks)
    result.accounts = journal_accounts(result.journals)
    result.reports = write_reports(result.journals, options.out)
    return result


def write_reports(journals: Mapping[str, Path], out: Path) -> dict[str, Path]:
    """The demo's report, across the centres' journals: the network's page, then each centre's.

    ``out/index.html`` gives speed of service end to end, per trunk and per centre
    (`router.readout.network_report`); ``out/NAME/index.html`` each centre's own, with its plots.
    """
    present = {name: journal for name, journal in journals.items() if journal.exists()}
    pages = {"network": write_network_report(list(present.values()), out)}
    pages.update({name: out / page_folder(name) / "index.html" for name in present})
    return pages


async def _cancelled(tasks: set[asyncio.Task[None]]) -> None:
    """The posts and the watcher stopped; what ended one before (a lost broker) is read, not left."""
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.wait(tasks, timeout=5)
    for task in tasks:
        if task.done() and not task.cancelled():
            task.exception()


def _counter(ledger: Ledger, ri: str, settled: asyncio.Event) -> Callable[[Reading], None]:
    """What the post ``ri`` reads, counted; ``settled`` set whenever every copy owed has been shown."""

    def count(reading: Reading) -> None:
        ledger.reading(ri, reading)
        if ledger.complete:
            settled.set()

    return count


async def _until_done_or_stopped(
    traffic: _Traffic, stop: asyncio.Event, centres: Mapping[str, CentreProcess]
) -> bool:
    """Run the traffic and the drain until done, ``stop``, or a centre's end; whether it ended early."""
    running = asyncio.create_task(traffic.run(), name="traffic")
    stopping = asyncio.create_task(stop.wait(), name="stop")
    ended = {
        asyncio.create_task(centre.process.wait(), name=f"end-{name}") for name, centre in centres.items()
    }
    done, _ = await asyncio.wait({running, stopping, *ended}, return_when=asyncio.FIRST_COMPLETED)
    for task in (running, stopping, *ended):
        task.cancel()
    await asyncio.wait({running, stopping, *ended})
    if running in done and (failure := running.exception()) is not None:
        raise failure  # the traffic or a fault failed: the run is not what was asked for
    return running not in done


def _unreceipted(journals: Mapping[str, Path]) -> int:
    """Copies sent or waiting, in every centre's journal, that their post or centre has not receipted."""
    open_copies = 0
    for journal in journals.values():
        with read_only(journal) as db:
            open_copies += db.execute(
                "SELECT count(*) FROM deliveries WHERE state != 'acknowledged'"
            ).fetchone()[0]
    return open_copies


@dataclass(slots=True)
class _Traffic:
    """The scenario's traffic and faults on the demo's clock, then the drain."""

    options: NetworkDemoOptions
    clock: ScaledClock
    publisher: MqttBus
    """Files each cable at its originating centre (``centres/NAME/in/...``)."""
    operator: MqttBus
    """Takes lines and trunks down and up: the faults."""
    result: NetworkDemoResult

    async def run(self) -> None:
        start = self.clock.now()
        scenario = self.options.scenario
        planned, flash = self._planned(start)
        faults = asyncio.create_task(self._faults(start), name="faults")
        try:
            for filed in planned:
                await self._until(start + filed.offset)
                self.result.ledger.expect(filed)
                await self.publisher.publish(topics.centre_intake(filed.centre, filed.name), filed.raw, qos=1)
                self.result.published += 1
                if filed.message_id in flash:
                    self.result.flash += (filed.message_id,)
            await self._until(start + scenario.duration)
            await faults
        finally:
            faults.cancel()  # stopped early: the faults still to come are not made
        await self._drained()

    def _planned(self, start: float) -> tuple[list[Filed], frozenset[str]]:
        """The scenario's cables, each with its originating centre; the message ids forced to FLASH."""
        scenario = self.options.scenario
        count = scenario.cable_count()
        forced = sorted({min(count - 1, int(share * count)) for share in scenario.flash_at})
        cables = generate(
            self.options.table,
            count=count,
            seed=scenario.seed,
            start=datetime.fromtimestamp(start, UTC),
            rate=scenario.rate / 60,
            posts=self.options.posts,
            flash_at=forced,
        )
        planned = plan_filing(cables, self.options.table, self.options.network)
        return planned, frozenset(planned[index].message_id for index in forced)

    async def _faults(self, start: float) -> None:
        scenario = self.options.scenario
        plan = [(f.at, topics.line_control(f.line), f.state) for f in scenario.faults]
        plan += [(f.at, topics.trunk_control(*f.trunk), f.state) for f in scenario.trunk_faults]
        for at, topic, state in sorted(plan):
            await self._until(start + at)
            await self.operator.publish(topic, state.encode(), qos=1)

    async def _drained(self) -> None:
        """Until every post has shown every copy owed to it, within the drain's bound (then it says so)."""
        settled = self.result.settled
        settled.clear()
        if self.result.ledger.complete:
            return
        bound = max(DRAIN_AT_LEAST, DRAIN_NETWORK_SECONDS / self.clock.scale)
        with suppress(TimeoutError):  # what is still owed then is reported, not waited for
            async with asyncio.timeout(bound):
                await settled.wait()
        await self._receipted()

    async def _receipted(self) -> None:
        """Until every centre has journalled the receipt of every copy it sent, within `RECEIPTS_WITHIN`.

        A post's last receipt may be on its way when the post has shown the copy: waited for, the
        journals then say all that happened.
        """
        deadline = time.monotonic() + RECEIPTS_WITHIN
        while _unreceipted(self.result.journals) and time.monotonic() < deadline:  # noqa: ASYNC110 (other processes' journals)
            await asyncio.sleep(0.1)

    async def _until(self, moment: float) -> None:
        await self.clock.sleep(moment - self.clock.now())
