"""Running the service: the broker (given, or a private one), reconnection with backoff, clean stop.

`switch_for` is the one place a `Router` is built from the settings (`router run` and `router demo`
both use it); `tune_process` is all the process-wide tuning the service does, once, from `serve`.
"""

from __future__ import annotations

import asyncio
import gc
import json
from collections import Counter
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import structlog

from router.bus import topics
from router.bus.broker import mosquitto_binary
from router.bus.mqtt import BrokerAddress, LastWill, MqttBus, reconnecting
from router.bus.security import ROUTER
from router.errors import SettingsError
from router.journal.checkpoints import checkpoints_aside
from router.journal.lease import JournalLeaseError, Lease, take_lease
from router.journal.store import Journal
from router.network.clock import ScaledClock
from router.network.line import code_for, units_per_character
from router.routing.network_description import load_network
from router.routing.table import load_table
from router.settings import private_mosquitto, private_tls
from router.switch.centre import Place
from router.switch.core import Limits
from router.switch.memory import give_back_memory
from router.switch.service import Router

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterable

    from router.bus.protocol import Bus
    from router.network.clock import Clock
    from router.routing.table import RoutingTable
    from router.settings import Settings
    from router.switch.metrics import Metrics
    from router.switch.service import Figures

log = structlog.get_logger("router")


@asynccontextmanager
async def broker_for(
    settings: Settings, posts: Iterable[str] = ()
) -> AsyncIterator[tuple[BrokerAddress, bool]]:
    """The broker, logged in as the router, and whether it speaks MQTT 5: the configured one, else our own.

    A private broker is the mosquitto binary when it is installed (`private_mosquitto`: generated
    config, a user for each role and for each of ``posts``, persistence in `broker_directory`, on
    `embedded_port`: refused if that port is taken), else amqtt in this process (MQTT 3.1.1 only,
    no persistence; the same users and grants, checked by `router.bus.fallback`).
    """
    if settings.broker:
        yield settings.broker_address(ROUTER), True
        return
    port = settings.embedded_port
    if mosquitto_binary() is not None:
        mosquitto = private_mosquitto(settings, posts)
        with mosquitto:
            log.info(
                "broker-started",
                kind="mosquitto",
                url=mosquitto.url,
                pid=mosquitto.pid,
                state=str(mosquitto.directory),
                credentials=str(settings.keyring.folder),
            )
            yield mosquitto.address(ROUTER), True
        return
    from router.bus.fallback import amqtt_broker  # noqa: PLC0415 (only when mosquitto is absent)

    keyring = settings.keyring
    async with amqtt_broker(port, keyring.users(posts), tls=private_tls(settings)) as address:
        log.info("broker-started", kind="amqtt", url=str(address), credentials=str(keyring.folder))
        yield address.logged_in(ROUTER, keyring.password(ROUTER)), False


def tune_process() -> None:
    """Tune the interpreter for a long-running switch; `serve` calls it once, nothing else does.

    What it changes, for the whole process:

    - ``gc.freeze()``: what start-up made (the routing table, the parser's indexes) lives as long as
      the process; frozen, the collector no longer walks it at every collection.
    - ``gc.set_threshold(50_000, 50, 100)``: a burst of intake makes thousands of short-lived
      objects; a higher first threshold collects after a burst, not many times during it.
    """
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


async def give_back_memory_every(period: float) -> None:
    """Every ``period`` host seconds, return the allocator's free pages to the system (`give_back_memory`).

    A burst's cables are freed at once, but glibc keeps the pages: without this the resident size
    would stay at the highest burst for good. The period is the status's (`status_every`).
    """
    while True:
        give_back_memory()
        await asyncio.sleep(period)


def switch_for(  # noqa: PLR0913 (the switch's parts)
    bus: Bus,
    settings: Settings,
    journal: Journal,
    table: RoutingTable,
    clock: Clock,
    *,
    centre: Place | None = None,
    figures: Figures | None = None,
) -> Router:
    """The switch on ``bus``, every option of it from ``settings``: the one place a `Router` is wired.

    ``centre``: the switch is that centre of a network (`settings.centre`, `centre_of`).
    """
    return Router(
        bus,
        journal,
        table,
        clock=clock,
        rules=settings.rules,
        max_bytes=settings.max_cable_bytes,
        ack_timeout=settings.ack_timeout,
        limits=Limits(
            receipt_timeout=settings.receipt_timeout,
            max_resends=settings.max_resends,
            divert_after=settings.divert_after,
            channel_check_after=settings.channel_check_after,
            max_gap_serials=settings.max_gap_serials,
            requests_burst=settings.requests_burst,
            requests_per_minute=settings.requests_per_minute,
            status_lines=settings.status_lines,
            recent_cable_bytes=settings.recent_cable_bytes,
            max_fanout_bytes=settings.max_fanout_bytes,
            max_fanout_total_bytes=settings.max_fanout_total_bytes,
        ),
        log_copies=settings.log_copies,
        status_every=settings.status_every,
        resend_after=settings.resend_after,
        publish_log=settings.publish_log,
        journal_retry_max=settings.journal_retry_max,
        figures=figures,
        **({} if centre is None else {"centre": centre}),  # the single switch's wiring as it was
    )


def centre_of(settings: Settings) -> Place | None:
    """The centre ``settings`` name in their network, read and checked; None for the single switch.

    A network that does not load is a `router.errors.TableError` naming the file and line; a centre
    it does not describe, a `router.errors.SettingsError`.
    """
    if settings.centre is None:
        return None
    network = load_network(settings.network)
    if settings.centre not in network.centres:
        known = ", ".join(sorted(network.centres))
        raise SettingsError(f"setting centre: {settings.centre} is no centre of {settings.network} ({known})")
    return Place(settings.centre, network)


def line_speeds(table: RoutingTable, time_scale: float) -> dict[str, object]:
    """What the lines will feel like, said at the start: how many posts at each speed, and the slowest.

    A newcomer's first copy waits for its line: a 3,000-character cable takes five network minutes
    at 75 baud. The log says so, with what it comes to on the host's clock at this time scale.
    """
    bauds = Counter(post.line.baud for post in table.posts.values())
    throttled = [baud for baud in bauds if baud > 0]
    said: dict[str, object] = {
        "line_speeds": {f"{baud} baud" if baud else "unthrottled": n for baud, n in sorted(bauds.items())}
    }
    if throttled:
        slowest = min(throttled)
        per_second = slowest / units_per_character(slowest, code_for(slowest))
        said["slowest_line_characters_per_host_second"] = round(per_second * time_scale, 1)
    return said


async def serve(settings: Settings, stop: asyncio.Event) -> None:
    """Run the router until ``stop``: reconnect with backoff whenever the broker goes away."""
    table = load_table(settings.routing)
    centre = centre_of(settings)
    tune_process()  # once the table is loaded: it is among what lives as long as the process
    clock = ScaledClock(settings.time_scale, settings.clock_origin)
    journal = Journal(settings.journal, clock=clock.now, busy_timeout=settings.journal_busy_timeout)
    async with AsyncExitStack() as stack:
        stack.callback(journal.close)
        if (lease := await _leased(journal, settings, stop)) is None:
            return  # told to stop while it waited for the lease
        stack.callback(lease.release)
        stack.enter_context(checkpoints_aside(journal))  # the disk's waits off the switch's loop
        if (latest := journal.latest_time()) is not None:
            clock.not_before(latest)  # a restart resumes where the journal left off, never behind it
        address, mqtt5 = await stack.enter_async_context(broker_for(settings, table.posts))
        log.info(
            "router-started",
            broker=str(address),
            journal=journal.path,
            posts=len(table.posts),
            centre=settings.centre,
            time_scale=settings.time_scale,
            network_time=datetime.fromtimestamp(clock.now(), UTC).isoformat(timespec="seconds"),
            **line_speeds(table, settings.time_scale),
        )
        metrics = await _metrics_served(settings, stack)

        def switch(bus: Bus) -> Router:
            router = switch_for(bus, settings, journal, table, clock, centre=centre, figures=metrics)
            if metrics is not None:
                metrics.router = router  # what a scrape reads, from this connection on
            return router

        memory = asyncio.create_task(give_back_memory_every(settings.status_every), name="give-back-memory")
        try:
            await _reconnecting(settings, address, mqtt5=mqtt5, stop=stop, switch=switch, metrics=metrics)
        finally:
            memory.cancel()
            await asyncio.wait({memory})
    log.info("router-stopped")


async def _leased(journal: Journal, settings: Settings, stop: asyncio.Event) -> Lease | None:
    """The journal's lease: at once, else after waiting `journal_lease_wait` for its holder to go.

    None when ``stop`` came while it waited (SIGTERM to a standby: a clean stop, not a refusal).

    A second router for the same journal (a centre's standby) refuses in one line, or waits and
    takes over when the holder dies, resuming from the journal (`router.journal.lease`).
    """
    try:
        return await take_lease(journal, 0)
    except JournalLeaseError as held:
        if settings.journal_lease_wait <= 0:
            raise
        log.info(
            "lease-waiting", journal=journal.path, holder=held.holder, seconds=settings.journal_lease_wait
        )
        try:
            lease = await take_lease(journal, settings.journal_lease_wait, stop)
        except JournalLeaseError:
            if stop.is_set():
                return None
            raise
        log.info("lease-taken", journal=journal.path)
        return lease


async def _metrics_served(settings: Settings, stack: AsyncExitStack) -> Metrics | None:
    """The metrics, served on `metrics_port` until the router stops; None when not asked for.

    A port that cannot be had is said in one line (`SettingsError`), before the switch starts.
    """
    if settings.metrics_port is None:
        return None
    from router.switch.metrics import Metrics  # noqa: PLC0415 (prometheus_client only when asked)

    metrics = Metrics()
    try:
        server = await metrics.serve(settings.metrics_host, settings.metrics_port)
    except OSError as exc:
        where = f"{settings.metrics_host}:{settings.metrics_port}"
        raise SettingsError(
            f"setting metrics_port: cannot serve metrics on {where}: {exc.strerror}"
        ) from None
    stack.push_async_callback(_closed, server)
    port = server.sockets[0].getsockname()[1]
    log.info("metrics-served", url=f"http://{settings.metrics_host}:{port}/metrics")
    return metrics


async def _closed(server: asyncio.Server) -> None:
    server.close()
    await server.wait_closed()


def offline_status(reason: str, at: float | None = None) -> bytes:
    """The retained `router/status` that says the router is gone: its Last Will, or its goodbye at a stop.

    ``at`` is the network time of a clean stop; a Last Will is written at connection, so it has none.
    """
    status: dict[str, object] = {"state": "offline", "reason": reason}
    if at is not None:
        status["at"] = datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds")
    return json.dumps(status).encode()


WILL_REASON = "the router's connection ended without a goodbye (Last Will)"
"""What a crashed or killed router's status says: the broker publishes it when the connection drops."""


async def _reconnecting(  # noqa: PLR0913 (keyword-only: the switch, and who counts the losses)
    settings: Settings,
    address: BrokerAddress,
    *,
    mqtt5: bool,
    stop: asyncio.Event,
    switch: Callable[[Bus], Router],
    metrics: Metrics | None = None,
) -> None:
    """Connect and run the switch until ``stop``; when the broker goes away, wait and connect again.

    The wait is 0.5 s, doubled after each failed attempt up to `reconnect_max`. The connection
    carries a Last Will: if the router dies, the broker makes `router/status` say it is offline; at
    a clean stop the router says so itself (a DISCONNECT discards the will).
    """

    def connect() -> MqttBus:
        return MqttBus(
            address,
            client_id=settings.client_id,
            persistent=True,
            session_expiry=settings.session_expiry,
            manual_ack=True,
            # MQTT 5 only when asked (and the broker speaks it): under 3.1.1 the session
            # lasts as the broker's persistent_client_expiration says, not session_expiry.
            mqtt5=mqtt5 and settings.mqtt_version == "5",
            will=LastWill(topics.status(settings.centre), offline_status(WILL_REASON)),
            # Copies out on a connection of their own: the intake's can hold a flood back at the
            # broker (its socket not read) while the copies' PUBACKs still come.
            sends_apart=True,
        )

    async def work(bus: MqttBus) -> None:
        router = switch(bus)
        await router.run(stop)
        await bus.publish(
            topics.status(settings.centre), offline_status("stopped", router.clock.now()), retain=True
        )
        log.info("status-offline", reason="stopped")

    await reconnecting(
        connect,
        work,
        reconnect_max=settings.reconnect_max,
        on_connected=lambda: log.info("connected", broker=str(address)),
        on_lost=lambda reason, delay: _lost(reason, delay, metrics),
        stop=stop,
    )


def _lost(reason: str, delay: float, metrics: Metrics | None) -> None:
    log.warning("broker-lost", reason=reason, retry_in_s=delay)
    if metrics is not None:
        metrics.reconnects.inc()
